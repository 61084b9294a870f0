"""The zmq backend and lerobot-recap-yam-server on loopback: protocol, latest value, malformed input, restarts."""

import pickle
import socket
import threading
import time

import numpy as np
import pytest
from lerobot.robots.utils import make_robot_from_config

from lerobot_recap.motors.yam.arm import ArmFaultError
from lerobot_recap.motors.yam.server import YamArmServer, YamServerConfig
from lerobot_recap.motors.yam.zmq_arm import ProtocolError, ZmqArm, decode, encode
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamArmConfig
from tests.hardware.conftest import wait_for

zmq = pytest.importorskip("zmq")
pytest.importorskip("msgpack")


def free_port_pair() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


class RunningServer:
    def __init__(self, port: int, encoding: str = "msgpack", **overrides):
        self.server = YamArmServer(YamServerConfig(port=port, encoding=encoding, rate_hz=100.0, **overrides))
        self.thread = threading.Thread(target=self.server.serve, daemon=True)

    def __enter__(self) -> YamArmServer:
        self.thread.start()
        return self.server

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_messages_round_trip(encoding):
    message = {"v": 1, "type": "command", "position": [0.1] * 7}
    assert decode(encode(message, encoding), encoding) == message


@pytest.mark.parametrize(
    "payload, why",
    [
        (b"\xff\x00garbage", "undecodable"),
        (pickle.dumps({"v": 1, "type": "command", "position": [0.0] * 7}), "undecodable"),
        (encode([1, 2, 3], "msgpack"), "must be a map"),
        (encode({"v": 9, "type": "command"}, "msgpack"), "version"),
        (encode({"v": 1, "type": "reboot"}, "msgpack"), "unknown message type"),
        (encode({"v": 1, "type": "command", "position": [0.0] * 6}, "msgpack"), "7 finite numbers"),
        (encode({"v": 1, "type": "command", "position": [float("nan")] * 7}, "msgpack"), "7 finite numbers"),
        (encode({"v": 1, "type": "passive", "on": "yes"}, "msgpack"), "boolean"),
    ],
)
def test_malformed_messages_are_rejected(payload, why):
    with pytest.raises(ProtocolError, match=why):
        decode(payload, "msgpack")


def test_client_drives_the_served_arm_and_sees_its_state():
    port = free_port_pair()
    with RunningServer(port) as server:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=2.0)
        arm.connect()
        try:
            start = arm.read().position
            target = start + 0.2
            assert wait_for(lambda: (arm.command(target), np.allclose(arm.read().position, target, atol=0.02))[1])
            assert server.commands > 0
        finally:
            arm.disconnect()


def test_server_rejects_malformed_and_pickled_messages_and_keeps_serving():
    port = free_port_pair()
    with RunningServer(port) as server:
        context = zmq.Context()
        push = context.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{port}")
        for payload in (b"not msgpack \xc1", pickle.dumps({"type": "command"}), encode({"v": 1, "type": "x"}, "msgpack")):
            push.send(payload)
            time.sleep(0.03)  # separate sends: the server reads every message that arrives
        assert wait_for(lambda: server.rejected >= 3)
        push.close(linger=0)
        context.term()
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=2.0)
        arm.connect()
        try:
            assert arm.read().position.shape == (7,)
        finally:
            arm.disconnect()


def test_client_rejects_malformed_state():
    port = free_port_pair()
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.bind(f"tcp://127.0.0.1:{port + 1}")
    arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=0.5)
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            pub.send(b"\x93garbage")
            time.sleep(0.01)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConnectionError, match="could not read"):
            arm.connect()  # the socket sees data, but never a valid state
        assert arm.rejected > 0
        assert not arm.is_connected
    finally:
        stop.set()
        thread.join()
        pub.close(linger=0)
        context.term()


def test_missing_server_fails_clearly():
    arm = ZmqArm("left arm", "127.0.0.1", free_port_pair(), timeout_s=0.3)
    with pytest.raises(ConnectionError, match="lerobot-recap-yam-server"):
        arm.connect()


def test_client_survives_a_server_restart():
    port = free_port_pair()
    arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=0.5)
    with RunningServer(port):
        arm.connect()
        before = arm.read().position
    time.sleep(0.1)
    arm._receive()  # take the states published between the last read and the shutdown
    time.sleep(0.7)
    with pytest.raises(ArmFaultError, match="sent no state"):
        arm.read()
    with RunningServer(port):
        assert wait_for(lambda: arm._receive() or arm._state_t > time.monotonic() - 0.1, 5.0)
        assert arm.read().position == pytest.approx(before, abs=0.05)
        target = before + 0.1
        assert wait_for(lambda: (arm.command(target), np.allclose(arm.read().position, target, atol=0.02))[1], 5.0)
    arm.disconnect()


def test_robot_on_the_zmq_backend(sim_config):
    left, right = free_port_pair(), free_port_pair()
    # Calibration from a sim run of the same id (real backends would ask the operator to pose the arms).
    sim_robot = make_robot_from_config(sim_config())
    sim_robot.connect()
    sim_robot.disconnect()
    with RunningServer(left), RunningServer(right, encoding="json"):
        robot = make_robot_from_config(
            sim_config(
                backend="zmq",
                left_arm=YamArmConfig(port=left),
                right_arm=YamArmConfig(port=right),
                zmq_timeout_s=2.0,
            )
        )
        with pytest.raises(ConnectionError, match="encoding=msgpack"):
            robot.connect()  # the right server speaks JSON, the robot msgpack: nothing valid arrives
        assert not robot.arms
        robot.config.zmq_encoding = "json"
    with RunningServer(left, encoding="json"), RunningServer(right, encoding="json"):
        robot.connect()
        try:
            obs = robot.get_observation()
            action = {k: obs[k] for k in robot.action_features}
            action["left_joint_1.pos"] += 0.1
            assert wait_for(lambda: (robot.send_action(action),
                                     abs(robot.get_observation()["left_joint_1.pos"] - action["left_joint_1.pos"]) < 0.02)[1])
        finally:
            robot.disconnect()


def test_server_console_script_serves_and_stops_on_sigterm(tmp_path, monkeypatch, capsys):
    import os
    import signal
    import subprocess
    import sys

    port = free_port_pair()
    process = subprocess.Popen(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_yam_server", "--backend=sim", f"--port={port}",
         "--encoding=json"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "server.log").open("w"), env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=60.0, encoding="json")
        arm.connect()
        assert arm.read().position.shape == (7,)
        arm.disconnect()
        # The startup line names the address (it is logged before the first state, so it is there by now).
        log = (tmp_path / "server.log").read_text()
        assert f"Serving sim follower :{port} on tcp://127.0.0.1:{port} " in log, log
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    from lerobot_recap.scripts import lerobot_recap_yam_server

    # Bad input is one line on stderr and exit code 2 (the project's shared CLI error policy), not a traceback.
    monkeypatch.setattr(sys, "argv", ["lerobot-recap-yam-server", "--backend=ros"])
    with pytest.raises(SystemExit) as exit_info:
        lerobot_recap_yam_server.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "lerobot-recap-yam-server: error: --backend='ros': use `can` or `sim`.", err
