"""lerobot-recap-pipeline at its smallest settings: every stage's artifacts exist and load."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.dataset_io import read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from tests.conftest import cli_env


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "pipe"
    cmd = [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_pipeline", f"--output_dir={out}",
           "--n_demos=3", "--n_autonomous=4", "--n_corrected=2", "--value_steps=10", "--batch_size=8",
           "--sft_steps=4", "--finetune_steps=2", "--policy_batch_size=4", "--finetune_batch_size=4", "--eval_episodes=2"]
    result = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    annotated, labeled = out / "data" / "annotated", out / "data" / "labeled"
    assert load_recap_metadata(annotated).convention_version == C.CONVENTION_VERSION
    assert (out / "value" / "checkpoints" / "last" / "pretrained_model" / "model.safetensors").exists()
    labels = load_recap_metadata(labeled).labels
    assert abs(labels["positive_rates"]["autonomous"] - 0.3) < 0.05
    cols = read_frame_columns(labeled, [C.ADV_IND, C.ADVANTAGE, C.VALUE])
    assert set(cols[C.ADV_IND].tolist()) <= {C.ADV_POSITIVE, C.ADV_NEGATIVE}
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == [
        "generate", "annotate", "sft", "value", "label", "bc", "recorded", "recap",
        "eval_sft_seed1000", "eval_bc_seed1000", "eval_recorded_seed1000", "eval_recap_seed1000",
    ]
    assert list(report["evaluation"]) == ["sft", "bc", "recorded", "recap"]  # stage 2 as the reference row
    eval_command = next(s["command"] for s in report["stages"] if s["name"] == "eval_recap_seed1000")
    assert "--env.image_size=32" in eval_command  # the data's image size (generate wrote 32x32 frames)
    assert json.loads((out / "data" / "handover" / "meta" / "info.json").read_text())["features"][
        "observation.images.top"]["shape"][:2] == [32, 32]
    assert (labeled.parent / "labeled_plots" / "advantage_histogram.png").exists()
    # Stage 2 trained on the demonstrations only; the fine-tunes start from its checkpoint.
    demos = [i for i, e in load_recap_metadata(annotated).episodes.items() if e.source == C.Source.DEMO]
    sft_command = next(s["command"] for s in report["stages"] if s["name"] == "sft")
    assert f"--dataset.episodes={json.dumps(sorted(demos), separators=(',', ':'))}" in sft_command
    for variant in ("bc", "recorded", "recap"):
        checkpoint = out / variant / "checkpoints" / "last" / "pretrained_model"
        config = json.loads((checkpoint / "config.json").read_text())
        assert config["type"] == "pi06_recap"
        assert (checkpoint / "model.safetensors").exists()
    bc_config = json.loads((out / "bc/checkpoints/last/pretrained_model/config.json").read_text())
    assert bc_config["indicator_dropout"] == 1.0  # the baseline never sees the indicator
    # The evaluation: per-episode successes from lerobot-eval, with intervals that contain the rate.
    for variant, result in report["evaluation"].items():
        eval_info = json.loads((out / "eval" / f"{variant}_seed1000" / "eval_info.json").read_text())
        assert result["episodes"] == 2 == len(eval_info["per_task"][0]["metrics"]["successes"])
        assert result["ci95"][0] <= result["rate"] <= result["ci95"][1]
    assert (out / "success_rates.png").exists() and (out / "training_curves.png").exists()
    assert "Wilson" in (out / "report.md").read_text()
    assert all(0.0 <= r["progress"]["mean"] <= 1.0 for r in report["evaluation"].values())
    # A rerun skips the finished stages.
    again = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert all(s["skipped"] for s in json.loads((out / "report.json").read_text())["stages"])
