"""The ``zmq`` backend: a client to ``lerobot-recap-yam-server``, which owns one arm next to its CAN adapter.

Wire protocol (msgpack or JSON, never pickle), motor space, version 1:
- client -> server on ``tcp://host:port`` (PUSH -> PULL): ``{"v": 1, "type": "command", "position": [7 floats]}``,
  ``{"v": 1, "type": "hold"}``, ``{"v": 1, "type": "passive", "on": bool, "kp_scale": float (optional, [0, 1])}``;
- server -> client on ``tcp://host:port+1`` (PUB -> SUB): ``{"v": 1, "type": "state", "seq": int,
  "position": [7], "velocity": [7], "effort": [7], "watchdog": bool, "fault": str | null,
  "buttons": [bool, bool] (optional: a leader arm's handle buttons),
  "rejected": int, "clamped": int (optional: how many messages the server refused as malformed and how many
  commands it clamped to the arm's range since it started, from any client)}``.
Both sides keep only the newest message (``ZMQ_CONFLATE``): latest-value semantics, no stale backlog. ZMQ
reconnects by itself, so a restarted server is picked up without restarting LeRobot. The server drops messages
larger than its ``--max_message_bytes`` inside libzmq (and resets that sender's connection, which reconnects);
every legal client message is far smaller (:func:`largest_client_message_bytes`).
"""

from __future__ import annotations

import json
import logging
import math
import reprlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lerobot_recap.motors.yam.arm import ArmBackend, ArmFaultError, ArmState
from lerobot_recap.motors.yam.tables import N_MOTORS

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MESSAGE_TYPES = ("command", "hold", "passive", "state")
SERVER_WARNING_INTERVAL_S = 1.0
"""A client warns about the server's rising rejected / clamped counters at most this often."""


class ProtocolError(ValueError):
    """A message that does not follow the arm-server protocol."""


def encode(message: dict[str, Any], encoding: str) -> bytes:
    if encoding == "json":
        return json.dumps(message).encode()
    import msgpack

    return msgpack.packb(message, use_bin_type=True)


_PREVIEW = reprlib.Repr(maxlist=8, maxstring=40, maxother=40, maxlevel=2)


def _preview(value: Any) -> str:
    """A short repr of untrusted input for an error message: bounded work however large the value is."""
    # Not str(value)[:80]: that formats a multi-megabyte list in full before cutting it.
    return _PREVIEW.repr(value)


