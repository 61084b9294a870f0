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
@pytest.mark.timeout(2700)  # about 30 stages, each a fresh process that imports LeRobot
def test_pipeline_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "pipe"
    cmd = [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_pipeline", f"--output_dir={out}",
           "--n_demos=3", "--n_rollouts=4", "--collect_batch_size=2", "--iterations=2", "--value_steps=10",
           "--batch_size=8", "--sft_steps=4", "--finetune_steps=2", "--policy_batch_size=4", "--finetune_batch_size=4",
           "--eval_episodes=2"]
    result = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = out / "data"
    report = json.loads((out / "report.json").read_text())
    round_stages = ["collect", "annotate_collect", "merge", "annotate_merged", "value", "label"]
    stages = [s["name"] for s in report["stages"]]  # in the order they finished: two ran at a time
    assert sorted(stages) == sorted([
        "generate", "annotate", "sft", "eval_sft_seed1000", *round_stages,
        "bc", "eval_bc_seed1000", "recorded", "eval_recorded_seed1000", "rabc", "eval_rabc_seed1000",
        "recap", "eval_recap_seed1000", *[f"{name}_it2" for name in round_stages], "recap_it2", "eval_recap_it2_seed1000",
    ])
    finished = {name: i for i, name in enumerate(stages)}
    for before, after in [("generate", "annotate"), ("annotate", "sft"), ("sft", "eval_sft_seed1000"),
                          *zip(["sft", *round_stages], round_stages), ("annotate_merged", "bc"),
                          ("annotate_merged", "recorded"), ("label", "rabc"), ("label", "recap"),
                          ("recap", "collect_it2"), ("label_it2", "recap_it2"), ("recap_it2", "eval_recap_it2_seed1000")]:
        assert finished[before] < finished[after], (before, after, stages)
    assert list(report["evaluation"]) == ["sft", "bc", "recorded", "rabc", "recap", "recap_it2"]

    # Stage 2 trained on the demonstrations only, the only episodes of the generated data.
    demos = load_recap_metadata(data / "annotated").episodes
    assert len(demos) == 3 and all(e.source == C.Source.DEMO for e in demos.values())
    # Round 1 was driven by the stage-2 policy, round 2 by iteration 1's RECAP policy; each is merged with the data
    # before it and annotated once, so the last labels cover the demos and both rounds.
    collect = {s["name"]: s["command"] for s in report["stages"] if s["name"].startswith("collect")}
    assert f"--policy.path={out / 'sft/checkpoints/last/pretrained_model'}" in collect["collect"]
    assert f"--policy.path={out / 'recap/checkpoints/last/pretrained_model'}" in collect["collect_it2"]
    assert list(report["rounds"]) == ["collect", "collect_it2"]
    final = data / "merged_it2_annotated"
    assert len(load_recap_metadata(final).episodes) == 3 + 4 + 4
    assert load_recap_metadata(final).convention_version == C.CONVENTION_VERSION
    assert {e.source for e in load_recap_metadata(data / "collect").episodes.values()} <= set(C.Source) - {C.Source.DEMO}
    labeled = data / "labeled_it2"
    labels = load_recap_metadata(labeled).labels
    assert abs(labels["positive_rates"]["autonomous"] - 0.3) < 0.1
    cols = read_frame_columns(labeled, [C.ADV_IND, C.ADVANTAGE, C.VALUE])
    assert set(cols[C.ADV_IND].tolist()) <= {C.ADV_POSITIVE, C.ADV_NEGATIVE}
    assert (labeled / "sarm_progress.parquet").exists()
    assert (data / "labeled_plots" / "episode_curves.png").exists()

    # The fine-tunes of iteration 1 start from stage 2 on the same merged data; RECAP of iteration 2 from RECAP.
    commands = {s["name"]: s["command"] for s in report["stages"]}
    sft = f"--policy.path={out / 'sft/checkpoints/last/pretrained_model'}"
    for variant, dataset in (("bc", "merged_annotated"), ("recorded", "merged_annotated"), ("rabc", "labeled"),
                             ("recap", "labeled")):
        assert sft in commands[variant] and f"--dataset.root={data / dataset}" in commands[variant]
        config = json.loads((out / variant / "checkpoints/last/pretrained_model/config.json").read_text())
        assert config["type"] == "pi06_recap"
    assert "--sample_weighting.type=rabc" in commands["rabc"]
    assert f"--policy.path={out / 'recap/checkpoints/last/pretrained_model'}" in commands["recap_it2"]
    for baseline in ("bc", "rabc"):
        config = json.loads((out / baseline / "checkpoints/last/pretrained_model/config.json").read_text())
        assert config["indicator_dropout"] == 1.0 and config["inference_advantage"] == "none"
    assert "--env.image_size=32" in commands["eval_recap_seed1000"]  # the data's image size

    # The evaluation: per-episode successes from lerobot-eval, with intervals that contain the rate.
    for variant, result in report["evaluation"].items():
        eval_info = json.loads((out / "eval" / f"{variant}_seed1000" / "eval_info.json").read_text())
        assert result["episodes"] == 2 == len(eval_info["per_task"][0]["metrics"]["successes"])
        assert result["ci95"][0] <= result["rate"] <= result["ci95"][1]
        assert 0.0 <= result["progress"]["mean"] <= 1.0
    for plot in ("success_rates.png", "training_curves.png", "success_per_iteration.png"):
        assert (out / plot).exists()
    markdown = (out / "report.md").read_text()
    assert "Wilson" in markdown and "| collect_it2 | 4 |" in markdown
    # A rerun skips the finished stages.
    again = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert all(s["skipped"] for s in json.loads((out / "report.json").read_text())["stages"])
