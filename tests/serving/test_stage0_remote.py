"""Stage 0 and robot evaluation with the policy on a server: stock lerobot-record (recap_dagger) and lerobot-rollout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
    RecapRemoteConfig,
)
from lerobot_recap.serving.recap_remote.modeling_recap_remote import (
    write_remote_policy_folder,
)
from lerobot_recap.serving.websocket_server import RunningServer, WebsocketPolicyServer
from tests.conftest import recording_env
from tests.serving.test_remote_policy import RecordingPolicy

TELEOP_TESTS = Path(__file__).resolve().parents[1] / "teleoperators"
P, A, C = 0, 1, 2
# One episode of tests/teleoperators/test_stage0_record.py's script: resume, pause, a held correction, resume, success.
PEDAL = [(2, "KEY_A", 1), (3, "KEY_A", 0), (7, "KEY_A", 1), (8, "KEY_A", 0), (9, "KEY_B", 1), (12, "KEY_B", 0),
         (13, "KEY_A", 1), (14, "KEY_A", 0)]  # fmt: skip
KEYS = [(15, "s")]
PHASES = [P, P, A, A, A, A, A, P, P, C, C, C, P, A, A, P]


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return recording_env(tmp_path, PATH=path, **extra)


def rows_of(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks).astype(np.float32)


@pytest.mark.slow
def test_stock_record_with_recap_dagger_and_the_policy_on_a_server(tmp_path, served):
    recording = RecordingPolicy(served)
    with RunningServer(WebsocketPolicyServer(recording, port=0, api_key="k3y")) as running:
        folder = write_remote_policy_folder(RecapRemoteConfig(server=running.url), tmp_path / "remote_policy")
        pedal, keys = tmp_path / "pedal.json", tmp_path / "keys.json"
        pedal.write_text(json.dumps([{"tick": t, "key": k, "value": v} for t, k, v in PEDAL]))
        keys.write_text(json.dumps([{"tick": t, "key": k} for t, k in KEYS]))
        root = tmp_path / "dagger"
        cmd = [
            sys.executable, str(TELEOP_TESTS / "record_driver.py"),
            "--robot.type=recap_observed", "--robot.robot.type=recap_test_sim_arm",
            "--teleop.type=recap_dagger", f"--teleop.policy_path={folder}",
            "--teleop.leader.type=recap_test_sim_leader", f"--teleop.pedal.replay_path={pedal}",
            f"--teleop.keyboard_replay_path={keys}", "--teleop.resume_ramp_s=0",
            "--dataset.repo_id=local/dagger_remote", f"--dataset.root={root}",
            "--dataset.single_task=hand the cube over", "--dataset.fps=30", "--dataset.episode_time_s=120",
            "--dataset.reset_time_s=0", "--dataset.num_episodes=1", "--dataset.video=false",
            "--dataset.push_to_hub=false", "--play_sounds=false",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, check=False, env=subprocess_env(tmp_path, LEROBOT_RECAP_API_KEY="k3y"), capture_output=True, text=True,
            timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    import pyarrow.parquet as pq

    table = pq.read_table(next((root / "data").rglob("*.parquet")))
    action = np.stack(table.column("action").to_pylist()).astype(np.float32)
    phase = np.asarray(PHASES)
    assert action[:, 4].astype(int).tolist() == phase.tolist()
    executed, valid, shadow = action[:, :3], action[:, 5], action[:, 6:9]
    assert np.allclose(executed[phase == C], 0.7)  # the leader drove the corrections
    assert np.array_equal(executed[phase == A], shadow[phase == A])  # the served policy drove the autonomous frames
    # Every would-be action recorded is a row of a chunk the server sent (the policy ran on the server only).
    served_rows = rows_of(recording.chunks)
    for row in shadow[valid == 1]:
        assert np.isclose(served_rows, row, rtol=0, atol=1e-6).all(axis=1).any(), row
    assert len(recording.chunks) >= 2 and all(o["prompt"] == "hand the cube over" for o in recording.observations)
    assert load_recap_metadata(root).episodes[0].outcome.value == "success"


@pytest.mark.slow
def test_stock_lerobot_rollout_with_the_policy_on_a_server_on_the_simulated_yam(tmp_path):
    """``lerobot-rollout --policy.type=recap_remote --policy.server=...`` on yam_bimanual's sim backend."""
    from lerobot.configs.policies import PreTrainedConfig

    from lerobot_recap.serving.served_policy import ServedPolicy
    from tests.tiny_pi06 import build_tiny_pi06_checkpoint

    cameras = {name: (24, 32, 3) for name in ("top", "left_wrist", "right_wrist")}
    checkpoint = build_tiny_pi06_checkpoint(tmp_path / "ckpt", 14, cameras, device="cpu", delta_actions=True)
    config = PreTrainedConfig.from_pretrained(checkpoint)
    config.pretrained_path, config.device = checkpoint, "cpu"
    recording = RecordingPolicy(ServedPolicy.from_config(config))
    root = tmp_path / "eval"
    sim_cameras = ", ".join(f"{n}: {{type: recap_sim, width: 32, height: 24, fps: 30, seed: {i}}}" for i, n in enumerate(cameras))
    with RunningServer(WebsocketPolicyServer(recording, port=0)) as running:
        cmd = [
            "lerobot-rollout", "--strategy.type=episodic", "--policy.type=recap_remote",
            f"--policy.server={running.url}", "--robot.type=yam_bimanual", "--robot.backend=sim",
            "--robot.id=remote_eval", f"--robot.cameras={{{sim_cameras}}}", "--fps=30",
            "--dataset.repo_id=local/rollout_remote_eval", "--dataset.no_stamp=true", f"--dataset.root={root}",
            "--dataset.single_task=hand the cube over", "--dataset.fps=30", "--dataset.num_episodes=1",
            "--dataset.episode_time_s=2", "--dataset.reset_time_s=0", "--dataset.push_to_hub=false",
            "--dataset.video=false", "--play_sounds=false", "--return_to_initial_position=false",
        ]  # fmt: skip
        proc = subprocess.run(cmd, check=False, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)  # fmt: skip
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "Policy loaded: type=recap_remote" in log and "Rollout finished" in log
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1 and info["total_frames"] > 0
    # The rollout's requests carried all three YAM cameras by their own names, and the actions came from the server.
    assert recording.observations and sorted(recording.observations[0]["images"]) == sorted(cameras)
    import pyarrow.parquet as pq

    table = pq.read_table(next((root / "data").rglob("*.parquet")))
    action = np.stack(table.column("action").to_pylist()).astype(np.float32)
    served_rows = rows_of(recording.chunks)
    assert all(np.isclose(served_rows, row, rtol=0, atol=1e-5).all(axis=1).any() for row in action)
