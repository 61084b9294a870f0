"""Find the stock ``lerobot-record`` loop that is calling the teleop, to end episodes from the keyboard.

Stock ``record_loop`` (``lerobot/scripts/lerobot_record.py`` in LeRobot 0.6.1) polls a plain ``events`` dict
(``exit_early``, ``rerecord_episode``, ``stop_recording``) that only ``record()``'s own keyboard listener sets.
``recap_dagger.get_action()`` is called by that loop, so it finds the loop's frame on the call stack and sets the
same flags LeRobot's keys set: success/failure end the episode (``exit_early``), discard re-records it
(``rerecord_episode``), quit stops (``stop_recording``). It also reads, without changing them, the loop's
``dataset`` (root and the index of the episode being recorded; ``None`` during the reset phase), ``fps``,
``single_task`` and ``start_episode_t`` (one value per call of the loop: a new one is a new episode or reset phase),
and the ``listener`` local of ``record()``, the loop's caller: LeRobot's keyboard listener.

Why the call stack, and not a documented channel: LeRobot 0.6.1 has none for a teleop.

* ``events`` is a local of ``record()``, made by ``init_keyboard_listener()`` and handed only to ``record_loop``
  and to the listener's callback. Neither the robot nor the teleop ever receives it.
* The ``dataset`` is a local too. Its root could be re-derived from ``--dataset.root`` / ``--dataset.repo_id``
  (0.6.1 appends a date to the repo id unless ``--dataset.no_stamp``), but the index of the episode in flight
  (after re-records, with ``--resume=true``) is known only to the live object, and the outcome must be stored
  under that index.
* The ``recap_observed`` robot wrapper sees every frame (``get_observation`` / ``send_action``), but none of the
  above. ``lerobot-rollout --strategy.type=dagger`` (new in 0.6) runs its own phase machine with a stock
  teleop; it has no success/failure outcome, no task-attempt episodes and no way to plug in another strategy.

The keyboard listener: in 0.6.1, where ``pynput`` cannot capture keys (no X display, Wayland, SSH) and stdin is a
terminal, ``record()`` reads the controlling terminal itself (``TerminalKeyListener``, keys n/r/q and the
arrows). recap_dagger reads the same terminal for its own keys, and two readers of one terminal split the
keystrokes between them at random (a lost ``s`` turns a success into a timeout). So when recap_dagger reads the
terminal, :meth:`RecordLoopContext.take_over_terminal_keys` stops LeRobot's terminal listener through its own
``stop()`` (which also restores the terminal settings it saved), and recap_dagger honours LeRobot's keys in its
place. A ``pynput`` listener reads X events, not the terminal, and is left running.

So this module is the one place that depends on ``record_loop``'s and ``record()``'s local names, and it fails
loudly: a ``record_loop`` of ``lerobot.scripts.lerobot_record`` whose locals are not those of LeRobot 0.6.1, or a
stock ``record()`` above it without its ``listener``, raises :class:`RecordLoopMismatch` (at the first tick, while
the robot is still PAUSED) naming what differs, and a teleop called from anywhere else gets ``None``, which
recap_dagger reports as an error once (keys can then only pause). Nothing in LeRobot is patched or replaced: the
flags the loop already polls are set, and the listener is stopped through its public method.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

RECORD_MODULE = "lerobot.scripts.lerobot_record"
RECORD_FILE_SUFFIX = "lerobot/scripts/lerobot_record.py"
RECORD_LOOP_NAME = "record_loop"
RECORD_NAME = "record"
"""The function of the record module that calls ``record_loop`` and holds the keyboard listener."""
WRITTEN_FOR = "LeRobot 0.6.1"
"""The LeRobot release whose ``record_loop`` / ``record()`` locals this module reads."""
MAX_DEPTH = 12
CALLER_DEPTH = 4
"""How far above ``record_loop`` to look for ``record()`` (0.6.1 has one decorator frame in between)."""
NOT_FOUND = object()
"""``record()`` was not found above the loop (a custom recorder calling stock record_loop)."""


@dataclass
class RecordLoopContext:
    """What recap_dagger needs from the stock loop that is calling it."""

    events: dict[str, bool]
    dataset: Any
    fps: int | None
    single_task: str | None
    loop_id: float
    """Identifies one call of record_loop (its start time) - a new value means a new episode or reset phase."""
    key_listener: Any = None
    """LeRobot's keyboard listener of the calling ``record()`` (None where there is none or no record() called)."""

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

    @property
    def rerecord_requested(self) -> bool:
        """The last episode was discarded (LeRobot's left arrow / r, or recap_dagger's d): it will be re-recorded."""
        return bool(self.events.get("rerecord_episode"))

    def end_episode(self) -> None:
        self.events["exit_early"] = True

    def discard_episode(self) -> None:
        self.events["rerecord_episode"] = True
        self.events["exit_early"] = True

    def stop_recording(self) -> None:
        self.events["stop_recording"] = True
        self.events["exit_early"] = True

    def take_over_terminal_keys(self) -> bool:
        """Stop LeRobot's terminal key listener, if record() runs one; True when one was stopped.

        Call it only when recap_dagger reads the terminal itself (and then handle LeRobot's keys there).
        """
        listener = self.key_listener
        if listener is None:
            return False
        from lerobot.utils.keyboard_input import TerminalKeyListener

        if not isinstance(listener, TerminalKeyListener):
            return False  # pynput reads X events, not the terminal: both see every key, no conflict
        listener.stop()  # idempotent; restores the terminal settings it saved; record() calls it again at exit
        self.key_listener = None
        return True


