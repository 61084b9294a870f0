"""lerobot-recap-yam-server against a misbehaving client, on real ZMQ sockets on loopback with the simulated arm.

Oversized messages are dropped inside libzmq (ZMQ_MAXMSGSIZE) while the other clients keep their state; finite
out-of-range targets are clamped to the joint / gripper range and non-finite ones refused; refusals and clamps are
logged at most once a second and counted in the state message, where the client sees them.
"""

import json
import logging
import re
import time
from contextlib import contextmanager

import numpy as np
import pytest

from lerobot_recap.motors.yam.calibration import (
    LINEAR_4310_STROKE_RAD,
    default_arm_calibration,
)
from lerobot_recap.motors.yam.server import YamArmServer, YamServerConfig, motor_limits
from lerobot_recap.motors.yam.tables import YAM_JOINT_LIMITS_RAD
from lerobot_recap.motors.yam.zmq_arm import (
    ProtocolError,
    RateLimitedLog,
    ZmqArm,
    decode,
    encode,
    largest_client_message_bytes,
)
from tests.hardware.conftest import wait_for
from tests.hardware.test_yam_zmq import RunningServer, free_port_pair

zmq = pytest.importorskip("zmq")
pytest.importorskip("msgpack")

MIB = 1 << 20
SERVER_LOGGER = "lerobot_recap.motors.yam.server"
CLIENT_LOGGER = "lerobot_recap.motors.yam.zmq_arm"
HUGE_INT_COMMAND = b'{"v": 1, "type": "command", "position": [1' + b"0" * 400 + b', 0, 0, 0, 0, 0, 0]}'
"""A JSON command whose first target is 10**400: an int to Python, beyond the float range."""


@contextmanager
def raw_push(port: int):
    """A bare PUSH socket to the server's command port: a client that sends whatever the test wants."""
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{port}")
    try:
        yield push
    finally:
        push.close(linger=0)
        context.term()


def command(position, encoding: str = "msgpack") -> bytes:
    return encode({"v": 1, "type": "command", "position": [float(x) for x in position]}, encoding)


def messages(caplog, logger_name: str, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger_name and text in r.getMessage()]


# ---------------------------------------------------------------- message size cap


def test_an_oversized_message_is_dropped_by_zmq_and_the_other_clients_keep_their_state():
    port = free_port_pair()
    with RunningServer(port) as server, raw_push(port) as push:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=1.0)  # the clients' default timeout
        arm.connect()
        try:
            # A well-formed msgpack command with a 4-million-entry list: the costliest 36 MiB to decode.
            big = command(np.full(36 * MIB // 9, 0.5))
            assert len(big) >= 36 * MIB - 64
            commands_before = server.commands
            push.send(big)
            seen: list[tuple[int, float]] = []
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                arm.read()  # raises ArmFaultError once the state is older than the 1 s timeout
                if not seen or arm._state["seq"] != seen[-1][0]:
                    seen.append((arm._state["seq"], time.monotonic()))
                time.sleep(0.002)
            gaps = np.diff([t for _, t in seen])
            # ~10 ms at 100 Hz; before the cap the server stalled 1.3 s decoding it (the clients faulted).
            assert gaps.max() < 0.5, f"state publishing stalled {gaps.max():.3f} s"
            # libzmq dropped it from the frame header: Python never saw it, so nothing was counted or applied.
            assert server.rejected == 0 and server.commands == commands_before

            # libzmq reset the sender's connection; its socket reconnects by itself and is heard again.
            target = arm.read().position + 0.05

            def resend() -> bool:
                try:
                    push.send(command(target), zmq.NOBLOCK)
                except zmq.Again:
                    pass
                return server.commands > commands_before

            assert wait_for(resend, 5.0)
        finally:
            arm.disconnect()


def test_the_cap_is_max_message_bytes():
    port = free_port_pair()
    with RunningServer(port, max_message_bytes=4096) as server, raw_push(port) as over, raw_push(port) as at:
        over.send(b"\xc1" * 4097)  # one byte over: dropped by libzmq, never counted
        at.send(b"\xc1" * 4096)  # at the cap: reaches Python, which refuses it as malformed
        assert wait_for(lambda: server.rejected == 1)
        time.sleep(0.2)
        assert server.rejected == 1


def test_the_cap_admits_every_legal_message_and_refuses_a_smaller_setting():
    for encoding in ("msgpack", "json"):
        YamServerConfig(encoding=encoding).validate()  # the default cap holds the largest legal message
        largest = largest_client_message_bytes(encoding)
        assert largest < 512
        with pytest.raises(ValueError, match=f"--max_message_bytes={largest - 1} is below"):
            YamServerConfig(encoding=encoding, max_message_bytes=largest - 1).validate()
    # A command of the longest finite doubles, from the stock client, passes a cap set at exactly that size.
    port = free_port_pair()
    with RunningServer(port, encoding="json", max_message_bytes=largest_client_message_bytes("json")) as server:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=2.0, encoding="json")
        arm.connect()
        try:
            assert wait_for(lambda: (arm.command(np.full(7, -2.2250738585072014e-308)), server.commands > 0)[1])
            assert server.rejected == 0
        finally:
            arm.disconnect()


def test_a_command_flood_neither_starves_nor_speeds_up_state_publishing():
    port = free_port_pair()
    with RunningServer(port) as server, raw_push(port) as push:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=1.0)
        arm.connect()
        try:
            payload = command(arm.read().position)
            first_seq, start = arm._state["seq"], time.monotonic()
            while time.monotonic() - start < 1.0:
                for _ in range(50):
                    try:
                        push.send(payload, zmq.NOBLOCK)
                    except zmq.Again:
                        break
                arm.read()  # no ArmFaultError: states keep coming
            published = arm._state["seq"] - first_seq
            assert server.commands > 0
            assert published <= 1.5 * 100 * (time.monotonic() - start) + 5  # rate_hz, not the flood's rate
        finally:
            arm.disconnect()


