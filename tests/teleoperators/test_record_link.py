"""record_link: finding stock record_loop on the call stack, and failing loudly when its locals are not 0.6.1's.

Functions named ``record_loop`` (and ``record``, its caller) are compiled with the module name
``lerobot.scripts.lerobot_record`` (nothing in LeRobot is touched) and call the teleop-side lookup the way stock
record_loop calls ``teleop.get_action()``. The real stock loop is exercised end to end by test_stage0_record.py.
"""

from __future__ import annotations

import inspect
import logging
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lerobot_recap.teleoperators.recap_dagger.record_link import (
    RECORD_MODULE,
    RecordLoopMismatch,
    find_record_loop,
)


def teleop_get_action():
    """Stands in for recap_dagger.get_action(): looks one frame above itself, as get_action does."""
    return find_record_loop(2)


def fake_record_module(body: str, entry: str = "record_loop"):
    """``record_loop`` (or ``entry``) defined in a module that calls itself lerobot.scripts.lerobot_record."""
    namespace = {"__name__": RECORD_MODULE, "teleop_get_action": teleop_get_action, "time": time}
    exec(compile(textwrap.dedent(body), "<fake lerobot_record>", "exec"), namespace)  # noqa: S102
    return namespace[entry]


@dataclass
class Dataset:
    root: Path
    num_episodes: int


STOCK_LIKE = """
def record_loop(robot, events, fps, dataset=None, single_task=None):
    start_episode_t = time.perf_counter()
    return teleop_get_action()
"""


def test_the_stock_loop_is_found_and_its_flags_are_the_ones_set(tmp_path):
    events = {"exit_early": False, "rerecord_episode": False, "stop_recording": False}
    ctx = fake_record_module(STOCK_LIKE)(None, events, 30, Dataset(tmp_path, 3), "hand over")
    assert ctx.recording and ctx.dataset_root == tmp_path and ctx.episode_index == 3
    assert ctx.fps == 30 and ctx.single_task == "hand over" and isinstance(ctx.loop_id, float)
    ctx.discard_episode()
    assert events == {"exit_early": True, "rerecord_episode": True, "stop_recording": False}

    reset = fake_record_module(STOCK_LIKE)(None, dict.fromkeys(events, False), 30, None, None)
    assert not reset.recording and reset.episode_index is None


def test_outside_record_loop_there_is_no_context():
    assert teleop_get_action() is None


def test_a_function_of_another_module_with_the_same_name_is_not_the_loop():
    namespace = {"__name__": "my_recorder", "teleop_get_action": teleop_get_action, "time": time}
    exec(compile(textwrap.dedent(STOCK_LIKE), "<other recorder>", "exec"), namespace)  # noqa: S102
    events = {"exit_early": False, "rerecord_episode": False, "stop_recording": False}
    assert namespace["record_loop"](None, events, 30) is None


@pytest.mark.parametrize(
    ("body", "args", "complaint"),
    [
        (STOCK_LIKE, ({"exit_early": False}, 30, None), "`events` should be a dict with"),
        (STOCK_LIKE, ({"exit_early": False, "rerecord_episode": False, "stop_recording": False}, 30, object()),
         "`dataset` should have ['root', 'num_episodes']"),
        ("""
         def record_loop(robot, events, fps, dataset=None, single_task=None):
             t0 = time.perf_counter()
             return teleop_get_action()
         """, ({"exit_early": False, "rerecord_episode": False, "stop_recording": False}, 30, None), "`start_episode_t`"),
    ],
)
def test_a_record_loop_with_other_locals_fails_loudly(body, args, complaint):
    loop = fake_record_module(body)
    with pytest.raises(RecordLoopMismatch) as info:
        loop(None, *args)
    message = str(info.value)
    assert complaint in message and "LeRobot 0.6.1" in message and "lerobot>=0.6.1,<0.7" in message


RECORD_WITH_LISTENER = STOCK_LIKE + """
def record(listener):
    events = {"exit_early": False, "rerecord_episode": False, "stop_recording": False}
    return record_loop(None, events, 30)
"""


