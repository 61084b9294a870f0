"""examples/stage0_*.sh and examples/eval_robot.sh: strict bash, and the command lines they build parse in LeRobot.

Each script runs with a stub of the stock CLI first on PATH that writes down its arguments; those arguments are then
parsed as lerobot-record / lerobot-rollout parse them (draccus, with every config's own checks), without hardware.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import draccus
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STAGE0 = ["stage0_yam.sh", "stage0_so101.sh", "stage0_sim_dryrun.sh"]


def captured_args(tmp_path: Path, script: str, cli: str, **env: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / cli
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\0" "$@" > "$ARGS_OUT"\n')
    stub.chmod(0o755)
    out = tmp_path / f"{script}.args"
    run_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ARGS_OUT": str(out), **env}
    proc = subprocess.run(["bash", str(EXAMPLES / script)], env=run_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return out.read_text().split("\0")[:-1]


@pytest.mark.parametrize("script", [*STAGE0, "eval_robot.sh"])
def test_script_is_bash_clean_and_strict(script):
    path = EXAMPLES / script
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    assert "set -euo pipefail" in path.read_text() and os.access(path, os.X_OK)


@pytest.mark.parametrize("script", STAGE0)
def test_stage0_command_lines_parse_in_lerobot_record(script, tmp_path):
    from lerobot.scripts.lerobot_record import RecordConfig

    args = captured_args(tmp_path, script, "lerobot-record", CKPT=str(tmp_path / "ckpt"), ROOT=str(tmp_path / "ds"))
    cfg = draccus.parse(config_class=RecordConfig, args=args)
    assert cfg.robot.type == "recap_observed" and cfg.teleop.type == "recap_dagger"
    assert cfg.teleop.policy_path == str(tmp_path / "ckpt") and cfg.teleop.leader is not None
    assert cfg.dataset.no_stamp and not cfg.dataset.repo_id.split("/")[-1].startswith("eval_")


@pytest.mark.parametrize("backend", ["can", "sim"])
def test_eval_command_line_parses_in_lerobot_rollout(backend, tmp_path, monkeypatch, tiny_pi06_checkpoint):
    from lerobot.configs.parser import filter_path_args
    from lerobot.rollout.configs import EpisodicStrategyConfig, RolloutConfig

    env = {"BACKEND": backend, "CKPT": str(tiny_pi06_checkpoint), "ROOT": str(tmp_path / "eval"), "STAMP": "t0"}
    if backend == "can":
        env.update(TOP_SERIAL="111", LEFT_WRIST_SERIAL="222", RIGHT_WRIST_SERIAL="333")
    args = captured_args(tmp_path, "eval_robot.sh", "lerobot-rollout", **env)
    # lerobot-rollout reads --policy.path from the command line itself (RolloutConfig.__post_init__).
    monkeypatch.setattr(sys, "argv", ["lerobot-rollout", *args])
    cfg = draccus.parse(config_class=RolloutConfig, args=filter_path_args(["policy"], args))
    assert isinstance(cfg.strategy, EpisodicStrategyConfig) and cfg.policy.type == "pi06_recap"
    assert cfg.robot.type == "yam_bimanual" and cfg.robot.backend == backend
    assert cfg.dataset.repo_id == "local/rollout_yam_eval_recap_t0" and cfg.dataset.no_stamp  # rollout_ is required
    assert cfg.dataset.root == str(tmp_path / "eval") and cfg.fps == cfg.dataset.fps