# ---------------------------------------------------------------- target range


def test_out_of_range_targets_are_clamped_to_the_joint_and_gripper_range(caplog):
    caplog.set_level(logging.INFO)
    port = free_port_pair()
    with RunningServer(port) as server, raw_push(port) as push:
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=2.0)
        arm.connect()
        try:
            lower, upper = server.lower, server.upper
            assert upper[:6] == pytest.approx([high for _, high in YAM_JOINT_LIMITS_RAD])
            assert lower[:6] == pytest.approx([low for low, _ in YAM_JOINT_LIMITS_RAD])
            assert (lower[6], upper[6]) == pytest.approx((0.0, LINEAR_4310_STROKE_RAD))
            for huge, bound in ((1e300, upper), (-1e300, lower)):

                def follow(huge=huge, bound=bound) -> bool:
                    push.send(command(np.full(7, huge)))  # sent again and again, or the watchdog holds
                    position = arm.read().position
                    assert np.all(position >= lower - 1e-9) and np.all(position <= upper + 1e-9), position
                    return np.allclose(position, bound, atol=0.02)

                assert wait_for(follow, 15.0)  # the arm ends on the range's end and never goes past it
            assert server.clamped > 0
            # The client sees the counter rise and says so (rate-limited).
            assert wait_for(lambda: (arm.read(), arm.server_clamped == server.clamped)[1])
            assert messages(caplog, CLIENT_LOGGER, "clamped")
            assert messages(caplog, SERVER_LOGGER, "Clamped a target outside the arm's range")

            # NaN is refused: the arm keeps holding where it is, and the client sees the rejection.
            held, rejected = arm.read().position, server.rejected
            push.send(command(np.full(7, float("nan"))))
            assert wait_for(lambda: (arm.read(), arm.server_rejected > rejected)[1])
            assert arm.read().position == pytest.approx(held, abs=0.02)
        finally:
            arm.disconnect()


def test_a_json_integer_beyond_the_float_range_is_refused_not_fatal():
    port = free_port_pair()
    runner = RunningServer(port, encoding="json")
    with runner as server, raw_push(port) as push:
        push.send(HUGE_INT_COMMAND)
        assert wait_for(lambda: server.rejected == 1)  # math.isfinite(10**400) raises OverflowError
        arm = ZmqArm("left arm", "127.0.0.1", port, timeout_s=2.0, encoding="json")
        arm.connect()  # the server thread is still serving
        arm.disconnect()
        assert runner.thread.is_alive()
    with pytest.raises(ProtocolError, match="7 finite numbers"):
        decode(HUGE_INT_COMMAND, "json")


def test_a_non_finite_target_never_reaches_the_arm():
    # decode refuses NaN already; the server checks again before np.clip, which lets NaN through.
    server = YamArmServer(YamServerConfig(port=free_port_pair()))
    server.backend.connect()
    server._command(np.full(7, np.nan))
    assert (server.rejected, server.commands) == (1, 0)
    server._command(np.full(7, 1e300))
    assert (server.clamped, server.commands) == (1, 1)
    assert server.backend.shaper.target == pytest.approx(server.upper)


