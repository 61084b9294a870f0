"""``recap_handover_sim`` (the hand-over world as a LeRobot robot) and ``recap_handover_expert`` (its operator)."""

from __future__ import annotations

import numpy as np
import pytest


def _robot(**overrides):
    from lerobot.robots.utils import make_robot_from_config

    from lerobot_recap.robots.recap_handover_sim import RecapHandoverSimConfig

    return make_robot_from_config(RecapHandoverSimConfig(image_size=32, spawn_scale=0.0, **overrides))


def test_the_robot_plays_the_world_and_starts_the_next_layout_when_a_task_ends():
    from lerobot_recap.envs.handover import JOINT_NAMES

    robot = _robot(episode_length=5, seed=7)
    robot.connect()
    try:
        observation = robot.get_observation()
        assert set(observation) == {*JOINT_NAMES, "top"} and observation["top"].shape == (32, 32, 3)
        assert set(robot.action_features) == set(JOINT_NAMES)
        target = {name: observation[name] + (0.05 if name == "left_joint_0.pos" else 0.0) for name in JOINT_NAMES}
        robot.send_action(target)
        moved = robot.get_observation()
        assert moved["left_joint_0.pos"] > observation["left_joint_0.pos"]  # the world stepped towards the target
        for _ in range(4):  # out of steps: the next layout (seed 8) starts from the home pose
            robot.send_action(target)
        assert robot.worlds_started == 2 and robot.world.steps == 0
    finally:
        robot.disconnect()


def test_the_expert_reads_the_shared_world_and_says_so_without_one():
    from lerobot.teleoperators.utils import make_teleoperator_from_config

    from lerobot_recap.envs.handover import JOINT_NAMES
    from lerobot_recap.envs.scripted import HandoverExpert
    from lerobot_recap.teleoperators.recap_handover_expert import RecapHandoverExpertConfig

    expert = make_teleoperator_from_config(RecapHandoverExpertConfig(world_key="expert_test"))
    expert.connect()
    with pytest.raises(RuntimeError, match="no connected recap_handover_sim robot with world_key='expert_test'"):
        expert.get_action()
    robot = _robot(world_key="expert_test")
    robot.connect()
    try:
        action = expert.get_action()
        np.testing.assert_allclose([action[n] for n in JOINT_NAMES], HandoverExpert().act(robot.world))
    finally:
        robot.disconnect()
        expert.disconnect()


def test_bad_camera_names_are_refused():
    from lerobot_recap.robots.recap_handover_sim import RecapHandoverSimConfig
    from lerobot_recap.utils.config_errors import ConfigError

    with pytest.raises(ConfigError, match="--robot.camera_names"):
        RecapHandoverSimConfig(camera_names=["front"])
