"""yam_bimanual_leader on its `can` backend (python-can's virtual bus, simulated motors and teaching handle) and its
`zmq` backend (lerobot-recap-yam-server --arm=leader on loopback, itself on the virtual bus)."""

import threading
import time
import uuid

import numpy as np
import pytest
from lerobot.teleoperators.utils import TeleopEvents, make_teleoperator_from_config

from lerobot_recap.motors.yam.calibration import default_arm_calibration
from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.damiao import MotorNotRespondingError
from lerobot_recap.motors.yam.damiao_virtual import VirtualDamiaoArm
from lerobot_recap.motors.yam.gravity import GravityModel
from lerobot_recap.motors.yam.server import YamArmServer, YamServerConfig
from lerobot_recap.motors.yam.tables import YAM_MOTOR_TYPES
from lerobot_recap.motors.yam.teaching_handle import HandleCodec
from lerobot_recap.teleoperators.yam_bimanual_leader import YamBimanualLeaderConfig
from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamLeaderArmConfig
from test_yam_zmq import free_port_pair  # tests/hardware is on sys.path (no __init__.py: pytest's rootdir import)
from tests.hardware.conftest import wait_for

pytest.importorskip("can")
pytest.importorskip("zmq")

LEADER_MOTORS = YAM_MOTOR_TYPES[:6]
LEFT_POSE = np.array([0.2, 1.0, 1.3, 0.1, -0.2, 0.4])
RIGHT_POSE = np.array([-0.3, 0.8, 1.1, -0.1, 0.3, 0.0])
KD_QUANTUM = 5.0 / 4095
KP_QUANTUM = 500.0 / 4095
TORQUE_QUANTUM = 2 * 28.0 / 4095


def channel() -> str:
    return f"yam-leader-{uuid.uuid4().hex[:8]}"


def write_leader_calibration(leader, zero: dict[str, np.ndarray] | None = None) -> None:
    calibration = {}
    for side in ("left", "right"):
        motor_zero = None if zero is None else np.append(zero[side], 0.0)
        arm = default_arm_calibration((1,) * 7, zero_motor_position=motor_zero, gripper_closed=0.0, gripper_open=1.0)
        calibration.update({f"{side}_{k}": v for k, v in arm.items()})
    leader.calibration = calibration
    leader._save_calibration()


def make_can_leader(tmp_path, left: str, right: str, **overrides):
    kwargs = dict(
        id="leader", calibration_dir=tmp_path / "teleop", backend="can",
        left_arm=YamLeaderArmConfig(channel=left, can_interface="virtual"),
        right_arm=YamLeaderArmConfig(channel=right, can_interface="virtual"),
        control_hz=100.0, motor_reply_timeout_s=1.0, disconnect_damping_s=0.02,
    )
    kwargs.update(overrides)
    leader = make_teleoperator_from_config(YamBimanualLeaderConfig(**kwargs))
    write_leader_calibration(leader)
    return leader


def test_handle_codec_round_trip_and_clipping():
    codec = HandleCodec()
    reading = codec.decode(codec.encode(-0.35, 1.0, (True, False)))
    assert reading.squeeze == pytest.approx(0.5, abs=0.01)  # either direction from rest squeezes
    assert reading.velocity == pytest.approx(1.0, abs=0.01)
    assert reading.buttons == (True, False)
    assert codec.decode(codec.encode(2.0, 0.0, (False, True))).squeeze == 1.0
    assert codec.decode(bytes([1, 0x01, 0x00, 0, 0, 0b10])).buttons == (False, True)  # 256 counts, bit 1
    assert HandleCodec(range_rad=0.35).decode(codec.encode(0.35, 0.0, (False, False))).squeeze == pytest.approx(
        1.0, abs=0.01)
    with pytest.raises(ValueError, match="6"):
        codec.decode(b"\x01\x02")