class RecordLoopMismatch(RuntimeError):
    """A stock record_loop is calling, but not the LeRobot 0.6.1 one this module reads (its locals differ)."""


EXPECTED_EVENTS = ("exit_early", "rerecord_episode", "stop_recording")
"""The flags of record_loop's ``events`` dict that recap_dagger sets."""
EXPECTED_DATASET_ATTRIBUTES = ("root", "num_episodes")
"""What recap_dagger reads from record_loop's ``dataset`` (when it records, not in the reset phase)."""


def find_record_loop(start_depth: int = 1) -> RecordLoopContext | None:
    """The nearest stock ``record_loop`` frame above the caller; ``None`` when there is none.

    Raises :class:`RecordLoopMismatch` when the frame is there but its locals (or those of the stock ``record()``
    above it) are not the ones this reads.
    """
    try:
        frame: FrameType | None = sys._getframe(start_depth)
    except ValueError:
        return None
    depth = 0
    while frame is not None and depth < MAX_DEPTH:
        if frame.f_code.co_name == RECORD_LOOP_NAME and _is_record_module(frame):
            return _context_from_locals(frame.f_locals, _record_listener(frame))
        frame = frame.f_back
        depth += 1
    return None


def _record_listener(loop_frame: FrameType) -> Any:
    """The ``listener`` local of the stock ``record()`` above the loop; NOT_FOUND when no such frame."""
    frame = loop_frame.f_back
    for _ in range(CALLER_DEPTH):
        if frame is None:
            break
        if frame.f_code.co_name == RECORD_NAME and _is_record_module(frame):
            local = frame.f_locals
            if "listener" not in local:
                problem = "`record()` (which calls record_loop) should have a `listener` local, it has none"
                raise RecordLoopMismatch(_mismatch([problem]))
            return local["listener"]
        frame = frame.f_back
    return NOT_FOUND


def _context_from_locals(local: dict[str, Any], listener: Any = NOT_FOUND) -> RecordLoopContext:
    events = local.get("events")
    dataset = local.get("dataset")
    problems = []
    if not isinstance(events, dict) or not all(key in events for key in EXPECTED_EVENTS):
        problems.append(f"`events` should be a dict with {list(EXPECTED_EVENTS)}, got {_describe(events)}")
    if dataset is not None and not all(hasattr(dataset, name) for name in EXPECTED_DATASET_ATTRIBUTES):
        problems.append(f"`dataset` should have {list(EXPECTED_DATASET_ATTRIBUTES)}, got {type(dataset).__name__}")
    fps = local.get("fps")
    if fps is not None and not isinstance(fps, int):
        problems.append(f"`fps` should be an int, got {_describe(fps)}")
    if not isinstance(local.get("start_episode_t"), float):
        started = _describe(local.get("start_episode_t"))
        problems.append(f"`start_episode_t` (when the segment began) should be a float, got {started}")
    if problems:
        raise RecordLoopMismatch(_mismatch(problems))
    return RecordLoopContext(
        events=events,
        dataset=dataset,
        fps=fps,
        single_task=local.get("single_task"),
        loop_id=local["start_episode_t"],
        key_listener=None if listener is NOT_FOUND else listener,
    )


def _mismatch(problems: list[str]) -> str:
    return (
        f"recap_dagger reads stock lerobot-record's record_loop (written against {WRITTEN_FOR}), but the installed "
        f"LeRobot {_lerobot_version()} differs: {'; '.join(problems)}. Episode keys and outcomes cannot work: "
        "install lerobot-recap's supported LeRobot (pip install 'lerobot>=0.6.1,<0.7'), or update "
        "lerobot_recap/teleoperators/recap_dagger/record_link.py"
    )


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a dict with {sorted(value)}"
    return type(value).__name__


def _lerobot_version() -> str:
    try:
        from importlib.metadata import version

        return version("lerobot")
    except Exception:  # noqa: BLE001  (only for the message)
        return "(unknown version)"


def _is_record_module(frame: FrameType) -> bool:
    # By module name (the lerobot-record console script) or by file (python -m runs it as __main__).
    if frame.f_globals.get("__name__") == RECORD_MODULE:
        return True
    return frame.f_code.co_filename.replace("\\", "/").endswith(RECORD_FILE_SUFFIX)
