"""The yam_bimanual_leader teleoperator (sim backend): action keys, handle -> gripper, button -> teleop event."""

import time

import pytest
from lerobot.robots.utils import make_robot_from_config
from lerobot.teleoperators.utils import TeleopEvents, make_teleoperator_from_config

from lerobot_recap.teleoperators.yam_bimanual_leader import YamBimanualLeaderConfig
from lerobot_recap.teleoperators.yam_bimanual_leader.yam_bimanual_leader import SimLeaderArm
from lerobot_recap.utils.config_errors import ConfigError


def make_leader(tmp_path, **overrides):
    config = YamBimanualLeaderConfig(id="leader", calibration_dir=tmp_path / "teleop", **overrides)
    return make_teleoperator_from_config(config)


def test_leader_actions_fit_the_follower(tmp_path, sim_config):
    leader = make_leader(tmp_path)
    robot = make_robot_from_config(sim_config())
    assert leader.action_features == robot.action_features
    leader.connect()
    robot.connect()
    try:
        action = leader.get_action()
        assert set(action) == set(robot.action_features)
        assert all(0.0 <= action[f"{s}_gripper.pos"] <= 1.0 for s in ("left", "right"))
        sent = robot.send_action(action)
        assert set(sent) == set(action)
    finally:
        robot.disconnect()
        leader.disconnect()


def test_handle_trigger_maps_to_gripper_closing(tmp_path):
    leader = make_leader(tmp_path, sim_period_s=1000.0)
    leader.connect()
    try:
        arm = leader._arms["left"]
        joints, trigger, _ = arm.read()
        assert leader.get_action()["left_gripper.pos"] == pytest.approx(1.0 - trigger, abs=1e-3)
    finally:
        leader.disconnect()
    # Quarter period: the scripted trigger is half squeezed; half period: fully squeezed -> gripper closed.
    config = YamBimanualLeaderConfig(sim_period_s=1.0)
    arm = SimLeaderArm(config, phase=0.0)
    arm._t0 = time.monotonic() - 0.5
    assert arm.read()[1] == pytest.approx(1.0, abs=0.05)


def test_top_button_raises_its_teleop_event(tmp_path):
    leader = make_leader(tmp_path, sim_button_window_s=(0.0, 0.3))
    leader.connect()
    try:
        leader.get_action()
        events = leader.get_teleop_events()
        assert events[TeleopEvents.IS_INTERVENTION] is True
        assert events[TeleopEvents.TERMINATE_EPISODE] is False
        time.sleep(0.35)
        leader.get_action()
        assert leader.get_teleop_events()[TeleopEvents.IS_INTERVENTION] is False
    finally:
        leader.disconnect()


def test_button_event_mapping_is_configurable_and_validated(tmp_path):
    leader = make_leader(tmp_path, top_button_event="success", sim_button_window_s=(0.0, 10.0))
    leader.connect()
    try:
        leader.get_action()
        events = leader.get_teleop_events()
        assert events[TeleopEvents.SUCCESS] and not events[TeleopEvents.IS_INTERVENTION]
    finally:
        leader.disconnect()
    with pytest.raises(ConfigError, match="top_button_event"):
        YamBimanualLeaderConfig(top_button_event="explode")
    with pytest.raises(ConfigError, match="backend"):
        YamBimanualLeaderConfig(backend="ros")
