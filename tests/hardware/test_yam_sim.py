"""The yam_bimanual robot on its sim backend: features, calibration, safety chain, watchdog, faults."""

import json
import time

import numpy as np
import pytest
from lerobot.robots.utils import make_robot_from_config

from lerobot_recap.motors.yam.arm import SetpointShaper, SimArm
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamBimanualConfig
from lerobot_recap.utils.config_errors import ConfigError

EXPECTED_NAMES = [f"{side}_{j}.pos" for side in ("left", "right") for j in
                  ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "gripper")]


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_features_are_14_named_joints_and_three_cameras(sim_config):
    robot = make_robot_from_config(sim_config())
    assert list(robot.action_features) == EXPECTED_NAMES
    obs_features = robot.observation_features
    assert [k for k, v in obs_features.items() if v is float] == EXPECTED_NAMES
    assert {k: v for k, v in obs_features.items() if v is not float} == {
        "top": (24, 32, 3), "left_wrist": (24, 32, 3), "right_wrist": (24, 32, 3)}


def test_defaults_are_three_realsense_cameras_at_640x480_30fps():
    config = YamBimanualConfig()
    assert config.fps == 30
    assert {name: (c.type, c.width, c.height, c.fps) for name, c in config.cameras.items()} == {
        name: ("intelrealsense", 640, 480, 30) for name in ("top", "left_wrist", "right_wrist")}


def test_real_backend_without_camera_serials_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="lerobot-find-cameras realsense"):
        make_robot_from_config(YamBimanualConfig(backend="can", id="x", calibration_dir=tmp_path))