def test_can_leader_reads_joints_handle_and_buttons(tmp_path):
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True) as rm:
        leader = make_can_leader(tmp_path, left, right)
        leader.connect()
        try:
            action = leader.get_action()
            assert [action[f"left_joint_{i}.pos"] for i in range(1, 7)] == pytest.approx(LEFT_POSE, abs=1e-3)
            assert [action[f"right_joint_{i}.pos"] for i in range(1, 7)] == pytest.approx(RIGHT_POSE, abs=1e-3)
            assert action["left_gripper.pos"] == pytest.approx(1.0, abs=1e-3)  # trigger released: gripper open
            # The operator moves the left arm and squeezes its trigger 3/4 of the way, then holds the top button.
            lm.position[1] += 0.25
            lm.handle_position_rad = 0.525
            assert wait_for(lambda: abs(leader.get_action()["left_joint_2.pos"] - (LEFT_POSE[1] + 0.25)) < 1e-3)
            assert leader.get_action()["left_gripper.pos"] == pytest.approx(0.25, abs=0.01)
            assert leader.get_teleop_events()[TeleopEvents.IS_INTERVENTION] is False
            rm.handle_buttons = (True, False)
            assert wait_for(lambda: (leader.get_action(), leader.get_teleop_events()[TeleopEvents.IS_INTERVENTION])[1])
            rm.handle_buttons = (False, True)
            assert wait_for(lambda: (leader.get_action(),
                                     leader.get_teleop_events()[TeleopEvents.TERMINATE_EPISODE])[1])
            assert not leader.get_teleop_events()[TeleopEvents.IS_INTERVENTION]
            assert lm.handle_polls > 0 and 7 not in lm.last_mit  # six motors, no gripper motor on a leader
        finally:
            leader.disconnect()
        assert wait_for(lambda: not lm.enabled.any() and not rm.enabled.any())


def test_can_leader_is_passive_with_gravity_compensation(tmp_path):
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True):
        leader = make_can_leader(tmp_path, left, right)
        leader.connect()
        try:
            assert wait_for(lambda: len(lm.last_mit) == 6)
            time.sleep(0.05)
            frames = [lm.last_mit[i] for i in range(1, 7)]
        finally:
            leader.disconnect()
    gravity = GravityModel(YamGravityConfig()).joint_torques(LEFT_POSE)
    assert [f[2] for f in frames] == pytest.approx([0.0] * 6, abs=KP_QUANTUM)  # no position gain: it floats
    assert [f[3] for f in frames] == pytest.approx([0.1, 0.1, 0.1, 0.3, 0.05, 0.05], abs=KD_QUANTUM)
    assert [f[4] for f in frames] == pytest.approx(gravity, abs=TORQUE_QUANTUM)
    assert np.abs(gravity).max() > 1.0


def test_can_leader_bilateral_pull_follows_feedback_and_stops_with_it(tmp_path):
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True):
        leader = make_can_leader(tmp_path, left, right, bilateral_kp=0.2, watchdog_s=0.15)
        assert set(leader.feedback_features) == set(leader.action_features)
        leader.connect()
        try:
            follower = leader.get_action()
            follower["left_joint_1.pos"] += 0.1
            leader.send_feedback(follower)
            time.sleep(0.05)
            pulled = lm.last_mit[1]
            assert pulled[2] == pytest.approx(0.2 * 80.0, abs=KP_QUANTUM)  # kp = bilateral_kp * kp
            assert pulled[0] > LEFT_POSE[0]  # the target moves toward the follower pose
            time.sleep(0.3)  # feedback stopped: the pull goes away, the arm floats
            assert lm.last_mit[1][2] == pytest.approx(0.0, abs=KP_QUANTUM)
        finally:
            leader.disconnect()


def test_can_leader_silent_handle_is_named(tmp_path):
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True):
        lm.handle_silent = True
        leader = make_can_leader(tmp_path, left, right)
        with pytest.raises(MotorNotRespondingError, match=r"left leader arm: the teaching handle.*0x50E"):
            leader.connect()
        assert not leader.is_connected
        assert wait_for(lambda: not lm.enabled.any())


