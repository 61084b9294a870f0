"""Stage 0 end to end: stock lerobot-record + recap_dagger + a tiny pi06_recap + scripted pedal/keys -> annotate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data.metadata import load_recap_metadata

HERE = Path(__file__).parent
P, A, C = 0, 1, 2

# One tick = one get_action call of recap_dagger (pedal and keys are polled once per tick). Ticks run on through
# the reset phase between episodes, which stock record runs without recording frames.
PEDAL = [
    # episode 0: ticks 0-15
    (2, "KEY_A", 1), (3, "KEY_A", 0),  # resume -> AUTONOMOUS
    (7, "KEY_A", 1), (8, "KEY_A", 0),  # pause
    (9, "KEY_B", 1), (12, "KEY_B", 0),  # hold the correction pedal for three ticks
    (13, "KEY_A", 1), (14, "KEY_A", 0),  # resume
    # first try of episode 1: ticks 18-20, discarded; reset 21-22
    (19, "KEY_A", 1), (20, "KEY_A", 0),
    # episode 1: ticks 23-33
    (25, "KEY_B", 1), (29, "KEY_B", 0),
    (30, "KEY_A", 1), (31, "KEY_A", 0),
]
KEYS = [(15, "s"), (17, " "), (20, "d"), (22, " "), (33, "f")]
EXPECTED_PHASES = [
    [P, P, A, A, A, A, A, P, P, C, C, C, P, A, A, P],
    [P, P, C, C, C, C, P, A, A, A, P],
]


def run_record(tmp_path: Path, checkpoint: Path) -> Path:
    pedal = tmp_path / "pedal.json"
    pedal.write_text(json.dumps([{"tick": t, "key": k, "value": v} for t, k, v in PEDAL]))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"tick": t, "key": k} for t, k in KEYS]))
    root = tmp_path / "dagger"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_LEROBOT_HOME": str(tmp_path / "lerobot_home"),
        "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
        "DISPLAY": "",
    }
    cmd = [
        sys.executable,
        str(HERE / "record_driver.py"),
        "--robot.type=recap_observed",
        "--robot.robot.type=recap_test_sim_arm",
        "--teleop.type=recap_dagger",
        f"--teleop.policy_path={checkpoint}",
        "--teleop.leader.type=recap_test_sim_leader",
        f"--teleop.pedal.replay_path={pedal}",
        f"--teleop.keyboard_replay_path={keys}",
        "--teleop.resume_ramp_s=0",
        "--dataset.repo_id=local/dagger_test",
        f"--dataset.root={root}",
        "--dataset.single_task=hand the cube over",
        "--dataset.fps=30",
        "--dataset.episode_time_s=120",
        "--dataset.reset_time_s=120",
        "--dataset.num_episodes=2",
        "--dataset.video=false",
        "--dataset.push_to_hub=false",
        "--play_sounds=false",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root


def read_frames(root: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in sorted((root / "data").rglob("*.parquet"))]
    columns: dict[str, list] = {}
    for table in tables:
        for name in table.column_names:
            columns.setdefault(name, []).extend(table.column(name).to_pylist())
    return {k: np.asarray(v) for k, v in columns.items() if k != "observation.images.cam"}


@pytest.mark.slow
def test_stock_record_with_recap_dagger_then_annotate(tmp_path, tiny_pi06_checkpoint):
    root = run_record(tmp_path, tiny_pi06_checkpoint)

    info = json.loads((root / "meta" / "info.json").read_text())
    names = info["features"]["action"]["names"]
    assert names[:3] == ["j0.pos", "j1.pos", "j2.pos"]
    assert names[3:] == [
        "recap.intervention", "recap.phase", "recap.policy_valid",
        "recap.policy.j0.pos", "recap.policy.j1.pos", "recap.policy.j2.pos",
    ]  # fmt: skip
    assert info["total_episodes"] == 2  # the discarded try was re-recorded, not saved

    frames = read_frames(root)
    episodes = frames["episode_index"]
    action = np.stack(frames["action"])
    phase = np.concatenate([np.asarray(p) for p in EXPECTED_PHASES])
    assert np.bincount(episodes).tolist() == [len(p) for p in EXPECTED_PHASES]
    assert action[:, 4].astype(int).tolist() == phase.tolist()
    assert action[:, 3].tolist() == (phase == C).astype(float).tolist()

    executed, shadow, valid = action[:, :3], action[:, 6:9], action[:, 5]
    assert np.allclose(executed[phase == C], 0.7)  # the leader drove the corrections
    assert np.allclose(executed[phase == A], shadow[phase == A])  # the policy drove the autonomous frames
    assert (valid[phase != P] == 1).all() and (valid[phase == P] == 0).all()
    assert not np.allclose(shadow[phase == C], 0.7)  # the shadow policy's would-be action, not the leader's
    # Paused frames hold the last pose (checked within episodes: the discarded try moved the arm in between).
    held = np.flatnonzero((phase == P) & (frames["frame_index"] > 0))
    assert held.size == 8 and np.allclose(executed[held], executed[held - 1])
    assert np.allclose(executed[0], 0.0)

    recap = load_recap_metadata(root)
    assert {k: v.outcome.value for k, v in recap.episodes.items()} == {0: "success", 1: "failure"}
    assert {k: v.source.value for k, v in recap.episodes.items()} == {0: "correction", 1: "correction"}

    out = tmp_path / "dagger_recap"
    proc = subprocess.run(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_annotate", f"--root={root}", f"--output_root={out}"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    labeled = read_frames(out)
    assert labeled["intervention"].reshape(-1).tolist() == (phase == C).astype(int).tolist()
    assert labeled["adv_ind"].reshape(-1).tolist() == (phase == C).astype(int).tolist()  # stage 1: human = +1
    reward = labeled["reward"].reshape(-1)
    assert reward.tolist() == [0.0] * 15 + [1.0] + [0.0] * 11
    value = labeled["value_label"].reshape(-1)
    assert (value <= 0).all() and (value >= -1).all()
    assert value[15] == 0.0 and value[-1] < 0  # success ends at 0, failure ends with the penalty
    assert "recap.intervention" not in json.loads((out / "meta" / "info.json").read_text())["features"]["action"]["names"]