def _finite_number(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # a JSON integer beyond the float range (10**400): not a usable number either
        return False


def _vector(message: dict, key: str) -> list[float]:
    value = message.get(key)
    if not isinstance(value, list) or len(value) != N_MOTORS or not all(_finite_number(x) for x in value):
        raise ProtocolError(f"{key!r} must be a list of {N_MOTORS} finite numbers, got {_preview(value)}")
    return [float(x) for x in value]


def _count(message: dict, key: str) -> int:
    """An optional non-negative integer counter of a state message (0 from a server that does not send it)."""
    value = message.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{key!r} must be a non-negative integer, got {_preview(value)}")
    return value


def largest_client_message_bytes(encoding: str) -> int:
    """Size of the largest legal client -> server message: a command of 7 doubles of the longest text form.

    The server's message size cap (``--max_message_bytes``) must not be below this.
    """
    # -2.2250738585072014e-308 has the longest JSON text of a finite double (24 characters); msgpack packs every
    # double in 9 bytes. The passive message (a bool and one number) is always shorter.
    worst = -sys.float_info.min
    return len(encode({"v": PROTOCOL_VERSION, "type": "command", "position": [worst] * N_MOTORS}, encoding))


def decode(payload: bytes, encoding: str) -> dict[str, Any]:
    """Parse and validate one message; anything unexpected raises :class:`ProtocolError`."""
    try:
        if encoding == "json":
            message = json.loads(payload.decode())
        else:
            import msgpack

            # strict_map_key and no ext hook: only plain maps/lists/numbers/strings come through.
            message = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as e:  # noqa: BLE001  (every decoder failure is a malformed message)
        raise ProtocolError(f"undecodable {encoding} message ({type(e).__name__}: {e})") from e
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a map, got {type(message).__name__}")
    if message.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {message.get('v')!r} unsupported (expected {PROTOCOL_VERSION})")
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}; expected one of {MESSAGE_TYPES}")
    if kind == "command":
        message["position"] = _vector(message, "position")
    elif kind == "passive":
        if not isinstance(message.get("on"), bool):
            raise ProtocolError("'passive' needs a boolean 'on'")
        scale = message.get("kp_scale", 0.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.0 <= scale <= 1.0:
            raise ProtocolError(f"'kp_scale' must be a number in [0, 1], got {_preview(scale)}")
        message["kp_scale"] = float(scale)
    elif kind == "state":
        for key in ("position", "velocity", "effort"):
            message[key] = _vector(message, key)
        if message.get("fault") is not None and not isinstance(message["fault"], str):
            raise ProtocolError("'fault' must be a string or null")
        buttons = message.get("buttons", [False, False])
        if not isinstance(buttons, list) or len(buttons) != 2 or not all(isinstance(b, bool) for b in buttons):
            raise ProtocolError(f"'buttons' must be a list of 2 booleans, got {_preview(buttons)}")
        message["buttons"] = buttons
        for key in ("rejected", "clamped"):
            message[key] = _count(message, key)
    return message


class RateLimitedLog:
    """Logs at most one record per ``interval_s`` and says how many it held back in between.

    For messages a peer can trigger at will (a malformed message, an out-of-range target): a flood of them must
    neither flood the log nor slow the loop that logs them. The totals stay available as counters.
    """

    def __init__(self, log: logging.Logger, level: int = logging.WARNING, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.log = log
        self.level = level
        self.interval_s = interval_s
        self.clock = clock
        self.suppressed = 0
        """Records held back since the last one logged."""
        self._last_t = -math.inf

    def __call__(self, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` unless one was logged less than ``interval_s`` ago; True when logged."""
        now = self.clock()
        if now - self._last_t < self.interval_s:
            self.suppressed += 1
            return False
        if self.suppressed:
            msg += " (%d more like this in the last %.1f s not logged)"
            args = (*args, self.suppressed, now - self._last_t)
        self.suppressed = 0
        self._last_t = now
        self.log.log(self.level, msg, *args)
        return True


class ZmqArm(ArmBackend):
    def __init__(self, name: str, host: str, port: int, timeout_s: float = 1.0, encoding: str = "msgpack"):
        self.name = name
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.encoding = encoding
        self._context = None
        self._push = None
        self._sub = None
        self._state: dict | None = None
        self._state_t = 0.0
        self.rejected = 0
        """Messages from the server this client could not read."""
        self.server_rejected = 0
        """Malformed messages the server refused (from any client), as its latest state reports."""
        self.server_clamped = 0
        """Commands the server clamped to the arm's range (from any client), as its latest state reports."""
        self._server_counts_seen = False
        self._reported_counts = (0, 0)  # the server's counters when this client last warned about them
        self._reported_t = -math.inf

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_connected(self) -> bool:
        return self._push is not None

    @property
    def watchdog_tripped(self) -> bool:
        return bool(self._state and self._state.get("watchdog"))

    def connect(self) -> None:
        try:
            import zmq
        except ImportError as e:
            raise ImportError("The YAM `zmq` backend needs pyzmq and msgpack: pip install 'lerobot-recap[zmq]'.") from e
        self._context = zmq.Context()
        self._push = self._context.socket(zmq.PUSH)
        self._push.setsockopt(zmq.CONFLATE, 1)
        self._push.setsockopt(zmq.LINGER, 0)
        self._push.connect(f"tcp://{self.host}:{self.port}")
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.CONFLATE, 1)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"")
        self._sub.connect(f"tcp://{self.host}:{self.port + 1}")
        deadline = time.monotonic() + self.timeout_s
        while self._state is None and time.monotonic() < deadline:
            if self._sub.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
                self._receive()
        if self._state is None:
            self.disconnect()
            hint = (
                f" It sent {self.rejected} message(s) this client could not read: do both sides use "
                f"--encoding={self.encoding}?"
                if self.rejected
                else ""
            )
            raise ConnectionError(
                f"{self.name}: no state from the arm server at {self.endpoint} within {self.timeout_s:.1f} s. Start it "
                f"next to the arm (`lerobot-recap-yam-server --port={self.port} ...`) or fix --robot.*_arm.host/port."
                + hint
            )

    def _receive(self) -> None:
        import zmq

        while True:
            try:
                payload = self._sub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                message = decode(payload, self.encoding)
            except ProtocolError as e:
                self.rejected += 1
                logger.warning("%s: rejected a message from %s: %s", self.name, self.endpoint, e)
                continue
            if message["type"] == "state":
                self._state = message
                self._state_t = time.monotonic()
                self._note_server_counts(message["rejected"], message["clamped"])

    def _note_server_counts(self, rejected: int, clamped: int) -> None:
        """Warn when the server's rejected / clamped counters rise (at most once per ``SERVER_WARNING_INTERVAL_S``).

        A rising counter means targets are refused or cut short by the server, so the arm does not go where the
        caller asked: worth a warning here, not only in the server's log on another machine.
        """
        if not self._server_counts_seen or rejected < self.server_rejected or clamped < self.server_clamped:
            # A baseline, not news: what the server refused before this client came (or before a restart, whose
            # counters start again from 0) is not this client's doing.
            self._reported_counts = (rejected, clamped)
        self._server_counts_seen = True
        self.server_rejected, self.server_clamped = rejected, clamped
        new_rejected, new_clamped = rejected - self._reported_counts[0], clamped - self._reported_counts[1]
        now = time.monotonic()
        if (new_rejected or new_clamped) and now - self._reported_t >= SERVER_WARNING_INTERVAL_S:
            logger.warning(
                "%s: the arm server at %s refused %d malformed message(s) and clamped %d command(s) to the arm's "
                "range since the last warning (%d and %d since it started, from any client); see the server's log.",
                self.name, self.endpoint, new_rejected, new_clamped, rejected, clamped,
            )
            self._reported_counts = (rejected, clamped)
            self._reported_t = now

    def read(self) -> ArmState:
        self._receive()
        age = time.monotonic() - self._state_t
        if self._state is None or age > self.timeout_s:
            raise ArmFaultError(
                f"{self.name}: the arm server at {self.endpoint} sent no state for {age:.1f} s. Its own watchdog holds "
                "the arm; check that `lerobot-recap-yam-server` is running (it is picked up again once restarted)."
            )
        if self._state.get("fault"):
            raise ArmFaultError(f"{self.name} (server {self.endpoint}): {self._state['fault']}")
        return ArmState(*(np.array(self._state[k]) for k in ("position", "velocity", "effort")),
                        buttons=tuple(self._state["buttons"]))

    def _send(self, message: dict) -> None:
        import zmq

        try:
            self._push.send(encode({"v": PROTOCOL_VERSION, **message}, self.encoding), zmq.NOBLOCK)
        except zmq.Again:
            # Server away: the message is dropped (latest value only); read() reports the missing server.
            pass

    def command(self, motor_targets: np.ndarray) -> None:
        self._send({"type": "command", "position": [float(x) for x in motor_targets]})

    def hold(self) -> None:
        self._send({"type": "hold"})

    def set_passive(self, passive: bool, kp_scale: float = 0.0) -> None:
        self._send({"type": "passive", "on": passive, "kp_scale": float(kp_scale)})

    def disconnect(self) -> None:
        # The server keeps owning the arm: with no more commands its watchdog holds the pose.
        for sock in (self._push, self._sub):
            if sock is not None:
                sock.close(linger=0)
        if self._context is not None:
            self._context.term()
        self._push = self._sub = self._context = None
