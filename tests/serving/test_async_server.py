"""LeRobot's async inference with pi06_recap: the subclassed policy server and LeRobot's own robot client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sim_devices

from tests.serving.conftest import TASK


class FakeContext:
    """What gRPC hands a servicer method; only ``peer`` is read."""

    def peer(self) -> str:
        return "ipv4:127.0.0.1:0"


@pytest.fixture
def in_tmp_cwd(tmp_path, monkeypatch):
    # LeRobot's async-inference modules open ./logs/<name>_<time>.log when they are first imported.
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stock_server_refuses_pi06_recap_and_its_list_is_left_alone(in_tmp_cwd, checkpoint):
    import pickle

    from lerobot.async_inference import constants
    from lerobot.async_inference.configs import PolicyServerConfig
    from lerobot.async_inference.helpers import RemotePolicyConfig
    from lerobot.async_inference.policy_server import PolicyServer
    from lerobot.transport import services_pb2

    import lerobot_recap.serving.async_server  # noqa: F401  (the subclass is defined; nothing of LeRobot changes)

    assert "pi06_recap" not in constants.SUPPORTED_POLICIES
    specs = RemotePolicyConfig("pi06_recap", str(checkpoint), {}, 4, "cpu")
    with pytest.raises(ValueError, match="Policy type pi06_recap not supported"):
        PolicyServer(PolicyServerConfig()).SendPolicyInstructions(
            services_pb2.PolicySetup(data=pickle.dumps(specs)), FakeContext()
        )


def test_stock_robot_client_runs_the_sim_arm_on_pi06_recap(in_tmp_cwd, checkpoint):
    from concurrent import futures

    import grpc
    from lerobot.async_inference import constants
    from lerobot.async_inference.configs import RobotClientConfig
    from lerobot.async_inference.robot_client import RobotClient
    from lerobot.transport import services_pb2_grpc

    from lerobot_recap.serving.async_server import (
        RecapPolicyServer,
        RecapPolicyServerConfig,
    )

    supported_before = list(constants.SUPPORTED_POLICIES)

    class RecordingServer(RecapPolicyServer):
        """Keeps the chunks it sent, to compare with what the robot executed."""

        def __init__(self, config) -> None:
            super().__init__(config)
            self.chunks: list = []

        def _predict_action_chunk(self, observation):
            chunk = super()._predict_action_chunk(observation)
            self.chunks.append(chunk)
            return chunk

    policy_server = RecordingServer(
        RecapPolicyServerConfig(host="127.0.0.1", fps=30, inference_advantage="negative", cfg_beta=1.5)
    )
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services_pb2_grpc.add_AsyncInferenceServicer_to_server(policy_server, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    client = None
    try:
        client = RobotClient(
            RobotClientConfig(
                policy_type="pi06_recap", pretrained_name_or_path=str(checkpoint), robot=sim_devices.SimArmConfig(),
                actions_per_chunk=4, task=TASK, server_address=f"127.0.0.1:{port}", policy_device="cpu", fps=30,
            )
        )  # fmt: skip
        assert client.start()
        threads = [threading.Thread(target=client.receive_actions, daemon=True),
                   threading.Thread(target=client.control_loop, args=(TASK,), daemon=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 240
        while len(client.robot.sent) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if client is not None:
            client.stop()
        grpc_server.stop(grace=1)

    assert type(policy_server.policy).__name__ == "PI06RecapPolicy"
    assert (policy_server.policy.config.inference_advantage, policy_server.policy.config.cfg_beta) == ("negative", 1.5)
    assert len(client.robot.sent) >= 8, "the robot executed too few actions"
    # The first chunk reaches an empty queue unchanged: the robot's first action is its first row.
    first = policy_server.chunks[0][0].get_action().numpy()
    assert np.allclose([client.robot.sent[0][j] for j in sim_devices.JOINTS], first, atol=1e-6)
    assert constants.SUPPORTED_POLICIES == supported_before and "pi06_recap" not in constants.SUPPORTED_POLICIES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {proc.stdout.read()[-4000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the async-inference server did not start listening")


@pytest.mark.slow
def test_stock_robot_client_cli_against_lerobot_recap_async_server_on_the_simulated_yam(tmp_path):
    """Both as commands: ``lerobot-recap-async-server`` and ``python -m lerobot.async_inference.robot_client``."""
    from tests.tiny_pi06 import build_tiny_pi06_checkpoint

    cameras = {name: (24, 32, 3) for name in ("top", "left_wrist", "right_wrist")}
    checkpoint = build_tiny_pi06_checkpoint(tmp_path / "ckpt", 14, cameras, device="cpu")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["lerobot-recap-async-server", "--host=127.0.0.1", f"--port={port}", "--fps=30"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    client = None
    actions_log = tmp_path / "sent.jsonl"
    try:
        wait_for_port(port, server, 120)
        sim_cameras = ", ".join(f"{n}: {{type: recap_sim, width: 32, height: 24, fps: 30, seed: {i}}}" for i, n in enumerate(cameras))
        client = subprocess.Popen(
            [sys.executable, "-m", "lerobot.async_inference.robot_client", "--robot.type=yam_bimanual",
             "--robot.backend=sim", "--robot.id=async_test", f"--robot.cameras={{{sim_cameras}}}",
             f"--robot.sim_action_log={actions_log}", f"--task={TASK}", f"--server_address=127.0.0.1:{port}",
             "--policy_type=pi06_recap", f"--pretrained_name_or_path={checkpoint}", "--policy_device=cpu",
             "--actions_per_chunk=4", "--fps=30"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and client.poll() is None:
            if actions_log.exists() and len(actions_log.read_text().splitlines()) >= 10:
                break
            time.sleep(0.5)
    finally:
        for proc in (client, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    client_log = client.stdout.read() if client is not None else ""
    server_log = server.stdout.read()
    sent = [json.loads(line) for line in actions_log.read_text().splitlines()] if actions_log.exists() else []
    assert len(sent) >= 10, client_log[-4000:] + server_log[-4000:]
    assert "Loaded pi06_recap on cpu" in server_log, server_log[-4000:]
    assert "Action chunk #" in server_log
    assert "not supported" not in server_log + client_log