@pytest.mark.parametrize(
    "overrides, message",
    [({"backend": "ros"}, "not a YAM backend"), ({"watchdog_s": 0.5}, "0.4"),
     ({"zmq_encoding": "pickle"}, "msgpack")],
)
def test_bad_config_is_rejected_with_a_fix(sim_config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        sim_config(**overrides)


def test_calibration_is_written_under_the_calibration_dir_by_id(sim_config, tmp_path):
    robot = make_robot_from_config(sim_config())
    assert not robot.is_calibrated
    robot.connect()
    robot.disconnect()
    stored = json.loads((tmp_path / "calibration" / "test_yam.json").read_text())
    assert set(stored) == {n.removesuffix(".pos") for n in EXPECTED_NAMES}
    assert stored["left_joint_2"]["range_max"] == 3665190  # microradians
    assert stored["right_gripper"]["range_min"] == 0 and stored["right_gripper"]["range_max"] == 6570000
    # A second robot with the same id loads it instead of calibrating again.
    assert make_robot_from_config(sim_config()).is_calibrated


def test_connect_moves_nothing_gripper_included(sim_config):
    robot = make_robot_from_config(sim_config())
    robot.connect()
    try:
        first = robot.get_observation()
        time.sleep(0.1)
        later = robot.get_observation()
        for name in EXPECTED_NAMES:
            assert later[name] == pytest.approx(first[name], abs=1e-9)
    finally:
        robot.disconnect()


def test_observation_images_have_the_configured_shape(sim_config):
    robot = make_robot_from_config(sim_config())
    robot.connect()
    try:
        obs = robot.get_observation()
        assert obs["top"].shape == (24, 32, 3) and obs["top"].dtype == np.uint8
        assert not np.array_equal(obs["top"], obs["left_wrist"])
    finally:
        robot.disconnect()


def test_targets_are_clamped_to_limits_and_relative_step(sim_config, caplog):
    robot = make_robot_from_config(sim_config(max_relative_target=0.1))
    robot.connect()
    try:
        obs = robot.get_observation()
        action = {k: obs[k] for k in EXPECTED_NAMES}
        action["left_joint_2.pos"] = -5.0  # below the joint range (lower limit 0)
        action["right_gripper.pos"] = 3.0  # above the gripper range [0, 1]
        action["left_joint_1.pos"] = obs["left_joint_1.pos"] + 1.0  # a jump
        with caplog.at_level("WARNING"):
            sent = robot.send_action(action)
            robot.send_action(action)
        assert sent["left_joint_2.pos"] == pytest.approx(obs["left_joint_2.pos"] - 0.1)
        assert sent["right_gripper.pos"] == pytest.approx(obs["right_gripper.pos"] + 0.1)
        assert sent["left_joint_1.pos"] == pytest.approx(obs["left_joint_1.pos"] + 0.1)
        # Far from the measured pose the range clamp alone decides.
        robot.config.max_relative_target = None
        sent = robot.send_action(action)
        assert sent["left_joint_2.pos"] == pytest.approx(0.0 + robot.config.joint_limit_margin_rad)
        assert sent["right_gripper.pos"] == 1.0
        clamp_logs = [r for r in caplog.records if "left_joint_2.pos" in r.getMessage()]
        assert len(clamp_logs) == 2  # once per reason, not once per step
    finally:
        robot.disconnect()


def test_missing_or_non_finite_action_is_refused(sim_config):
    robot = make_robot_from_config(sim_config())
    robot.connect()
    try:
        obs = robot.get_observation()
        action = {k: obs[k] for k in EXPECTED_NAMES}
        with pytest.raises(ValueError, match="right_gripper.pos"):
            robot.send_action({k: v for k, v in action.items() if k != "right_gripper.pos"})
        with pytest.raises(ValueError, match="non-finite"):
            robot.send_action({**action, "left_joint_3.pos": float("nan")})
    finally:
        robot.disconnect()


def test_arm_tracks_a_target_with_limited_velocity():
    clock = FakeClock()
    arm = SimArm("arm", np.zeros(7), max_velocity=np.full(7, 1.0), watchdog_s=0.25, time_constant_s=0.02,
                 clock=clock)
    arm.connect()
    arm.command(np.full(7, 0.5))
    clock.t += 0.1
    assert arm.read().position == pytest.approx(np.full(7, 0.1), abs=0.03)  # 1 rad/s for 0.1 s, not 0.5
    for _ in range(10):  # keep commanding at 20 Hz so the watchdog stays quiet
        clock.t += 0.05
        arm.command(np.full(7, 0.5))
    assert arm.read().position == pytest.approx(np.full(7, 0.5), abs=0.01)


def test_watchdog_holds_when_actions_stop():
    clock = FakeClock()
    arm = SimArm("arm", np.zeros(7), max_velocity=np.full(7, 1.0), watchdog_s=0.25, time_constant_s=0.02,
                 clock=clock)
    arm.connect()
    arm.command(np.full(7, 2.0))
    clock.t += 0.2
    assert not arm.watchdog_tripped
    clock.t += 1.0  # no command for 1.2 s
    held = arm.read().position
    assert arm.watchdog_tripped
    assert held == pytest.approx(np.full(7, 0.25), abs=0.03)  # stopped ~0.25 s in, far short of 2.0
    clock.t += 1.0
    assert arm.read().position == pytest.approx(held, abs=1e-6)
    arm.command(np.full(7, 0.0))  # a new command clears the hold
    assert not arm.watchdog_tripped


def test_shaper_hold_stops_at_the_setpoint():
    shaper = SetpointShaper(np.full(2, 1.0), watchdog_s=0.4)
    shaper.reset(np.zeros(2), 0.0)
    shaper.command(np.ones(2), 0.0)
    assert shaper.step(0.3) == pytest.approx([0.3, 0.3])
    shaper.hold()
    assert shaper.step(0.35) == pytest.approx([0.3, 0.3])


def test_camera_unplugged_raises_clearly_and_arms_hold(sim_config):
    robot = make_robot_from_config(sim_config(top_camera={"fail_after_frames": 2}))
    robot.connect()
    try:
        obs = robot.get_observation()
        robot.get_observation()
        action = {k: obs[k] + (0.15 if k.endswith("joint_1.pos") else 0.0) for k in EXPECTED_NAMES}
        robot.send_action(action)
        with pytest.raises(RuntimeError, match="camera 'top' failed.*arms are holding"):
            robot.get_observation()
        for arm in robot.arms.values():
            assert arm.shaper.target == pytest.approx(arm.shaper.setpoint)
    finally:
        robot.disconnect()
    assert not robot.arms


def test_sim_action_log_records_what_was_sent(sim_config, tmp_path):
    log = tmp_path / "actions.jsonl"
    robot = make_robot_from_config(sim_config(sim_action_log=str(log)))
    robot.connect()
    try:
        obs = robot.get_observation()
        sent = robot.send_action({k: obs[k] for k in EXPECTED_NAMES})
    finally:
        robot.disconnect()
    assert json.loads(log.read_text().splitlines()[0]) == pytest.approx(sent)
