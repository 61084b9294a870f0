"""The RECAP columns reach a policy inside stock `lerobot-train`, on a fresh run and on `--resume`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.dataset_io import read_frame_columns
from lerobot_recap.data.synthetic import random_episodes
from tests.conftest import REPO_ROOT, cli_env, venv_script

PLUGINS = REPO_ROOT / "tests" / "plugins"


def _train(args: list[str], tmp_path: Path) -> None:
    env = cli_env(PYTHONPATH=f"{PLUGINS}:{REPO_ROOT}")
    result = subprocess.run(
        [venv_script("lerobot-train"), "--discover_packages_path=recap_probe", *args],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _check_trace(trace: Path, dataset: Path, expected_samples: int) -> list[dict]:
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(records) == expected_samples
    cols = read_frame_columns(dataset, ["index", C.ADV_IND, C.INTERVENTION])
    by_index = {int(i): (int(a), int(h)) for i, a, h in zip(cols["index"], cols[C.ADV_IND], cols[C.INTERVENTION], strict=True)}
    for record in records:
        assert (record[C.ADV_IND], record[C.INTERVENTION]) == by_index[record["index"]]
    return records


@pytest.mark.slow
def test_adv_ind_and_intervention_reach_the_policy_fresh_and_resumed(make_dataset, tmp_path):
    source = make_dataset("src", episodes=random_episodes(8, seed=5))
    dataset = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "annotated"), progress=False).output_root
    trace = tmp_path / "trace.jsonl"
    run_dir = tmp_path / "run"
    common = ["--policy.device=cpu", "--batch_size=8", "--num_workers=0", "--log_freq=1", "--wandb.enable=false"]
    _train(
        [
            "--policy.type=recap_probe",
            f"--policy.trace_path={trace}",
            "--dataset.repo_id=local/annotated",
            f"--dataset.root={dataset}",
            f"--output_dir={run_dir}",
            "--steps=4",
            "--save_freq=2",
            *common,
        ],
        tmp_path,
    )
    records = _check_trace(trace, dataset, expected_samples=4 * 8)
    seen = {(r[C.ADV_IND], r[C.INTERVENTION]) for r in records}
    assert (C.ADV_POSITIVE, 1) in seen and (C.ADV_NONE, 0) in seen, "the probe saw both human and autonomous frames"

    config_path = run_dir / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    _train(["--resume=true", f"--config_path={config_path}", "--steps=6", *common], tmp_path)
    _check_trace(trace, dataset, expected_samples=6 * 8)