def test_can_leader_calibration_records_the_rest_pose(tmp_path, monkeypatch):
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True), \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True):
        leader = make_teleoperator_from_config(YamBimanualLeaderConfig(
            id="fresh", calibration_dir=tmp_path / "teleop", backend="can",
            left_arm=YamLeaderArmConfig(channel=left, can_interface="virtual"),
            right_arm=YamLeaderArmConfig(channel=right, can_interface="virtual", directions=(1, -1, 1, 1, 1, 1)),
            control_hz=100.0, motor_reply_timeout_s=1.0, disconnect_damping_s=0.02,
        ))
        assert not leader.is_calibrated
        prompts = []
        monkeypatch.setattr("builtins.input", lambda prompt="": prompts.append(prompt) or "")
        leader.connect()  # no calibration yet: connect calibrates first (the operator presses ENTER)
        try:
            assert len(prompts) == 1 and "rest pose" in prompts[0]
            assert (tmp_path / "teleop" / "fresh.json").exists()
            action = leader.get_action()
            # The pose at calibration is the joint zero now.
            assert [action[f"left_joint_{i}.pos"] for i in range(1, 7)] == pytest.approx([0.0] * 6, abs=1e-3)
            assert leader.calibration["right_joint_2"].drive_mode == 1
        finally:
            leader.disconnect()


class LeaderServer:
    """lerobot-recap-yam-server --backend=can --arm=leader on a virtual channel, in a thread."""

    def __init__(self, port: int, channel: str, encoding: str = "msgpack"):
        config = YamServerConfig(backend="can", arm="leader", channel=channel, can_interface="virtual", port=port,
                                 encoding=encoding, control_hz=100.0)
        self.server = YamArmServer(config)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)

    def __enter__(self) -> YamArmServer:
        self.thread.start()
        return self.server

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


def test_zmq_leader_through_leader_servers(tmp_path):
    left, right = channel(), channel()
    left_port, right_port = free_port_pair(), free_port_pair()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True), \
            LeaderServer(left_port, left), LeaderServer(right_port, right, encoding="msgpack"):
        leader = make_teleoperator_from_config(YamBimanualLeaderConfig(
            id="leader", calibration_dir=tmp_path / "teleop", backend="zmq", zmq_timeout_s=5.0,
            left_arm=YamLeaderArmConfig(port=left_port), right_arm=YamLeaderArmConfig(port=right_port),
        ))
        write_leader_calibration(leader, zero={"left": np.zeros(6), "right": RIGHT_POSE})
        leader.connect()
        try:
            action = leader.get_action()
            assert [action[f"left_joint_{i}.pos"] for i in range(1, 7)] == pytest.approx(LEFT_POSE, abs=1e-3)
            assert [action[f"right_joint_{i}.pos"] for i in range(1, 7)] == pytest.approx([0.0] * 6, abs=1e-3)
            lm.handle_position_rad = -0.7
            lm.handle_buttons = (True, False)
            assert wait_for(lambda: leader.get_action()["left_gripper.pos"] < 0.01)
            assert leader.get_teleop_events()[TeleopEvents.IS_INTERVENTION]
            assert lm.last_mit[2][2] == pytest.approx(0.0, abs=KP_QUANTUM)  # served passive
            assert abs(lm.last_mit[2][4]) > 1.0  # with gravity feed-forward (no calibration file: motors zeroed)
        finally:
            leader.disconnect()


def test_sim_leader_server_and_bad_arm_kind():
    port = free_port_pair()
    from lerobot_recap.motors.yam.zmq_arm import ZmqArm

    config = YamServerConfig(backend="sim", arm="leader", port=port)
    server = YamArmServer(config)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        arm = ZmqArm("left leader arm", "127.0.0.1", port, timeout_s=3.0)
        arm.connect()
        state = arm.read()
        assert state.position[6] == 0.0 and state.buttons == (False, False)  # a released handle
        arm.disconnect()
    finally:
        server.stop()
        thread.join(timeout=5)
    with pytest.raises(ValueError, match="--arm='gello'"):
        YamArmServer(YamServerConfig(arm="gello"))


