"""Find the stock ``lerobot-record`` loop that is calling the teleop, to end episodes from the keyboard.

Stock ``record_loop`` polls a plain ``events`` dict (``exit_early``, ``rerecord_episode``, ``stop_recording``) that
only its pynput listener sets, and pynput does not run headless or over SSH. ``recap_dagger.get_action()`` is
called by that loop, so it finds the loop's frame on the call stack and sets the same flags the arrow keys set:
success/failure end the episode (``exit_early``), discard re-records it (``rerecord_episode``), quit stops
(``stop_recording``). It also reads, without changing them, the loop's ``dataset`` (root and the index of the
episode being recorded; ``None`` during the reset phase), ``fps`` and ``single_task``.

Why the call stack, and not a documented channel: in LeRobot 0.4.4 there is none.

* ``events`` is a local of ``record()``, made by ``init_keyboard_listener()`` and handed only to ``record_loop``
  and to the pynput listener's callback. Neither the robot nor the teleop ever receives it; the only other way to
  set it is a key press seen by pynput, which needs a desktop session (not SSH, not headless).
* The ``dataset`` is a local too. Its root could be re-derived from ``--dataset.root`` / ``--dataset.repo_id``, but
  the index of the episode in flight (after re-records, with ``--resume=true``) is known only to the live object,
  and the outcome must be stored under that index.
* The ``recap_observed`` robot wrapper sees every frame (``get_observation`` / ``send_action``), but none of the
  above; HIL-SERL's ``TeleopEvents`` (``get_teleop_events``) are read by ``gym_manipulator``, never by
  ``lerobot-record``. LeRobot 0.6 added ``lerobot-rollout --strategy.type=dagger``; 0.4.4 has nothing like it.

So this module is the one place that depends on ``record_loop``'s local names, and it fails loudly: a
``record_loop`` of ``lerobot.scripts.lerobot_record`` whose locals are not what 0.4.4 has raises
:class:`RecordLoopMismatch` (at the first tick, while the robot is still PAUSED) naming what differs, and a teleop
called from anywhere else gets ``None``, which recap_dagger reports as an error once (keys can then only pause).
Nothing in LeRobot is patched or replaced: only the flags the loop already polls are set.
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
    """Identifies one call of record_loop (its start time) - a new value means a new episode or reset phase."""

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


class RecordLoopMismatch(RuntimeError):
    """A stock record_loop is calling, but not the 0.4.4 one this module reads (its locals differ)."""


EXPECTED_EVENTS = ("exit_early", "rerecord_episode", "stop_recording")
"""The flags of record_loop's ``events`` dict that recap_dagger sets."""
EXPECTED_DATASET_ATTRIBUTES = ("root", "num_episodes")
"""What recap_dagger reads from record_loop's ``dataset`` (when it records, not in the reset phase)."""


def find_record_loop(start_depth: int = 1) -> RecordLoopContext | None:
    """The nearest stock ``record_loop`` frame above the caller; ``None`` when there is none.

    Raises :class:`RecordLoopMismatch` when the frame is there but its locals are not the ones this reads.
    """
    try:
        frame = sys._getframe(start_depth)
    except ValueError:
        return None
    depth = 0
    while frame is not None and depth < MAX_DEPTH:
        if frame.f_code.co_name == RECORD_LOOP_NAME and _is_record_module(frame):
            return _context_from_locals(frame.f_locals)
        frame = frame.f_back
        depth += 1
    return None


def _context_from_locals(local: dict[str, Any]) -> RecordLoopContext:
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
        raise RecordLoopMismatch(
            f"recap_dagger reads stock lerobot-record's record_loop (written against LeRobot 0.4.4), but the "
            f"installed LeRobot {_lerobot_version()} differs: {'; '.join(problems)}. Episode keys and outcomes "
            "cannot work: install lerobot==0.4.4, or update lerobot_recap/teleoperators/recap_dagger/record_link.py"
        )
    return RecordLoopContext(
        events=events,
        dataset=dataset,
        fps=fps,
        single_task=local.get("single_task"),
        loop_id=local["start_episode_t"],
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


def _is_record_module(frame: Any) -> bool:
    # By module name (the lerobot-record console script) or by file (python -m runs it as __main__).
    if frame.f_globals.get("__name__") == RECORD_MODULE:
        return True
    return frame.f_code.co_filename.replace("\\", "/").endswith(RECORD_FILE_SUFFIX)
