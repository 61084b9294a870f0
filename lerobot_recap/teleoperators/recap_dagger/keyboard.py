"""Episode keys that work headless and over SSH: the terminal in cbreak mode, or a replayed script.

A daemon thread reads single characters from the controlling terminal (stdin) in cbreak mode (no Enter needed;
Ctrl-C still interrupts) and queues them; arrow keys and Esc arrive as the names ``right``/``left``/``up``/``down``
and ``esc``. The terminal settings are restored on close and at exit. If stdin is not a terminal the keyboard is
unavailable and recap_dagger says so once. End of input (the terminal went away) is reported as ``KEYBOARD_LOST``
so the robot pauses.

LeRobot 0.6.1's ``lerobot-record`` reads the same terminal for its own keys where ``pynput`` cannot capture
(headless, SSH, Wayland); recap_dagger then stops that reader and handles its keys here (see :mod:`.record_link`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import select
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

KEYBOARD_LOST = "<keyboard lost>"
"""Pseudo key reported once when the key source ends (EOF or a read error)."""
ESCAPE = "\x1b"
ARROW_FINAL_BYTES = {"A": "up", "B": "down", "C": "right", "D": "left"}
"""Final byte of a terminal arrow-key sequence (``ESC [ C`` or, in application cursor mode, ``ESC O C``)."""
SEQUENCE_WAIT_S = 0.02
"""How long to wait for the rest of an escape sequence before taking a lone ESC as the Esc key."""


def decode_keys(text: str) -> list[str]:
    """Terminal input -> key names: characters as they are, arrows as ``right``/..., a lone ESC as ``esc``.

    Other escape sequences (Alt+key, function keys) are dropped rather than read as Esc followed by characters.
    """
    keys: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != ESCAPE:
            if char.isprintable():
                keys.append(char)
            i += 1
            continue
        rest = text[i + 1 : i + 3]
        if not rest:
            keys.append("esc")
            i += 1
        elif rest[0] in "[O" and len(rest) == 2 and rest[1] in ARROW_FINAL_BYTES:
            keys.append(ARROW_FINAL_BYTES[rest[1]])
            i += 3
        else:
            i += 1  # some other sequence: skip it up to its final letter
            while i < len(text) and not text[i].isalpha() and text[i] != "~":
                i += 1
            i += 1
    return keys


class KeySource(Protocol):
    def poll(self) -> list[str]: ...

    def close(self) -> None: ...


class TerminalKeys:
    """Single keys from a terminal file descriptor (stdin by default) in cbreak mode."""

    def __init__(self, fd: int | None = None) -> None:
        import termios  # lazy: POSIX only
        import tty

        self._fd = sys.stdin.fileno() if fd is None else fd
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self._termios = termios
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recap-dagger-keys", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._fd, 32)
                if data:
                    data += self._rest_of_sequence(data)
            except OSError as err:
                logger.warning("keyboard read failed (%s)", err)
                self._queue.put(KEYBOARD_LOST)
                return
            if not data:
                self._queue.put(KEYBOARD_LOST)
                return
            for key in decode_keys(data.decode(errors="ignore")):
                self._queue.put(key)

    def _rest_of_sequence(self, data: bytes) -> bytes:
        """The bytes of an escape sequence that the read cut off (an arrow key split across reads)."""
        if not (data.endswith(b"\x1b") or data.endswith(b"\x1b[") or data.endswith(b"\x1bO")):
            return b""
        ready, _, _ = select.select([self._fd], [], [], SEQUENCE_WAIT_S)
        return os.read(self._fd, 32) if ready else b""

    def poll(self) -> list[str]:
        keys = []
        while True:
            try:
                keys.append(self._queue.get_nowait())
            except queue.Empty:
                return keys

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._termios.tcsetattr(self._fd, self._termios.TCSADRAIN, self._saved)
        except Exception:  # the terminal may already be gone at exit
            pass


class ReplayKeys:
    """Keys from a JSON script ``[{"tick": 12, "key": "s"}, ...]``; ``tick`` counts polls from 0."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        if not isinstance(script, list) or not all(isinstance(e, dict) and {"tick", "key"} <= e.keys() for e in script):
            raise ValueError('a keyboard replay script must be a JSON list of {"tick": int, "key": str} objects')
        self._script = sorted(script, key=lambda e: e["tick"])
        self._cursor = 0
        self._tick = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayKeys:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"keyboard replay file {path} does not exist: pass an existing JSON file")
        return cls(json.loads(path.read_text()))

    def poll(self) -> list[str]:
        keys = []
        while self._cursor < len(self._script) and self._script[self._cursor]["tick"] <= self._tick:
            keys.append(str(self._script[self._cursor]["key"]))
            self._cursor += 1
        self._tick += 1
        return keys

    def close(self) -> None:
        pass


class NoKeys:
    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def open_key_source(mode: str, replay_path: str | None) -> KeySource:
    """'auto': the terminal if stdin is one, else none; 'tty': the terminal or an error; 'none': no keys."""
    if replay_path:
        return ReplayKeys.from_file(replay_path)
    if mode == "none":
        return NoKeys()
    if sys.stdin is not None and sys.stdin.isatty():
        return TerminalKeys()
    if mode == "tty":
        raise RuntimeError(
            "recap_dagger keyboard='tty' but stdin is not a terminal: run lerobot-record in a terminal (ssh -t), "
            "or set --teleop.keyboard=none and end episodes with the timer"
        )
    logger.warning(
        "recap_dagger: stdin is not a terminal, so the episode keys (s/f/d/space/q) are off; "
        "episodes end by the timer with --teleop.timeout_outcome"
    )
    return NoKeys()
