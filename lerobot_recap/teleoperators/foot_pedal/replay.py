"""A scripted pedal: replays key events from a JSON file through the same reader as a real device.

Used for dry runs without hardware and by the stage-0 end-to-end test. The file is a list of
``{"tick": <poll index>, "key": "KEY_B", "value": 1}`` (value 1 press, 0 release, 2 repeat); ``tick`` counts the
reader's polls (one per control-loop tick), starting at 0. Events come out as real ``evdev.InputEvent`` objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lerobot_recap.teleoperators.foot_pedal.pedal_reader import EV_KEY, resolve_key_code


class ReplayPedalDevice:
    """``read_one()`` yields the scripted events of the current tick, then ``None`` (which ends the tick)."""

    name = "replayed foot pedal"

    def __init__(self, script: list[dict[str, Any]]) -> None:
        from evdev import InputEvent  # lazy: evdev is Linux-only and optional

        self._event_cls = InputEvent
        self._script = sorted(_validate(script), key=lambda e: e["tick"])
        self._cursor = 0
        self._tick = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayPedalDevice:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pedal replay file {path} does not exist: pass an existing JSON file")
        return cls(json.loads(path.read_text()))

    def read_one(self) -> Any:
        if self._cursor < len(self._script) and self._script[self._cursor]["tick"] <= self._tick:
            entry = self._script[self._cursor]
            self._cursor += 1
            sec, usec = divmod(int(entry["tick"]) * 1000, 1_000_000)
            return self._event_cls(sec, usec, EV_KEY, resolve_key_code(entry["key"]), int(entry["value"]))
        self._tick += 1
        return None

    def close(self) -> None:
        pass


def _validate(script: Any) -> list[dict[str, Any]]:
    if not isinstance(script, list):
        raise ValueError("a pedal replay script must be a JSON list of {tick, key, value} objects")
    for entry in script:
        if not isinstance(entry, dict) or not {"tick", "key", "value"} <= entry.keys():
            raise ValueError(f"pedal replay entry {entry!r} needs 'tick', 'key' and 'value'")
        if entry["value"] not in (0, 1, 2):
            raise ValueError(f"pedal replay entry {entry!r}: value must be 0 (release), 1 (press) or 2 (repeat)")
    return list(script)
