"""The CAN backend against python-can's virtual bus with simulated Damiao motors (real frames both ways)."""

import time
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lerobot.robots.utils import make_robot_from_config

from lerobot_recap.motors.yam.arm import ArmFaultError
from lerobot_recap.motors.yam.can_arm import CanArm
from lerobot_recap.motors.yam.damiao import (
    CanChannelError,
    Feedback,
    MotorNotRespondingError,
    decode_feedback,
    decode_mit,
    encode_feedback,
    encode_mit,
)
from lerobot_recap.motors.yam.damiao_virtual import VirtualDamiaoArm
from lerobot_recap.motors.yam.tables import YAM_MOTOR_TYPES
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamArmConfig
from tests.hardware.conftest import wait_for

pytest.importorskip("can")

HOME = np.array([0.1, 0.5, 0.6, -0.2, 0.3, 0.0, 1.5])


def channel() -> str:
    return f"yam-test-{uuid.uuid4().hex[:8]}"


def make_arm(ch: str, **overrides) -> CanArm:
    kwargs = dict(
        name="left arm", channel=ch, interface="virtual", bitrate=1_000_000,
        kp=np.array([80, 80, 80, 10, 10, 10, 20.0]), kd=np.array([5, 5, 5, 1.5, 1.5, 1.5, 0.5]),
        max_velocity=np.full(7, 2.0), watchdog_s=0.3, control_hz=100.0, reply_timeout_s=0.3, damping_s=0.05,
        enable_timeout_s=0.5,
    )
    kwargs.update(overrides)
    return CanArm(**kwargs)


def test_mit_frame_known_vector():
    # Zero position/velocity/torque sit at mid-range; zero gains at the bottom of theirs.
    assert encode_mit("dm4310", 0.0, 0.0, 0.0, 0.0, 0.0) == bytes.fromhex("8000800000000800")
    assert encode_mit("dm4340", 12.5, 8.0, 500.0, 5.0, 28.0) == bytes.fromhex("ffffffffffffffff")
    assert encode_mit("dm4340", -99.0, -99.0, -1.0, -1.0, -99.0) == bytes(8)  # out of range saturates


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(["dm4310", "dm4340"]),
    p=st.floats(-12.5, 12.5), v=st.floats(-8, 8), kp=st.floats(0, 500), kd=st.floats(0, 5), t=st.floats(-10, 10),
)
def test_mit_encoding_round_trips_within_quantization(model, p, v, kp, kd, t):
    decoded = decode_mit(model, encode_mit(model, p, v, kp, kd, t))
    assert decoded == pytest.approx((p, v, kp, kd, t), abs=max(25 / 65535, 60 / 4095, 500 / 4095))
    assert decoded[0] == pytest.approx(p, abs=25 / 65535)


def test_feedback_decoding():
    fb = Feedback(motor_id=4, error=1, position=-1.25, velocity=2.0, torque=-3.0, temp_mos=41, temp_rotor=44)
    decoded = decode_feedback("dm4310", encode_feedback("dm4310", fb))
    assert (decoded.motor_id, decoded.error, decoded.temp_mos, decoded.temp_rotor) == (4, 1, 41, 44)
    assert (decoded.position, decoded.velocity, decoded.torque) == pytest.approx((-1.25, 2.0, -3.0), abs=0.01)


def test_connect_enables_all_and_holds_the_measured_pose():
    ch = channel()
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        arm = make_arm(ch)
        arm.connect()
        try:
            assert motors.enabled.all()
            assert arm.read().position == pytest.approx(HOME, abs=1e-3)
            assert wait_for(lambda: len(motors.last_mit) == 7)
            time.sleep(0.1)
            # Held targets equal the measured pose, gripper (ID 7) included: nothing moves on connect.
            targets = np.array([motors.last_mit[i][0] for i in range(1, 8)])
            assert targets == pytest.approx(HOME, abs=1e-3)
            assert motors.position == pytest.approx(HOME, abs=1e-3)
            assert motors.last_mit[7][2] == pytest.approx(20.0, abs=0.2)  # gripper kp
        finally:
            arm.disconnect()
        assert wait_for(lambda: not motors.enabled.any())  # torque off after damping


def test_commands_move_the_motors_at_limited_speed():
    ch = channel()
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, initial_position=HOME):
        arm = make_arm(ch)
        arm.connect()
        try:
            target = HOME + 0.4
            start = time.monotonic()
            while time.monotonic() - start < 0.05:
                arm.command(target)
                time.sleep(0.01)
            # After ~50 ms at 2 rad/s the setpoint has moved ~0.1 rad, not the full 0.4.
            assert np.all(arm.shaper.setpoint - HOME < 0.3)
            assert wait_for(lambda: (arm.command(target), np.allclose(arm.read().position, target, atol=0.02))[1])
        finally:
            arm.disconnect()


def test_watchdog_holds_when_commands_stop_and_frames_keep_flowing():
    ch = channel()
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        arm = make_arm(ch, max_velocity=np.full(7, 0.5))
        arm.connect()
        try:
            arm.command(HOME + 2.0)
            assert wait_for(lambda: arm.watchdog_tripped, 2.0)
            held = arm.shaper.setpoint.copy()
            assert np.all(held - HOME < 0.5)  # stopped well short of +2 rad
            frames = motors.frames_seen
            time.sleep(0.2)
            assert motors.frames_seen > frames  # the loop keeps the motors' own 400 ms watchdog fed
            assert arm.shaper.setpoint == pytest.approx(held)
        finally:
            arm.disconnect()