def test_lerobot_calibrate_flow_on_an_uncalibrated_can_leader(tmp_path, monkeypatch):
    # Stock lerobot-calibrate: connect(calibrate=False), then calibrate() on the connected device, then disconnect.
    left, right = channel(), channel()
    with VirtualDamiaoArm(left, LEADER_MOTORS, LEFT_POSE, handle=True) as lm, \
            VirtualDamiaoArm(right, LEADER_MOTORS, RIGHT_POSE, handle=True):
        leader = make_teleoperator_from_config(YamBimanualLeaderConfig(
            id="stock", calibration_dir=tmp_path / "teleop", backend="can",
            left_arm=YamLeaderArmConfig(channel=left, can_interface="virtual"),
            right_arm=YamLeaderArmConfig(channel=right, can_interface="virtual"),
            control_hz=100.0, motor_reply_timeout_s=1.0, disconnect_damping_s=0.02,
        ))
        monkeypatch.setattr("builtins.input", lambda prompt="": "")
        leader.connect(calibrate=False)
        try:
            with pytest.raises(RuntimeError, match="lerobot-calibrate"):
                leader.get_action()
            assert wait_for(lambda: len(lm.last_mit) == 6)
            assert lm.last_mit[2][4] == pytest.approx(0.0, abs=TORQUE_QUANTUM)  # no gravity model before the zero
            leader.calibrate()
            assert leader.is_calibrated
            assert leader.get_action()["right_joint_3.pos"] == pytest.approx(0.0, abs=1e-3)
        finally:
            leader.disconnect()
    assert leader.calibration["left_joint_2"].homing_offset == pytest.approx(LEFT_POSE[1] * 1e6, abs=2e3)


@pytest.mark.parametrize(
    "message, why",
    [
        ({"v": 1, "type": "passive", "on": True, "kp_scale": 2.0}, "kp_scale"),
        ({"v": 1, "type": "passive", "on": True, "kp_scale": "high"}, "kp_scale"),
        ({"v": 1, "type": "state", "position": [0.0] * 7, "velocity": [0.0] * 7, "effort": [0.0] * 7,
          "buttons": [1, 0]}, "2 booleans"),
    ],
)
def test_leader_protocol_fields_are_validated(message, why):
    from lerobot_recap.motors.yam.zmq_arm import ProtocolError, decode, encode

    with pytest.raises(ProtocolError, match=why):
        decode(encode(message, "msgpack"), "msgpack")
    ok = decode(encode({"v": 1, "type": "passive", "on": True}, "json"), "json")
    assert ok["kp_scale"] == 0.0  # optional, defaults to no pull


def test_server_gravity_uses_the_calibration_file(tmp_path):
    import json

    from lerobot_recap.motors.yam.calibration import default_arm_calibration
    from lerobot_recap.motors.yam.server import make_backend

    zero = np.array([0.0, 0.3, -0.2, 0.0, 0.0, 0.0, 0.0])
    calibration = default_arm_calibration((1, -1, 1, 1, 1, 1, 1), zero_motor_position=zero)
    path = tmp_path / "yam_station.json"
    path.write_text(json.dumps({f"right_{k}": vars(v) for k, v in calibration.items()}))
    follower_home = np.array([0.1, 1.2, 1.4, 0.3, 0.2, 0.0, 1.5])
    ch = channel()
    config = YamServerConfig(backend="can", channel=ch, can_interface="virtual", control_hz=100.0,
                             calibration_file=str(path), calibration_prefix="right_")
    with VirtualDamiaoArm(ch, YAM_MOTOR_TYPES, follower_home) as motors:
        arm = make_backend(config)
        arm.damping_s = 0.02
        arm.connect()
        try:
            assert wait_for(lambda: len(motors.last_mit) == 7)
            time.sleep(0.05)
            sent = np.array([motors.last_mit[i][4] for i in range(1, 7)])
        finally:
            arm.disconnect()
    direction = np.array([1, -1, 1, 1, 1, 1.0])
    joints = direction * (follower_home[:6] - zero[:6])
    expected = np.clip(direction * GravityModel(config.gravity).joint_torques(joints), -15, 15)
    assert sent == pytest.approx(expected, abs=TORQUE_QUANTUM)
    with pytest.raises(ValueError, match="left_joint_1.*calibration_prefix"):
        make_backend(YamServerConfig(backend="can", channel=ch, calibration_file=str(path), calibration_prefix="left_"))
