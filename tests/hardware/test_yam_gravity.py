"""Gravity compensation: the planar model against physics, and the feed-forward torque in real MIT frames."""

import time
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_recap.motors.yam.can_arm import CanArm
from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.damiao import MOTOR_LIMITS
from lerobot_recap.motors.yam.damiao_virtual import VirtualDamiaoArm
from lerobot_recap.motors.yam.gravity import G, GravityModel, make_feedforward, torque_limits
from lerobot_recap.motors.yam.tables import YAM_MOTOR_TYPES

pytest.importorskip("can")

HOME = np.array([0.1, 1.2, 1.4, 0.3, 0.2, 0.0, 1.5])
TORQUE_QUANTUM = 2 * 28.0 / 4095  # the 12-bit torque field of a DM4340, the coarsest on the arm


def potential_energy(config: YamGravityConfig, joints: np.ndarray) -> float:
    """Height-weighted mass of the three links, written independently of the model's lever-arm sum."""
    elevation = np.array(config.zero_elevation_rad) + np.cumsum(np.array(config.signs) * joints[1:4])
    joint_z = [0.0, config.link_length_m[0] * np.sin(elevation[0])]
    joint_z.append(joint_z[1] + config.link_length_m[1] * np.sin(elevation[1]))
    return sum(G * m * (z + c * np.sin(e))
               for m, z, c, e in zip(config.link_mass_kg, joint_z, config.com_m, elevation, strict=True))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=6, max_size=6))
def test_model_torque_is_the_gradient_of_the_potential_energy(joints):
    config = YamGravityConfig(factors=(1.0,) * 6)
    q = np.array(joints)
    torque = GravityModel(config).joint_torques(q)
    eps = 1e-6
    for j in range(6):
        step = np.zeros(6)
        step[j] = eps
        numeric = (potential_energy(config, q + step) - potential_energy(config, q - step)) / (2 * eps)
        assert torque[j] == pytest.approx(numeric, abs=1e-5)


def test_known_poses():
    config = YamGravityConfig(factors=(1.0,) * 6)
    model = GravityModel(config)
    # Upper arm straight up and forearm in line: every lever arm is zero.
    assert model.joint_torques(np.array([0.0, np.pi / 2, np.pi, 0.0, 0.0, 0.0])) == pytest.approx(np.zeros(6), abs=1e-9)
    # Arm stretched out horizontally (q2 = 0, q3 = pi): shoulder carries every link at full reach.
    m, L, c = config.link_mass_kg, config.link_length_m, config.com_m
    shoulder = G * (m[0] * c[0] + m[1] * (L[0] + c[1]) + m[2] * (L[0] + L[1] + c[2]))
    torques = model.joint_torques(np.array([0.0, 0.0, np.pi, 0.0, 0.0, 0.0]))
    assert torques[1] == pytest.approx(shoulder)
    assert torques[2] == pytest.approx(-G * (m[1] * c[1] + m[2] * (L[1] + c[2])))  # joint 3 lowers the links
    assert torques[0] == torques[4] == torques[5] == 0.0
    # The per-joint factors scale the model.
    scaled = GravityModel(YamGravityConfig(factors=(1.0, 2.0, 1.0, 1.0, 1.0, 1.0)))
    assert scaled.joint_torques(np.array([0.0, 0.0, np.pi, 0.0, 0.0, 0.0]))[1] == pytest.approx(2 * shoulder)


