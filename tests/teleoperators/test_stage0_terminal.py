"""Stage 0 over a terminal, as over SSH: stock lerobot-record on a pseudo-terminal, keys typed into it.

LeRobot 0.6.1's lerobot-record reads the terminal itself when no display can be captured; recap_dagger reads it
too. Every key typed must reach recap_dagger (none lost to the other reader), LeRobot's own keys must keep working,
and the terminal must be left as it was found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TOGGLES = 6


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="ignore"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log:\n{log.read_text(errors='ignore')[-4000:]}")


def type_keys(master: int, keys: list[bytes], gap_s: float = 0.15) -> None:
    for key in keys:
        os.write(master, key)
        time.sleep(gap_s)


@pytest.mark.slow
def test_every_typed_key_reaches_recap_dagger_and_the_terminal_is_restored(tmp_path):
    import termios

    import pyarrow.parquet as pq

    from lerobot_recap.data.metadata import load_recap_metadata

    root, log = tmp_path / "dagger", tmp_path / "record.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_LEROBOT_HOME": str(tmp_path / "lerobot_home"),
        "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
    }
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):  # headless, as over SSH: lerobot-record reads the terminal
        env.pop(name, None)
    cmd = [
        sys.executable,
        str(HERE / "record_driver.py"),
        "--robot.type=recap_observed",
        "--robot.robot.type=recap_test_sim_arm",
        "--teleop.type=recap_dagger",
        "--teleop.leader.type=recap_test_sim_leader",
        "--teleop.use_pedal=false",
        "--teleop.keyboard=tty",
        "--dataset.repo_id=local/dagger_terminal",
        f"--dataset.root={root}",
        "--dataset.single_task=hand the cube over",
        "--dataset.fps=30",
        "--dataset.episode_time_s=60",
        "--dataset.reset_time_s=60",
        "--dataset.num_episodes=2",
        "--dataset.video=false",
        "--dataset.push_to_hub=false",
        "--play_sounds=false",
    ]
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdin=slave, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_line(log, "episode 0 starts PAUSED", proc)
        type_keys(master, [b"c"] * TOGGLES + [b"s"])  # corrections on and off, then success
        wait_for_line(log, "reset phase", proc)
        type_keys(master, [b"\x1b[C"])  # LeRobot's right arrow ends the reset phase
        wait_for_line(log, "episode 1 starts PAUSED", proc)
        type_keys(master, [b"c", b"f"])
        assert proc.wait(timeout=240) == 0, log.read_text(errors="ignore")[-4000:]
        after = termios.tcgetattr(slave)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)

    text = log.read_text(errors="ignore")
    assert "lerobot-record's own terminal key reader is stopped" in text
    assert text.count("(key c)") == TOGGLES + 1  # not one keystroke lost to the other reader
    assert after == before  # echo and line mode are back

    recap = load_recap_metadata(root)
    assert {k: v.outcome.value for k, v in recap.episodes.items()} == {0: "success", 1: "failure"}
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2
    names = info["features"]["action"]["names"]
    phases = [row[names.index("recap.phase")] for p in sorted((root / "data").rglob("*.parquet"))
              for row in pq.read_table(p).column("action").to_pylist()]
    assert 2.0 in phases  # the corrections were recorded
