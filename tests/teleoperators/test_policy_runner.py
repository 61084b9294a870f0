"""PolicyRunner with a real tiny pi06_recap checkpoint: LeRobot 0.6.1's predict_action path, prompts and checks."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import sim_devices

from lerobot_recap.teleoperators.recap_dagger.policy_runner import PolicyRunner

TASK = "hand the cube over"


def sim_arm() -> sim_devices.SimArm:
    return sim_devices.SimArm(sim_devices.SimArmConfig())


def runner_for(checkpoint, arm=None, device: str = "cpu") -> PolicyRunner:
    arm = arm or sim_arm()
    return PolicyRunner(str(checkpoint), device, arm.observation_features, list(arm.action_features), arm.name)


def test_pi06_recap_runs_through_predict_action_with_pi05s_prompt(tiny_pi06_checkpoint):
    from lerobot.policies.pi05.modeling_pi05 import PI05Policy

    runner = runner_for(tiny_pi06_checkpoint)
    policy = runner.policy
    assert policy.config.type == "pi06_recap" and isinstance(policy, PI05Policy)
    assert policy.config.action_feature_names == sim_devices.JOINTS  # make_policy read the robot's action names

    prompts: list[list[str]] = []
    inference_prompts = policy.inference_prompts
    policy.inference_prompts = lambda batch: prompts.append(list(batch["task"])) or inference_prompts(batch)

    arm = sim_arm()
    actions = [runner.act(arm.get_observation(), TASK) for _ in range(5)]
    assert all(list(a) == sim_devices.JOINTS and all(math.isfinite(v) for v in a.values()) for a in actions)
    assert len(prompts) == 2  # one chunk of n_action_steps=4, then the next
    head = prompts[0][0]
    assert head.startswith(f"Task: {TASK}, State: ") and head.endswith(";\nAction: ")  # written by the pre-processor
    assert inference_prompts({"task": [head]})[0] == [head.replace(";\nAction: ", ", Advantage: positive;\nAction: ")]

    runner.reset()  # a hand-back to the policy starts a fresh chunk
    runner.act(arm.get_observation(), TASK)
    assert len(prompts) == 3


def test_a_policy_for_another_robot_is_refused_at_load(tiny_pi06_checkpoint):
    arm = sim_arm()
    with pytest.raises(ValueError, match=r"outputs actions of shape \(3,\) but the robot takes 4 values"):
        PolicyRunner(str(tiny_pi06_checkpoint), "cpu", arm.observation_features, [*arm.action_features, "j3.pos"], arm.name)
    features = {**{j: float for j in sim_devices.JOINTS[:2]}, "wrist": sim_devices.IMAGE_SHAPE}
    with pytest.raises(ValueError, match=r"reads the cameras \['observation.images.cam'\].*observation.state of shape"):
        PolicyRunner(str(tiny_pi06_checkpoint), "cpu", features, sim_devices.JOINTS, arm.name)


def test_bad_paths_and_devices_are_clear_errors(tiny_pi06_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a policy checkpoint directory"):
        runner_for(tmp_path)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--teleop.device=cuda: .*CUDA is not available"):
            runner_for(tiny_pi06_checkpoint, device="cuda")


def test_a_checkpoint_saved_with_delta_actions_loads_and_acts(tiny_pi06_checkpoint, tmp_path):
    """pi06_recap's own delta actions live in the model, not in LeRobot's relative-action processor step."""
    copy = shutil.copytree(tiny_pi06_checkpoint, tmp_path / "delta")
    config = json.loads((copy / "config.json").read_text())
    config["delta_actions"] = True
    (copy / "config.json").write_text(json.dumps(config))
    runner = runner_for(copy)
    assert runner.policy.config.delta_actions and not runner.policy.config.use_relative_actions
    action = runner.act(sim_arm().get_observation(), TASK)
    assert all(math.isfinite(v) for v in action.values())
