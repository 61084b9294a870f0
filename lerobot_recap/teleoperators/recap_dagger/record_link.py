"""Find the stock ``lerobot-record`` loop that is calling the teleop, to end episodes from the keyboard.

Stock ``record_loop`` polls a plain ``events`` dict (``exit_early``, ``rerecord_episode``, ``stop_recording``) that
only its pynput listener sets, and pynput does not run headless or over SSH. ``recap_dagger.get_action()`` is
called by that loop, so it finds the loop's frame on the call stack and sets the same flags the arrow keys set:
success/failure end the episode (``exit_early``), discard re-records it (``rerecord_episode``), quit stops
(``stop_recording``). It also reads, without changing them, the loop's ``dataset`` (root and the index of the
episode being recorded; ``None`` during the reset phase), ``fps`` and ``single_task``.

Nothing in LeRobot is patched or replaced: only the flags the loop already polls are set. If the loop is not
found (another recorder, a LeRobot version whose loop differs), :func:`find_record_loop` returns ``None`` and
recap_dagger falls back to holding PAUSED until the recorder ends the episode, with a warning.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_MODULE = "lerobot.scripts.lerobot_record"
RECORD_FILE_SUFFIX = "lerobot/scripts/lerobot_record.py"
RECORD_LOOP_NAME = "record_loop"
MAX_DEPTH = 12


@dataclass
class RecordLoopContext:
    """What recap_dagger needs from the stock loop that is calling it."""

    events: dict[str, bool]
    dataset: Any
    fps: int | None
    single_task: str | None
    loop_id: float
    """Identifies one call of record_loop (its start time): a new value means a new episode or reset phase."""

    @property
    def recording(self) -> bool:
        """True in an episode, False in the reset phase (record_loop runs without a dataset there)."""
        return self.dataset is not None

    @property
    def dataset_root(self) -> Path | None:
        return Path(self.dataset.root) if self.dataset is not None else None

    @property
    def episode_index(self) -> int | None:
        """Index the episode being recorded will get at save time (the number of episodes saved so far)."""
        return int(self.dataset.num_episodes) if self.dataset is not None else None

    def end_episode(self) -> None:
        self.events["exit_early"] = True

    def discard_episode(self) -> None:
        self.events["rerecord_episode"] = True
        self.events["exit_early"] = True

    def stop_recording(self) -> None:
        self.events["stop_recording"] = True
        self.events["exit_early"] = True


def find_record_loop(start_depth: int = 1) -> RecordLoopContext | None:
    """The nearest stock ``record_loop`` frame above the caller, or ``None``."""
    try:
        frame = sys._getframe(start_depth)
    except ValueError:
        return None
    depth = 0
    while frame is not None and depth < MAX_DEPTH:
        if frame.f_code.co_name == RECORD_LOOP_NAME and _is_record_module(frame):
            local = frame.f_locals
            events = local.get("events")
            if isinstance(events, dict) and "exit_early" in events:
                return RecordLoopContext(
                    events=events,
                    dataset=local.get("dataset"),
                    fps=local.get("fps"),
                    single_task=local.get("single_task"),
                    loop_id=float(local.get("start_episode_t", 0.0)),
                )
            return None
        frame = frame.f_back
        depth += 1
    return None


def _is_record_module(frame: Any) -> bool:
    # By module name (the lerobot-record console script) or by file (python -m runs it as __main__).
    if frame.f_globals.get("__name__") == RECORD_MODULE:
        return True
    return frame.f_code.co_filename.replace("\\", "/").endswith(RECORD_FILE_SUFFIX)
