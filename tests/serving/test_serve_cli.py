"""The serving commands as a user runs them: bad input is one line and exit code 2; lerobot-recap-serve end to end."""

from __future__ import annotations

import http.client
import json
import logging
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import cli_env
from tests.serving.conftest import random_observation

SERVE = "lerobot_recap.scripts.lerobot_recap_serve"
ASYNC = "lerobot_recap.scripts.lerobot_recap_async_server"
REMOTE = "lerobot_recap.scripts.lerobot_recap_remote_policy"


def run_module(module: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], check=False, capture_output=True, text=True,
                          env=cli_env(), cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip


BAD_INPUT = [
    (SERVE, ("--policy.path={missing}",), "lerobot-recap-serve: error: --policy.path={missing} is not a policy checkpoint"),
    (SERVE, (), "lerobot-recap-serve: error: give the policy to serve: --policy.path="),
    (SERVE, ("--policy.path={checkpoint}", "--observation.preset=aloha9"), "--observation.preset='aloha9' is not one of"),
    (ASYNC, ("--inference_advantage=great",), "lerobot-recap-async-server: error: --inference_advantage='great' is not"),
    (REMOTE, ("--server=ws://127.0.0.1:9", "--output_dir={missing}", "--advantage=maybe"), "--policy.advantage='maybe'"),
]


@pytest.mark.parametrize(("module", "args", "reason"), BAD_INPUT, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_is_one_line_and_exit_code_2_in_process(module, args, reason, tmp_path, checkpoint, monkeypatch, capsys):
    """The commands' own ``main`` on a bad command line (fast: the imports are paid once)."""
    import importlib

    fill = {"missing": tmp_path / "missing", "checkpoint": checkpoint}
    monkeypatch.setattr(sys, "argv", [module, *(a.format(**fill) for a in args)])
    monkeypatch.chdir(tmp_path)  # the async server's module opens ./logs when imported
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.raises(SystemExit) as exited:
            importlib.import_module(module).main()
    finally:  # main() points the root logger at this test's captured stderr, which closes with the test
        root.handlers[:], root.level = handlers, level
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and reason.format(**fill) in lines[0], lines


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_code_2_as_commands(tmp_path, checkpoint):
    fill = {"missing": tmp_path / "missing", "checkpoint": checkpoint}
    with ThreadPoolExecutor(len(BAD_INPUT)) as pool:  # most of each run is LeRobot's import
        results = list(pool.map(lambda c: run_module(c[0], *(a.format(**fill) for a in c[1]), cwd=tmp_path), BAD_INPUT))
    for (module, _, reason), proc in zip(BAD_INPUT, results, strict=True):
        assert proc.returncode == 2, (module, proc.stderr[-3000:])
        lines = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(lines) == 1 and reason.format(**fill) in lines[0], (module, proc.stderr[-3000:])
        assert "Traceback" not in proc.stderr


def wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("lerobot-recap-serve did not become healthy")


@pytest.mark.slow
def test_serve_command_answers_an_openpi_client_then_stops_on_ctrl_c(tmp_path, checkpoint):
    from lerobot_recap.serving.websocket_client import WebsocketPolicyClient
    from tests.serving.test_async_server import free_port

    port = free_port()
    env = cli_env(LEROBOT_RECAP_API_KEY="k3y")
    proc = subprocess.Popen(
        [sys.executable, "-m", SERVE, f"--policy.path={checkpoint}", "--policy.device=cpu", f"--port={port}",
         "--policy.inference_advantage=negative", "--observation.default_prompt=hand the cube over"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_healthy(port, proc)
        with WebsocketPolicyClient(f"127.0.0.1:{port}", api_key="k3y") as client:
            assert client.metadata["advantage"] == "negative" and client.metadata["default_prompt"] == "hand the cube over"
            obs = random_observation(np.random.default_rng(0), (4, 16))
            assert client.infer(obs)["actions"].shape == (4, 3)
        with pytest.raises(ConnectionError, match="HTTP 401"):
            WebsocketPolicyClient(f"127.0.0.1:{port}", api_key="wrong")
        out = tmp_path / "remote"
        written = run_module(REMOTE, f"--server=ws://127.0.0.1:{port}", f"--output_dir={out}")
        assert written.returncode == 2 and "HTTP 401" in written.stderr  # no key in the environment of that run
        env_run = subprocess.run([sys.executable, "-m", REMOTE, f"--server=ws://127.0.0.1:{port}", f"--output_dir={out}"],
                                 check=False, capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert env_run.returncode == 0, env_run.stderr[-3000:]
        assert json.loads((out / "config.json").read_text())["type"] == "recap_remote"
        assert (out / "policy_preprocessor.json").is_file() and '"policy_type": "pi06_recap"' in env_run.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    log = proc.stdout.read()
    assert proc.returncode == 0, log[-4000:]
    assert "Serving pi06_recap on ws://127.0.0.1" in log and "Stopped after 1 requests" in log
