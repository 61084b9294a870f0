"""Episode keys from a real pseudo-terminal in cbreak mode (what an SSH session gives), and the replay script."""

from __future__ import annotations

import os
import time

import pytest

from lerobot_recap.teleoperators.recap_dagger.keyboard import (
    KEYBOARD_LOST,
    ReplayKeys,
    TerminalKeys,
    decode_keys,
    open_key_source,
)


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


def test_arrow_keys_and_esc_have_names_like_lerobots():
    assert decode_keys("s\x1b[Cf\x1bOD") == ["s", "right", "f", "left"]  # CSI and SS3 (application mode) arrows
    assert decode_keys("\x1b") == ["esc"]  # a lone ESC is the Esc key
    assert decode_keys("\x1b[2~p\x1bxq\n") == ["p", "q"]  # Insert, Alt+x and Enter are no keys here


def test_an_arrow_split_across_reads_is_still_an_arrow():
    master, slave = os.openpty()
    keys = TerminalKeys(fd=slave)
    try:
        os.write(master, b"\x1b")
        time.sleep(0.005)  # within the wait for the rest of a sequence
        os.write(master, b"[D")
        assert wait_for(keys, 1) == ["left"]
        time.sleep(0.1)
        assert keys.poll() == []
    finally:
        keys.close()
        os.close(master)
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
