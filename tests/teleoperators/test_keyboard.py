"""Episode keys from a real pseudo-terminal in cbreak mode (what an SSH session gives), and the replay script."""

from __future__ import annotations

import os
import time

import pytest

from lerobot_recap.teleoperators.recap_dagger.keyboard import KEYBOARD_LOST, ReplayKeys, TerminalKeys, open_key_source


def wait_for(source, n: int, timeout: float = 5.0) -> list[str]:
    keys: list[str] = []
    deadline = time.monotonic() + timeout
    while len(keys) < n and time.monotonic() < deadline:
        keys += source.poll()
        time.sleep(0.01)
    return keys


def test_terminal_keys_arrive_without_enter_and_loss_is_reported():
    import termios

    master, slave = os.openpty()
    keys = TerminalKeys(fd=slave)
    try:
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # cbreak: no line buffering
        os.write(master, b"s d")
        assert wait_for(keys, 3) == ["s", " ", "d"]
        os.close(master)  # the terminal goes away (SSH dropped)
        assert wait_for(keys, 1) == [KEYBOARD_LOST]
    finally:
        keys.close()
        os.close(slave)


def test_terminal_settings_are_restored():
    import termios

    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    keys = TerminalKeys(fd=slave)
    keys.close()
    assert termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)


def test_replay_keys_by_tick():
    keys = ReplayKeys([{"tick": 2, "key": "s"}, {"tick": 0, "key": "p"}, {"tick": 2, "key": "q"}])
    assert [keys.poll() for _ in range(3)] == [["p"], [], ["s", "q"]]


def test_tty_mode_without_a_terminal_is_a_clear_error(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(RuntimeError, match="stdin is not a terminal"):
        open_key_source("tty", None)
    assert open_key_source("auto", None).poll() == []