def test_feedforward_goes_through_the_calibration():
    model = GravityModel(YamGravityConfig())
    offset = np.array([0.0, 0.5, -0.2, 0.0, 0.0, 0.0])
    direction = np.array([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    joints = np.array([0.0, 0.4, 1.0, 0.2, 0.0, 0.0])
    motor = offset + direction * joints
    assert make_feedforward(model, offset, direction)(motor) == pytest.approx(direction * model.joint_torques(joints))


def test_torque_limits_never_exceed_the_motor_range():
    limits = torque_limits(YAM_MOTOR_TYPES, (100.0, 5.0, 5.0, 100.0, 1.0, 1.0, 0.0))
    assert limits.tolist() == [MOTOR_LIMITS["dm4340"][2], 5.0, 5.0, MOTOR_LIMITS["dm4310"][2], 1.0, 1.0, 0.0]


def make_arm(channel: str, feedforward, max_torque_nm=None) -> CanArm:
    return CanArm(
        "left arm", channel, "virtual", 1_000_000, kp=np.array([80, 80, 80, 10, 10, 10, 20.0]),
        kd=np.array([5, 5, 5, 1.5, 1.5, 1.5, 0.5]), max_velocity=np.full(7, 2.0), watchdog_s=0.3, control_hz=100.0,
        reply_timeout_s=0.3, damping_s=0.02, enable_timeout_s=0.5, feedforward=feedforward,
        max_torque_nm=max_torque_nm,
    )


def frame_torques(motors: VirtualDamiaoArm) -> np.ndarray:
    end = time.monotonic() + 3.0
    while len(motors.last_mit) < 7 and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(0.05)
    return np.array([motors.last_mit[i][4] for i in range(1, 8)])


@pytest.mark.parametrize("enabled", [True, False])
def test_frames_carry_the_model_torque_or_zero_when_disabled(enabled):
    channel = f"yam-grav-{uuid.uuid4().hex[:8]}"
    model = GravityModel(YamGravityConfig())
    feedforward = make_feedforward(model, np.zeros(6), np.ones(6)) if enabled else None
    with VirtualDamiaoArm(channel, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        arm = make_arm(channel, feedforward)
        arm.connect()
        try:
            sent = frame_torques(motors)
        finally:
            arm.disconnect()
    expected = np.append(model.joint_torques(HOME), 0.0) if enabled else np.zeros(7)
    assert np.abs(expected).max() > 1.0 or not enabled  # the pose really loads the arm
    assert sent == pytest.approx(expected, abs=TORQUE_QUANTUM)


def test_frames_clamp_the_torque_to_the_configured_limit():
    channel = f"yam-grav-{uuid.uuid4().hex[:8]}"
    model = GravityModel(YamGravityConfig())
    unclamped = model.joint_torques(HOME)
    limit = (5.0, 0.5, 0.5, 0.2, 3.0, 3.0, 0.0)
    with VirtualDamiaoArm(channel, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        arm = make_arm(channel, make_feedforward(model, np.zeros(6), np.ones(6)), max_torque_nm=limit)
        arm.connect()
        try:
            sent = frame_torques(motors)
        finally:
            arm.disconnect()
    assert np.all(np.abs(unclamped[1:4]) > np.array(limit[1:4]))  # the model asks for more than allowed
    assert sent[1:4] == pytest.approx(np.sign(unclamped[1:4]) * np.array(limit[1:4]), abs=TORQUE_QUANTUM)
    assert sent[6] == pytest.approx(0.0, abs=TORQUE_QUANTUM)


def test_robot_can_backend_sends_gravity_through_its_calibration(sim_config):
    from lerobot.robots.utils import make_robot_from_config

    from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamArmConfig

    left, right = f"yam-grav-{uuid.uuid4().hex[:8]}", f"yam-grav-{uuid.uuid4().hex[:8]}"
    sim_robot = make_robot_from_config(sim_config())  # writes the default calibration (zero offsets)
    sim_robot.connect()
    sim_robot.disconnect()
    directions = (1, -1, 1, 1, 1, 1, 1)
    config = sim_config(
        backend="can",
        left_arm=YamArmConfig(channel=left, can_interface="virtual"),
        right_arm=YamArmConfig(channel=right, can_interface="virtual", directions=directions),
        motor_reply_timeout_s=1.0, control_hz=100.0, disconnect_damping_s=0.02,
    )
    # The calibration file holds the directions: the right arm's joint 2 is flipped there too.
    robot = make_robot_from_config(config)
    robot.calibration["right_joint_2"].drive_mode = 1
    robot._save_calibration()
    with VirtualDamiaoArm(left, YAM_MOTOR_TYPES, HOME) as lm, VirtualDamiaoArm(right, YAM_MOTOR_TYPES, HOME) as rm:
        robot.connect()
        try:
            left_sent, right_sent = frame_torques(lm), frame_torques(rm)
        finally:
            robot.disconnect()
    model = GravityModel(config.gravity)
    assert left_sent[:6] == pytest.approx(np.clip(model.joint_torques(HOME), -15, 15), abs=TORQUE_QUANTUM)
    flipped = HOME[:6] * np.array(directions[:6])
    assert right_sent[:6] == pytest.approx(np.array(directions[:6]) * model.joint_torques(flipped), abs=TORQUE_QUANTUM)