def test_motor_silent_at_connect_is_named():
    ch = channel()
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, initial_position=HOME, silent={4}) as motors:
        arm = make_arm(ch, enable_timeout_s=0.2)
        with pytest.raises(MotorNotRespondingError, match=r"0x04.*did not answer"):
            arm.connect()
        assert not arm.is_connected
        assert wait_for(lambda: not motors.enabled.any())  # the ones that answered were disabled again


def test_motor_that_stops_answering_mid_episode_faults_and_the_others_hold():
    ch = channel()
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        arm = make_arm(ch, reply_timeout_s=0.15)
        arm.connect()
        try:
            arm.command(HOME + 0.3)
            time.sleep(0.05)
            motors.silent.add(5)
            assert wait_for(lambda: arm.fault is not None)
            with pytest.raises(ArmFaultError, match=r"joint_5 \(ID 0x05\).*stopped answering.*hold"):
                arm.read()
            with pytest.raises(ArmFaultError):
                arm.command(HOME)
            time.sleep(0.05)
            held = motors.last_mit[1][0]
            time.sleep(0.1)
            assert motors.last_mit[1][0] == pytest.approx(held, abs=1e-3)  # joint 1 holds, still fed
        finally:
            arm.disconnect()


def test_unknown_can_channel_fails_clearly():
    arm = make_arm("can_does_not_exist", interface="socketcan")
    with pytest.raises(CanChannelError, match="can_does_not_exist.*ip link"):
        arm.connect()


def test_robot_on_the_can_backend(sim_config):
    left, right = channel(), channel()
    config = sim_config(
        backend="can",
        left_arm=YamArmConfig(channel=left, can_interface="virtual"),
        right_arm=YamArmConfig(channel=right, can_interface="virtual"),
        motor_reply_timeout_s=1.0, control_hz=100.0, disconnect_damping_s=0.05,
    )
    # Calibration comes from a sim run of the same id (the can backend would ask the operator to pose the arms).
    sim_robot = make_robot_from_config(sim_config())
    sim_robot.connect()
    sim_robot.disconnect()
    with VirtualDamiaoArm(left, YAM_MOTOR_TYPES, HOME) as lm, VirtualDamiaoArm(right, YAM_MOTOR_TYPES, HOME) as rm:
        robot = make_robot_from_config(config)
        robot.connect()
        try:
            obs = robot.get_observation()
            assert obs["left_joint_2.pos"] == pytest.approx(0.5, abs=1e-3)
            assert obs["right_gripper.pos"] == pytest.approx(1.5 / 6.57, abs=1e-3)
            action = {k: obs[k] for k in robot.action_features}
            action["right_joint_1.pos"] += 0.1
            for _ in range(30):
                robot.send_action(action)
                time.sleep(0.02)
            assert rm.position[0] == pytest.approx(HOME[0] + 0.1, abs=0.02)
            assert lm.position == pytest.approx(HOME, abs=1e-3)
            rm.silent.add(2)
            assert wait_for(lambda: robot.arms["right arm"].fault is not None)
            with pytest.raises(ArmFaultError, match="right arm: motor joint_2"):
                robot.get_observation()
            left_arm = robot.arms["left arm"]
            assert left_arm.shaper.target == pytest.approx(left_arm.shaper.setpoint)  # the other arm holds
        finally:
            robot.disconnect()
        assert wait_for(lambda: not lm.enabled.any())


def test_lerobot_calibrate_flow_on_an_uncalibrated_can_robot(sim_config, monkeypatch):
    # Stock lerobot-calibrate: connect(calibrate=False), then calibrate() on the connected robot, then disconnect.
    left, right = channel(), channel()
    config = sim_config(
        backend="can", id="fresh_yam",
        left_arm=YamArmConfig(channel=left, can_interface="virtual"),
        right_arm=YamArmConfig(channel=right, can_interface="virtual"),
        motor_reply_timeout_s=1.0, control_hz=100.0, disconnect_damping_s=0.02,
    )
    with VirtualDamiaoArm(left, YAM_MOTOR_TYPES, HOME) as lm, VirtualDamiaoArm(right, YAM_MOTOR_TYPES, HOME) as rm:
        robot = make_robot_from_config(config)

        def open_grippers():
            lm.position[6] = rm.position[6] = 4.0

        answers = iter([lambda: None, lambda: None])  # first try: the operator forgets to open the grippers
        monkeypatch.setattr("builtins.input", lambda prompt="": (next(answers)(), time.sleep(0.1), "")[2])
        robot.connect(calibrate=False)
        try:
            assert wait_for(lambda: len(lm.last_mit) == 7)
            time.sleep(0.05)
            assert lm.last_mit[1][2] == pytest.approx(0.0, abs=0.2)  # limp until calibrated
            with pytest.raises(RuntimeError, match="lerobot-calibrate"):
                robot.send_action({k: 0.0 for k in robot.action_features})
            with pytest.raises(ValueError, match="same closed and open"):
                robot.calibrate()  # the operator did not open the grippers: nothing is saved
            assert not robot.is_calibrated and not robot.calibration_fpath.exists()
            answers = iter([lambda: None, open_grippers])
            robot.calibrate()
            assert wait_for(lambda: abs(lm.last_mit[1][2] - 80.0) < 0.2)  # drivable again: holds under PD
            obs = robot.get_observation()
            assert obs["left_joint_2.pos"] == pytest.approx(0.0, abs=1e-3)  # the pose at calibration is the zero
            assert obs["left_gripper.pos"] == pytest.approx(1.0, abs=1e-3)  # opened during calibration
        finally:
            robot.disconnect()
    assert robot.calibration["left_gripper"].range_max == pytest.approx(4.0e6, abs=2e3)