def test_the_listener_of_the_calling_record_is_read():
    listener = object()
    ctx = fake_record_module(RECORD_WITH_LISTENER, "record")(listener)
    assert ctx.key_listener is listener
    assert not ctx.take_over_terminal_keys()  # not LeRobot's terminal reader: left alone
    assert fake_record_module(STOCK_LIKE)(None, ctx.events, 30).key_listener is None  # no record() above the loop


def test_a_record_without_its_listener_fails_loudly():
    body = STOCK_LIKE + """
def record():
    events = {"exit_early": False, "rerecord_episode": False, "stop_recording": False}
    return record_loop(None, events, 30)
"""
    with pytest.raises(RecordLoopMismatch, match=r"`record\(\)` .* should have a `listener` local"):
        fake_record_module(body, "record")()


def test_lerobots_terminal_key_reader_is_stopped_on_take_over():
    import os
    import termios

    from lerobot.utils.keyboard_input import TerminalKeyListener

    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    listener = TerminalKeyListener(lambda key: None)
    # What start() does on a terminal, on this pseudo-terminal instead of stdin.
    listener._fd, listener._old_attrs = slave, before
    termios.tcsetattr(slave, termios.TCSADRAIN, [*before[:3], before[3] & ~(termios.ECHO | termios.ICANON), *before[4:]])
    try:
        ctx = fake_record_module(RECORD_WITH_LISTENER, "record")(listener)
        assert ctx.take_over_terminal_keys() and ctx.key_listener is None
        assert termios.tcgetattr(slave) == before  # its stop() put the terminal back as it found it
        assert not ctx.take_over_terminal_keys()
    finally:
        os.close(master)
        os.close(slave)


def test_the_real_record_loop_has_the_locals_read_here():
    """The installed stock record_loop still defines every local this module reads (a LeRobot upgrade check)."""
    from lerobot.scripts import lerobot_record

    # record_loop is wrapped by safe_stop_image_writer (without functools.wraps): the function is in its closure.
    wrapped = [cell.cell_contents for cell in lerobot_record.record_loop.__closure__ or ()]
    loop = next(f for f in [lerobot_record.record_loop, *wrapped] if getattr(f, "__name__", None) == "record_loop")
    assert loop.__module__ == RECORD_MODULE
    assert {"events", "fps", "dataset", "single_task", "teleop"} <= set(inspect.signature(loop).parameters)
    source = inspect.getsource(loop)
    assert "start_episode_t = time.perf_counter()" in source and "teleop.get_action()" in source
    module_source = inspect.getsource(lerobot_record)  # the flags are polled in the loop and in record()
    assert all(f'events["{flag}"]' in module_source for flag in ("exit_early", "rerecord_episode", "stop_recording"))
    # record() holds the keyboard listener in `listener` and calls record_loop within CALLER_DEPTH frames.
    record_source = inspect.getsource(lerobot_record.record)
    assert "listener, events = init_keyboard_listener()" in record_source and "record_loop(" in record_source


def test_recap_dagger_reports_a_missing_loop_as_an_error_once(caplog, tmp_path):
    pytest.importorskip("evdev")
    import sim_devices

    from lerobot_recap.robots.recap_observed import RecapObserved, RecapObservedConfig
    from lerobot_recap.teleoperators.recap_dagger import RecapDagger, RecapDaggerConfig
    from lerobot_recap.teleoperators.recap_dagger.hub import RecapHub

    key = f"link-{tmp_path.name}"
    robot = RecapObserved(RecapObservedConfig(robot=sim_devices.SimArmConfig(calibration_dir=tmp_path), hub_key=key))
    teleop = RecapDagger(
        RecapDaggerConfig(leader=sim_devices.SimLeaderConfig(), use_pedal=False, keyboard="none", hub_key=key)
    )
    try:
        robot.connect()
        teleop.connect()
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                robot.send_action(teleop_action := _tick(robot, teleop))
        assert teleop_action["recap.phase"] == 0.0  # PAUSED: nothing moves by itself
        errors = [r for r in caplog.records if "not called by stock lerobot-record" in r.getMessage()]
        assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    finally:
        RecapHub.detach_robot(key)


def _tick(robot, teleop):
    robot.get_observation()
    return teleop.get_action()
