"""Robot evaluation: examples/eval_robot.sh runs stock lerobot-rollout (episodic) with a pi06_recap checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_checkpoints import build_tiny_pi06_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "eval_robot.sh"
YAM_CAMERAS = {name: (24, 32, 3) for name in ("top", "left_wrist", "right_wrist")}
"""The cameras of yam_bimanual, small: the example's CAMERAS=sim CAM_W=32 CAM_H=24."""


def _relative_steps(**overrides) -> list:
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.processor.relative_action_processor import RelativeActionsProcessorStep

    from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig

    config = PI06RecapConfig.tiny(
        input_features={
            "observation.state": PolicyFeature(FeatureType.STATE, (4,)),
            "observation.images.top": PolicyFeature(FeatureType.VISUAL, (3, 24, 32)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (4,))},
        **overrides,
    )
    preprocessor, _ = make_pre_post_processors(config)
    return [s for s in preprocessor.steps if isinstance(s, RelativeActionsProcessorStep) and s.enabled]


def test_delta_actions_are_not_the_relative_actions_lerobot_rollout_refuses():
    """lerobot-rollout's sync engine refuses a pre-processor with an enabled RelativeActionsProcessorStep."""
    assert _relative_steps(delta_actions=True) == []  # pi06_recap's delta actions live inside the model
    assert len(_relative_steps(use_relative_actions=True)) == 1  # LeRobot's relative actions: needs --inference.type=rtc


@pytest.mark.slow
def test_eval_example_runs_lerobot_rollout_on_the_simulated_yam(tmp_path):
    checkpoint = build_tiny_pi06_checkpoint(
        tmp_path / "ckpt" / "pretrained_model", joints=14, cameras=YAM_CAMERAS, delta_actions=True
    )
    root = tmp_path / "eval"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_LEROBOT_HOME": str(tmp_path / "lerobot_home"),
        "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "CKPT": str(checkpoint),
        "ROOT": str(root),
        "BACKEND": "sim",
        "CAMERAS": "sim",
        "CAM_W": "32",
        "CAM_H": "24",
        "DEVICE": "cpu",
        "NUM_EPISODES": "2",
        "EPISODE_TIME_S": "2",
        "RESET_TIME_S": "1",
    }
    extra = ["--play_sounds=false", "--dataset.video=false", "--return_to_initial_position=false"]
    proc = subprocess.run(
        ["bash", str(EXAMPLE), *extra], env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "Policy loaded: type=pi06_recap" in log and "Rollout finished" in log

    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2 and info["total_frames"] > 0
    assert info["robot_type"] == "yam_bimanual"
    assert len(info["features"]["action"]["names"]) == 14
    assert sorted(k for k in info["features"] if k.startswith("observation.images.")) == sorted(
        f"observation.images.{name}" for name in YAM_CAMERAS
    )
