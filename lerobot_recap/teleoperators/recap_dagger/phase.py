"""The DAgger phase machine: AUTONOMOUS / PAUSED / CORRECTING, as in limb's ``DAggerEvents``.

* ``PAUSE_RESUME`` toggles AUTONOMOUS <-> PAUSED (left pedal, or the ``p`` key);
* ``CORRECTION`` toggles PAUSED <-> CORRECTING (right pedal, or ``c``); in the pedal's hold mode the press enters
  and the release leaves CORRECTING (``CORRECTION_START`` / ``CORRECTION_END``);
* AUTONOMOUS <-> CORRECTING directly is refused: the operator pauses first, so the leader is never handed a moving
  robot and the policy never takes over from under the operator's hands;
* ``SAFETY_PAUSE`` (pedal or keyboard lost, policy error, episode end) goes to PAUSED from anywhere.

Every event is applied in order (several per tick are fine), and each attempt yields a :class:`Transition` that says
whether it was accepted and why not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Phase(IntEnum):
    """Who drives. The integer is what lands in the dataset's ``recap.phase`` dimension."""

    PAUSED = 0
    AUTONOMOUS = 1
    CORRECTING = 2


class PhaseEvent(str, Enum):
    PAUSE_RESUME = "pause_resume"
    CORRECTION = "correction"
    CORRECTION_START = "correction_start"
    CORRECTION_END = "correction_end"
    SAFETY_PAUSE = "safety_pause"


@dataclass(frozen=True)
class Transition:
    event: PhaseEvent
    before: Phase
    after: Phase
    accepted: bool
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _next_phase(phase: Phase, event: PhaseEvent) -> tuple[Phase, str]:
    """The phase after ``event`` and, when the event is refused, why (``after == phase`` then)."""
    if event is PhaseEvent.SAFETY_PAUSE:
        return Phase.PAUSED, ""
    if event is PhaseEvent.PAUSE_RESUME:
        if phase is Phase.AUTONOMOUS:
            return Phase.PAUSED, ""
        if phase is Phase.PAUSED:
            return Phase.AUTONOMOUS, ""
        return phase, "pause/resume ignored while CORRECTING: end the correction first (back to PAUSED)"
    enter = event in (PhaseEvent.CORRECTION, PhaseEvent.CORRECTION_START)
    leave = event in (PhaseEvent.CORRECTION, PhaseEvent.CORRECTION_END)
    if phase is Phase.PAUSED and enter:
        return Phase.CORRECTING, ""
    if phase is Phase.CORRECTING and leave:
        return Phase.PAUSED, ""
    if phase is Phase.AUTONOMOUS and enter:
        return phase, "correction ignored while AUTONOMOUS: pause the policy first (no direct AUTONOMOUS->CORRECTING)"
    return phase, f"{event.value} has no effect in {phase.name}"


class PhaseMachine:
    """Holds the current phase; boots PAUSED unless told otherwise (never AUTONOMOUS by surprise)."""

    def __init__(self, initial: Phase = Phase.PAUSED) -> None:
        self.phase = Phase(initial)

    def apply(self, event: PhaseEvent) -> Transition:
        before = self.phase
        after, reason = _next_phase(before, event)
        self.phase = after
        return Transition(event, before, after, accepted=not reason, reason=reason)

    def apply_all(self, events: list[PhaseEvent]) -> list[Transition]:
        return [self.apply(event) for event in events]
