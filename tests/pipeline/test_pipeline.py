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
           "--n_demos=3", "--n_autonomous=4", "--n_corrected=2", "--value_steps=10", "--batch_size=8"]
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
    assert [s["name"] for s in report["stages"]] == ["generate", "annotate", "value", "label"]
    assert (labeled.parent / "labeled_plots" / "advantage_histogram.png").exists()
    # A rerun skips the finished stages.
    again = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert all(s["skipped"] for s in json.loads((out / "report.json").read_text())["stages"])
