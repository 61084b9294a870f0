"""Every (phase, event) pair of the DAgger phase machine."""

from __future__ import annotations

import itertools

import pytest

from lerobot_recap.teleoperators.recap_dagger.phase import Phase, PhaseEvent, PhaseMachine

A, P, C = Phase.AUTONOMOUS, Phase.PAUSED, Phase.CORRECTING
E = PhaseEvent

EXPECTED = {
    (A, E.PAUSE_RESUME): P,
    (P, E.PAUSE_RESUME): A,
    (C, E.PAUSE_RESUME): C,
    (A, E.CORRECTION): A,
    (P, E.CORRECTION): C,
    (C, E.CORRECTION): P,
    (A, E.CORRECTION_START): A,
    (P, E.CORRECTION_START): C,
    (C, E.CORRECTION_START): C,
    (A, E.CORRECTION_END): A,
    (P, E.CORRECTION_END): P,
    (C, E.CORRECTION_END): P,
    (A, E.SAFETY_PAUSE): P,
    (P, E.SAFETY_PAUSE): P,
    (C, E.SAFETY_PAUSE): P,
}


def test_table_covers_every_pair():
    assert set(EXPECTED) == set(itertools.product(Phase, PhaseEvent))


@pytest.mark.parametrize(("start", "event"), sorted(EXPECTED, key=lambda k: (k[0], k[1].value)))
def test_transition(start, event):
    machine = PhaseMachine(start)
    transition = machine.apply(event)
    assert machine.phase == EXPECTED[(start, event)]
    assert transition.before == start and transition.after == machine.phase
    # Safety pause is always accepted; any other event is accepted exactly when it changes the phase.
    assert transition.accepted == (event is E.SAFETY_PAUSE or start != machine.phase)
    assert bool(transition.reason) == (not transition.accepted)


def test_boots_paused():
    assert PhaseMachine().phase == P


def test_no_direct_jump_between_autonomous_and_correcting_under_any_event_sequence():
    for sequence in itertools.product(list(PhaseEvent), repeat=4):
        machine = PhaseMachine(P)
        for event in sequence:
            before = machine.phase
            machine.apply(event)
            assert {before, machine.phase} != {A, C}, sequence


def test_refusal_explains_the_fix():
    machine = PhaseMachine(A)
    transition = machine.apply(E.CORRECTION)
    assert not transition.accepted and "pause the policy first" in transition.reason
    machine = PhaseMachine(C)
    assert "end the correction first" in machine.apply(E.PAUSE_RESUME).reason


def test_events_in_one_tick_apply_in_order():
    machine = PhaseMachine(P)
    machine.apply_all([E.PAUSE_RESUME, E.PAUSE_RESUME, E.CORRECTION])
    assert machine.phase == C
