"""Stock `lerobot-train --policy.type=recap_value`, then `--resume=true` from its checkpoint (subprocesses).

Runs with --policy.state_token=true, so the resumed preprocessor's state normalizer is exercised too.
"""

from __future__ import annotations

import json
import math
import re
import subprocess

import pytest
from safetensors.torch import load_file

from tests.conftest import cli_env, venv_script

pytestmark = pytest.mark.slow

STEP_LOG = re.compile(r"step:(\d+) .*?loss:([0-9.eE+-]+|nan|inf)")


def _run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout + result.stderr


def test_resume_continues_from_the_saved_step(annotated_root, tmp_path):
    out = tmp_path / "value"
    first = _run([
        venv_script("lerobot-train"),
        "--policy.type=recap_value",
        "--policy.size=tiny",
        "--policy.state_token=true",
        "--policy.device=cpu",
        "--dataset.repo_id=local/value",
        f"--dataset.root={annotated_root}",
        f"--output_dir={out}",
        "--steps=4",
        "--batch_size=4",
        "--num_workers=0",
        "--log_freq=1",
        "--save_freq=2",
        "--wandb.enable=false",
    ])
    last = out / "checkpoints" / "last"
    assert json.loads((last / "training_state" / "training_step.json").read_text())["step"] == 4
    assert [int(s) for s, _ in STEP_LOG.findall(first)] == [1, 2, 3, 4]
    saved_config = json.loads((last / "pretrained_model" / "config.json").read_text())

    resumed = _run([
        venv_script("lerobot-train"),
        "--resume=true",
        f"--config_path={last / 'pretrained_model' / 'train_config.json'}",
        "--steps=8",
    ])
    logged = STEP_LOG.findall(resumed)
    # The resumed run starts after the saved step, and its losses are finite.
    assert [int(s) for s, _ in logged] == [5, 6, 7, 8], resumed[-3000:]
    assert all(math.isfinite(float(loss)) for _, loss in logged), logged
    assert json.loads((last / "training_state" / "training_step.json").read_text())["step"] == 8
    assert (out / "checkpoints" / "000006").is_dir() and (out / "checkpoints" / "000008").is_dir()

    # The resumed checkpoint keeps the first run's held-out split and contract, and its state stats.
    config = json.loads((last / "pretrained_model" / "config.json").read_text())
    for key in ("val_episodes", "convention_version", "task_norm_length", "task_c_fail", "state_token"):
        assert config[key] == saved_config[key], key
    stats_files = list((last / "pretrained_model").glob("policy_preprocessor_step_*_normalizer_processor.safetensors"))
    assert len(stats_files) == 1
    stats = load_file(stats_files[0])
    assert stats["observation.state.mean"].shape == (6,) and float(stats["observation.state.std"].min()) > 0
