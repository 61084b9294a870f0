"""Stock ``lerobot-train`` + ``lerobot-eval --env.type=recap_handover`` on generated data (subprocesses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.mark.slow
def test_stock_lerobot_eval_runs_a_policy_trained_on_generated_data(tiny_generated, tmp_path):
    root, _ = tiny_generated
    run_cli(
        [
            str(BIN / "lerobot-train"),
            "--dataset.repo_id=local/recap_handover",
            f"--dataset.root={root}",
            "--policy.type=act",
            "--policy.device=cpu",
            "--policy.push_to_hub=false",
            "--policy.pretrained_backbone_weights=null",
            "--policy.dim_model=32",
            "--policy.n_heads=2",
            "--policy.dim_feedforward=64",
            "--policy.n_encoder_layers=1",
            "--policy.n_decoder_layers=1",
            "--policy.chunk_size=10",
            "--policy.n_action_steps=10",
            "--policy.use_vae=false",
            "--steps=2",
            "--batch_size=2",
            "--num_workers=0",
            "--save_freq=2",
            "--env_eval_freq=0",
            "--wandb.enable=false",
            f"--output_dir={tmp_path / 'train'}",
        ],
        cwd=tmp_path,
    )
    checkpoint = tmp_path / "train/checkpoints/last/pretrained_model"
    assert (checkpoint / "config.json").exists()
    run_cli(
        [
            str(BIN / "lerobot-eval"),
            f"--policy.path={checkpoint}",
            "--policy.device=cpu",
            "--env.type=recap_handover",
            "--env.episode_length=15",
            "--eval.n_episodes=2",
            "--eval.batch_size=2",
            f"--output_dir={tmp_path / 'eval'}",
        ],
        cwd=tmp_path,
    )
    info = json.loads((tmp_path / "eval/eval_info.json").read_text())
    overall = info["overall"]
    assert overall["n_episodes"] == 2
    metrics = info["per_task"][0]["metrics"]
    assert info["per_task"][0]["task_group"] == "recap_handover"
    assert len(metrics["successes"]) == 2 and len(metrics["sum_rewards"]) == 2
    assert overall["pc_success"] == 100.0 * sum(metrics["successes"]) / 2
    assert all(Path(p).exists() for p in metrics["video_paths"])  # env.render() frames became videos
