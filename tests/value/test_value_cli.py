"""Stock CLIs as subprocesses: `lerobot-train --policy.type=recap_value`, then `lerobot-recap-label` (1 and 2 processes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.dataset_io import read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from tests.conftest import cli_env, venv_script

pytestmark = pytest.mark.slow

LABEL_MODULE = "lerobot_recap.scripts.lerobot_recap_label"


@pytest.fixture(scope="module")
def trained(annotated_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "value"
    cmd = [
        venv_script("lerobot-train"),
        "--policy.type=recap_value",
        "--policy.size=tiny",
        "--policy.device=cpu",
        "--policy.optimizer_lr=3e-3",
        # Two-hot targets: the cross-entropy's floor is 0, so the relative drop below measures the fit (the tiny
        # default's Gaussian targets have a floor near 2 nats; test_value_learning checks those).
        "--policy.target_sigma_bins=0",
        "--policy.scheduler_warmup_steps=0",
        # A constant learning rate: the cosine decay, squeezed into 40 steps, leaves the last ones almost no step size.
        "--policy.scheduler_decay_lr=3e-3",
        "--policy.image_augmentation=false",
        "--policy.head_dropout=0",
        "--policy.metrics_log_freq=20",
        "--dataset.repo_id=local/value",
        f"--dataset.root={annotated_root}",
        f"--output_dir={out}",
        "--steps=40",
        "--batch_size=16",
        "--num_workers=0",
        "--log_freq=10",
        "--save_freq=40",
        "--wandb.enable=false",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out, result.stdout + result.stderr


def test_stock_lerobot_train_overfits_the_value_model(trained, annotated_root):
    out, log = trained
    losses = [float(x) for x in re.findall(r"step:\d+ .*?loss:([0-9.]+)", log)]
    assert len(losses) == 4, log[-3000:]
    assert losses[-1] < 0.85 * losses[0], losses
    # The policy logged held-out metrics through LeRobot's logger.
    assert re.search(r"recap_value metrics .*val: frames=\d+ mae=", log), log[-3000:]
    config = json.loads((out / "checkpoints" / "last" / "pretrained_model" / "config.json").read_text())
    meta = load_recap_metadata(annotated_root)
    assert config["type"] == "recap_value" and config["convention_version"] == meta.convention_version
    assert config["task_norm_length"] == {c.task: c.norm_length for c in meta.tasks.values()}


def test_label_cli_on_the_trained_checkpoint(trained, annotated_root, tmp_path):
    out, _ = trained
    cmd = [sys.executable, "-m", LABEL_MODULE, f"--root={annotated_root}", f"--value_path={out}",
           f"--output_root={tmp_path / 'labeled'}", "--num_workers=1", "--batch_size=16", "--n_steps=10"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "frames/s" in result.stderr and "waiting for data" in result.stderr
    labels = load_recap_metadata(tmp_path / "labeled").labels
    assert labels["n_steps"] == 10 and labels["value_model"]["resolved"].endswith("pretrained_model")
    assert (tmp_path / "labeled_plots" / "episode_curves.png").exists()

    # Bad input: a clear message and exit code 2, no traceback, nothing written.
    raw = annotated_root.parent / "raw"
    bad = subprocess.run(
        [sys.executable, "-m", LABEL_MODULE, f"--root={raw}", f"--value_path={out}", f"--output_root={tmp_path / 'bad'}"],
        capture_output=True, text=True, env=cli_env(), timeout=600,
    )
    assert bad.returncode == 2 and "lerobot-recap-annotate" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
    # A bad option is reported the same way (draccus wraps the config's own error).
    no_model = subprocess.run(
        [sys.executable, "-m", LABEL_MODULE, f"--root={annotated_root}", f"--output_root={tmp_path / 'bad'}"],
        capture_output=True, text=True, env=cli_env(), timeout=600,
    )
    assert no_model.returncode == 2 and "--value_path" in no_model.stderr and "Traceback" not in no_model.stderr


def test_label_sharded_over_two_processes_matches_one(trained, annotated_root, tmp_path):
    out, _ = trained
    common = [f"--root={annotated_root}", f"--value_path={out}", "--num_workers=0", "--batch_size=8",
              "--plots=false", "--device=cpu"]
    single = subprocess.run([sys.executable, "-m", LABEL_MODULE, *common, f"--output_root={tmp_path / 'one'}"],
                            capture_output=True, text=True, env=cli_env(), timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    # accelerate's Accelerator shards the frames under any torch.distributed launcher (accelerate launch = torchrun).
    sharded = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", LABEL_MODULE, *common,
         f"--output_root={tmp_path / 'two'}"],
        capture_output=True, text=True, env=cli_env(), timeout=600,
    )
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert "2 process(es)" in sharded.stderr
    names = [C.VALUE, C.ADVANTAGE, C.ADV_IND]
    a, b = read_frame_columns(tmp_path / "one", names), read_frame_columns(tmp_path / "two", names)
    np.testing.assert_allclose(a[C.VALUE], b[C.VALUE], atol=1e-6)
    np.testing.assert_array_equal(a[C.ADV_IND], b[C.ADV_IND])