def test_motor_limits_follow_the_calibration_file(tmp_path):
    zero = np.array([0.1, 0.3, -0.2, 0.0, 0.0, 0.0, 0.0])
    calibration = default_arm_calibration((1, -1, 1, 1, 1, 1, 1), zero_motor_position=zero, gripper_closed=0.2,
                                          gripper_open=-6.0)
    path = tmp_path / "yam_station.json"
    path.write_text(json.dumps({f"right_{k}": vars(v) for k, v in calibration.items()}))
    lower, upper = motor_limits(YamServerConfig(calibration_file=str(path), calibration_prefix="right_"))
    (low1, high1), (low2, high2) = YAM_JOINT_LIMITS_RAD[:2]
    assert (lower[0], upper[0]) == pytest.approx((0.1 + low1, 0.1 + high1))
    assert (lower[1], upper[1]) == pytest.approx((0.3 - high2, 0.3 - low2))  # a flipped joint: ends swapped
    assert (lower[6], upper[6]) == pytest.approx((-6.0, 0.2))  # the calibrated gripper range, either way round
    lower, upper = motor_limits(YamServerConfig(arm="leader"))
    assert (lower[6], upper[6]) == (0.0, 1.0)  # a leader's 7th value is the handle squeeze
    with pytest.raises(ValueError, match="left_joint_1.*calibration_prefix"):
        motor_limits(YamServerConfig(calibration_file=str(path), calibration_prefix="left_"))


# ---------------------------------------------------------------- rate-limited logging and counters


def test_rejections_are_logged_at_most_once_a_second(caplog):
    caplog.set_level(logging.WARNING, logger=SERVER_LOGGER)
    port = free_port_pair()
    with RunningServer(port) as server, raw_push(port) as push:
        start = time.monotonic()
        for _ in range(200):
            push.send(b"\xc1 not msgpack")
        assert wait_for(lambda: server.rejected == 200, 10.0)
        elapsed = time.monotonic() - start
        assert 1 <= len(messages(caplog, SERVER_LOGGER, "Rejected")) <= 1 + elapsed
        time.sleep(1.05)
        push.send(b"\xc1 not msgpack")
        assert wait_for(lambda: server.rejected == 201)
        logged = messages(caplog, SERVER_LOGGER, "Rejected")
        assert "(201 so far)" in logged[-1] and "more like this in the last" in logged[-1], logged[-1]
        # Nothing is lost: every rejection is either logged or counted in the next logged line.
        suppressed = sum(int(m) for line in logged for m in re.findall(r"\((\d+) more like this", line))
        assert len(logged) + suppressed == 201


def test_rate_limited_log_counts_what_it_holds_back(caplog):
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), interval_s=1.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.ratelimit")
    assert log("bad %d", 1)
    now[0] = 0.5
    assert not log("bad %d", 2) and not log("bad %d", 3)
    now[0] = 1.2
    assert log("bad %d", 4)
    assert [r.getMessage() for r in caplog.records] == ["bad 1", "bad 4 (2 more like this in the last 1.2 s not logged)"]
    assert log.suppressed == 0


def test_the_client_warns_when_the_server_counters_rise(caplog):
    caplog.set_level(logging.WARNING, logger=CLIENT_LOGGER)
    arm = ZmqArm("left arm", "127.0.0.1", 1)
    warnings = lambda: messages(caplog, CLIENT_LOGGER, "arm server")
    arm._note_server_counts(5, 3)  # counts from before this client: a baseline, no warning
    assert not warnings() and (arm.server_rejected, arm.server_clamped) == (5, 3)
    arm._note_server_counts(7, 4)
    assert len(warnings()) == 1 and "refused 2 malformed message(s) and clamped 1 command(s)" in warnings()[-1]
    arm._note_server_counts(9, 4)  # within a second of the last warning: held back, not lost
    assert len(warnings()) == 1
    arm._reported_t -= 1.0
    arm._note_server_counts(9, 4)
    assert len(warnings()) == 2 and "refused 2 malformed message(s) and clamped 0" in warnings()[-1]
    arm._note_server_counts(0, 0)  # a restarted server counts from 0 again: a new baseline
    arm._reported_t -= 1.0
    arm._note_server_counts(0, 0)
    assert len(warnings()) == 2


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_state_counters_are_validated(value):
    state = {"v": 1, "type": "state", "position": [0.0] * 7, "velocity": [0.0] * 7, "effort": [0.0] * 7}
    assert decode(encode(state, "msgpack"), "msgpack")["rejected"] == 0  # optional: an older server omits them
    with pytest.raises(ProtocolError, match="'clamped' must be a non-negative integer"):
        decode(encode({**state, "clamped": value}, "msgpack"), "msgpack")


def test_error_messages_of_huge_input_stay_short():
    payload = command(np.zeros(1_000_000))
    start = time.monotonic()
    with pytest.raises(ProtocolError) as error:
        decode(payload, "msgpack")
    assert len(str(error.value)) < 200 and time.monotonic() - start < 2.0
