"""The YAM arm server: owns one arm (CAN or simulated) and serves it over ZMQ, on loopback by default.

``lerobot-recap-yam-server`` (:mod:`lerobot_recap.scripts.lerobot_recap_yam_server`) parses a
:class:`YamServerConfig` and calls :func:`run`. Run one server per arm, next to its CAN adapter (one process per CAN
interface), then point the robot or the leader teleoperator at it:

    lerobot-recap-yam-server --backend=can --channel=can_follower_l --port=6001
    lerobot-recap-yam-server --backend=can --channel=can_follower_r --port=6011
    lerobot-recap-yam-server --backend=can --arm=leader --channel=can_leader_l --port=6021
    lerobot-recap-yam-server --backend=can --arm=leader --channel=can_leader_r --port=6031
    lerobot-record --robot.type=yam_bimanual --robot.backend=zmq --robot.left_arm.port=6001 ...

A ``leader`` arm has six motors and the teaching handle; it is served passive (light damping + gravity
compensation) and its state carries the handle squeeze as the 7th value and the two buttons.
Gravity compensation (``--backend=can``) needs the arm's joint zero: pass the robot's (or teleoperator's) LeRobot
calibration file with ``--calibration_file`` and the arm's key prefix (``left_``/``right_``); without it the motors
are taken as zeroed at the folded rest pose (I2RT's factory convention) with directions +1.

The protocol is described in :mod:`lerobot_recap.motors.yam.zmq_arm`: msgpack or JSON, never pickle. The server
is bounded against a misbehaving client: messages over ``--max_message_bytes`` are dropped inside libzmq (which
resets that client's connection) before they cost a byte of Python memory or a millisecond of the publishing loop;
malformed messages and non-finite targets are refused; finite targets are clamped to the YAM joint ranges (through
the calibration file's joint zero when given) and the gripper range; refusals and clamps are counted in every state
message and logged at most once a second. The server's own watchdog holds the arm when commands stop.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.motors.yam.arm import ArmBackend, ArmFaultError, SimArm
from lerobot_recap.motors.yam.calibration import LINEAR_4310_STROKE_RAD, MICRO
from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.tables import (
    ARM_JOINTS,
    N_MOTORS,
    YAM_CAN_BITRATE,
    YAM_JOINT_LIMITS_RAD,
)
from lerobot_recap.motors.yam.teaching_handle import (
    HANDLE_RANGE_RAD,
    HANDLE_REPLY_ID,
    HANDLE_REQUEST_ID,
)
from lerobot_recap.motors.yam.zmq_arm import (
    PROTOCOL_VERSION,
    ProtocolError,
    RateLimitedLog,
    decode,
    encode,
    largest_client_message_bytes,
)

if TYPE_CHECKING:
    from lerobot_recap.motors.yam.can_arm import Feedforward

logger = logging.getLogger(__name__)

MAX_MESSAGES_PER_CYCLE = 256
"""Messages read per publishing cycle at most: a client that floods commands cannot starve state publishing."""


@dataclass
class YamServerConfig:
    """One arm served over ZMQ."""

    backend: str = "sim"
    """`can` (a real arm on `channel`) or `sim` (a simulated arm, for tests and demos)."""
    arm: str = "follower"
    """`follower` (7 motors, held under PD) or `leader` (6 motors + teaching handle, passive with gravity comp)."""
    channel: str = "can0"
    """CAN interface of the arm (`can` backend)."""
    can_interface: str = "socketcan"
    """python-can interface type (`virtual` for protocol tests)."""
    host: str = "127.0.0.1"
    """Address to bind. Loopback by default; bind `0.0.0.0` only on a trusted robot network."""
    port: int = 6001
    """Commands arrive on this port; state is published on `port + 1`."""
    encoding: str = "msgpack"
    """`msgpack` or `json` (never pickle)."""
    rate_hz: float = 100.0
    """State publishing rate."""
    max_message_bytes: int = 4096
    """Incoming messages larger than this are dropped by libzmq (ZMQ_MAXMSGSIZE), which also resets that client's
    connection (it reconnects by itself). The largest legal message, a JSON command, is 223 bytes (msgpack: 90)."""
    watchdog_s: float = 0.25
    """Hold the arm if no command arrives for this long (at most 0.4 s)."""
    max_joint_velocity: float = 3.0
    """Setpoint speed limit of joints 1..6, rad/s."""
    max_gripper_velocity: float = 13.0
    """Setpoint speed limit of the gripper motor, rad/s (motor space)."""
    kp: tuple[float, ...] = (80.0, 80.0, 80.0, 10.0, 10.0, 10.0, 20.0)
    """MIT position gains (`can` backend)."""
    kd: tuple[float, ...] = (5.0, 5.0, 5.0, 1.5, 1.5, 1.5, 0.5)
    """MIT velocity gains (`can` backend)."""
    passive_kd: tuple[float, ...] = (0.1, 0.1, 0.1, 0.3, 0.05, 0.05, 0.05)
    """Velocity gains while passive (a leader arm, calibration)."""
    control_hz: float = 250.0
    """CAN servo loop rate (`can` backend)."""
    gravity: YamGravityConfig = field(default_factory=YamGravityConfig)
    """Gravity feed-forward torque in the CAN servo loop (`can` backend)."""
    calibration_file: str | None = None
    """LeRobot calibration JSON of the robot/teleoperator id, for the joint zero of the gravity model."""
    calibration_prefix: str = ""
    """Key prefix of this arm in `calibration_file` - `left_` or `right_`."""
    handle_request_id: int = HANDLE_REQUEST_ID
    """CAN ID the teaching handle is polled on (`leader`, as in I2RT's driver; unverified here)."""
    handle_reply_id: int = HANDLE_REPLY_ID
    """CAN ID the teaching handle answers on (`leader`)."""
    handle_range_rad: float = HANDLE_RANGE_RAD
    """Trigger travel from rest to fully squeezed, rad (`leader`)."""

    def validate(self) -> None:
        """Raise a ValueError naming the flag of the first invalid field."""
        # Not __post_init__: draccus would wrap these messages in "Couldn't instantiate class".
        if self.backend not in ("sim", "can"):
            raise ValueError(f"--backend={self.backend!r}: use `can` or `sim`.")
        if self.arm not in ("follower", "leader"):
            raise ValueError(f"--arm={self.arm!r}: use `follower` or `leader`.")
        self.gravity.validate("--gravity")
        if self.calibration_prefix not in ("", "left_", "right_"):
            raise ValueError(f"--calibration_prefix={self.calibration_prefix!r}: use `left_`, `right_` or ``.")
        if self.encoding not in ("msgpack", "json"):
            raise ValueError(f"--encoding={self.encoding!r}: use `msgpack` or `json`.")
        if not 0 < self.watchdog_s <= 0.4:
            raise ValueError(f"--watchdog_s={self.watchdog_s} must be in (0, 0.4].")
        if not self.rate_hz > 0:
            raise ValueError(f"--rate_hz={self.rate_hz} must be positive.")
        largest = largest_client_message_bytes(self.encoding)
        if self.max_message_bytes < largest:
            raise ValueError(f"--max_message_bytes={self.max_message_bytes} is below the largest legal "
                             f"{self.encoding} message ({largest} bytes): legal commands would be dropped.")


def gravity_feedforward(cfg: YamServerConfig) -> Feedforward | None:
    """The gravity model through this arm's joint zero (its calibration file, else motors zeroed at rest)."""
    from lerobot_recap.motors.yam.gravity import GravityModel, make_feedforward

    if not cfg.gravity.enabled:
        return None
    offset, direction = np.zeros(6), np.ones(6)
    if cfg.calibration_file is not None:
        offset, direction = load_joint_zero(cfg.calibration_file, cfg.calibration_prefix)
    else:
        logger.warning("No --calibration_file: the gravity model assumes the motors are zeroed at the rest pose.")
    return make_feedforward(GravityModel(cfg.gravity), offset, direction)


def load_joint_zero(path: str, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Joint zero offsets and directions of joints 1..6 from a LeRobot calibration JSON (microradian units)."""
    try:
        data = json.loads(Path(path).read_text())
        entries = [data[f"{prefix}{joint}"] for joint in ARM_JOINTS[:6]]
        offset = np.array([e["homing_offset"] / MICRO for e in entries])
        direction = np.array([-1.0 if e["drive_mode"] else 1.0 for e in entries])
    except (OSError, ValueError, KeyError, TypeError) as e:
        # `from None`: the message names the cause, and the CLI reports the innermost error of a chain.
        raise ValueError(
            f"--calibration_file={path}: cannot read the joint zero of `{prefix}joint_1..6` ({type(e).__name__}: {e}). "
            "Copy the file `lerobot-calibrate` wrote for this robot id and set --calibration_prefix=left_ or right_."
        ) from None
    return offset, direction


def load_gripper_range(path: str, prefix: str) -> tuple[float, float]:
    """Motor angles of the closed and open gripper (a leader: the handle squeeze range) from a calibration JSON."""
    try:
        entry = json.loads(Path(path).read_text())[f"{prefix}gripper"]
        closed, opened = entry["range_min"] / MICRO, entry["range_max"] / MICRO
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"--calibration_file={path}: cannot read the range of `{prefix}gripper` ({type(e).__name__}: {e}). "
            "Copy the file `lerobot-calibrate` wrote for this robot id and set --calibration_prefix=left_ or right_."
        ) from None
    return closed, opened


def motor_limits(cfg: YamServerConfig) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of each of the 7 motor-space targets this server accepts.

    The YAM joint ranges (``YAM_JOINT_LIMITS_RAD``) taken to motor space through the calibration file's joint zero
    and directions, else through I2RT's factory convention (motors zeroed at the folded rest pose, directions +1,
    which is what ``lerobot-calibrate`` finds on a factory arm). The 7th value: the calibrated gripper range, else
    the linear_4310's full stroke from 0; on a leader, the handle squeeze in [0, 1].
    The robot already clamps a margin inside these ranges; this is the backstop for any other client.
    """
    offset, direction = np.zeros(6), np.ones(6)
    seventh = (0.0, 1.0) if cfg.arm == "leader" else (0.0, LINEAR_4310_STROKE_RAD)
    if cfg.calibration_file is not None:
        offset, direction = load_joint_zero(cfg.calibration_file, cfg.calibration_prefix)
        seventh = load_gripper_range(cfg.calibration_file, cfg.calibration_prefix)
    joint_low, joint_high = np.array(YAM_JOINT_LIMITS_RAD).T
    ends = np.stack([offset + direction * joint_low, offset + direction * joint_high])  # swapped where flipped
    lower = np.append(ends.min(axis=0), min(seventh))
    upper = np.append(ends.max(axis=0), max(seventh))
    return lower, upper


def make_backend(cfg: YamServerConfig) -> ArmBackend:
    """The arm this server owns: a :class:`SimArm`, or a follower / leader arm on its CAN channel (not connected)."""
    velocity = np.append(np.full(6, cfg.max_joint_velocity), cfg.max_gripper_velocity)
    if cfg.backend == "sim":
        # A simulated leader's 7th value is the handle squeeze (released); a follower's the gripper motor angle.
        home = np.array([0.0, 0.6, 0.6, 0.0, 0.0, 0.0, 0.0 if cfg.arm == "leader" else 3.285])
        return SimArm(f"sim {cfg.arm} :{cfg.port}", home, velocity, cfg.watchdog_s)
    # python-can (through LeRobot's Damiao tables) loads only for a real arm.
    from lerobot_recap.motors.yam.can_arm import CanArm, LeaderCanArm
    from lerobot_recap.motors.yam.teaching_handle import HandleCodec

    common: dict[str, Any] = dict(
        control_hz=cfg.control_hz, passive_kd=np.array(cfg.passive_kd), feedforward=gravity_feedforward(cfg),
        max_torque_nm=cfg.gravity.max_torque_nm,
    )
    name = f"{cfg.arm} arm on {cfg.channel}"
    if cfg.arm == "leader":
        return LeaderCanArm(name, cfg.channel, cfg.can_interface, YAM_CAN_BITRATE, np.array(cfg.kp),
                            np.array(cfg.kd), velocity, cfg.watchdog_s,
                            handle_codec=HandleCodec(range_rad=cfg.handle_range_rad),
                            handle_request_id=cfg.handle_request_id, handle_reply_id=cfg.handle_reply_id, **common)
    return CanArm(name, cfg.channel, cfg.can_interface, YAM_CAN_BITRATE, np.array(cfg.kp), np.array(cfg.kd),
                  velocity, cfg.watchdog_s, **common)


class YamArmServer:
    """Binds the sockets, applies commands to the backend and publishes its state at ``rate_hz``."""

    def __init__(self, cfg: YamServerConfig, backend: ArmBackend | None = None):
        cfg.validate()
        self.cfg = cfg
        self.backend = backend if backend is not None else make_backend(cfg)
        self.lower, self.upper = motor_limits(cfg)
        self.rejected = 0
        """Malformed messages refused (never decoded further, never applied)."""
        self.clamped = 0
        """Commands with a target outside ``lower``..``upper``, applied clamped."""
        self.commands = 0
        self._stop = threading.Event()
        # One warning a second at most: a client can send thousands of bad messages a second.
        self._warn_rejected = RateLimitedLog(logger)
        self._warn_clamped = RateLimitedLog(logger)

    def stop(self) -> None:
        """Make :meth:`serve` return (from another thread or a signal handler); the arm is then released."""
        self._stop.set()

    def _bind(self, socket: Any, port: int) -> None:
        import zmq

        endpoint = f"tcp://{self.cfg.host}:{port}"
        try:
            socket.bind(endpoint)
        except zmq.ZMQError as e:
            # An OSError, not a ZMQError: a taken port is the environment's fault, reported as one line by the CLI.
            raise OSError(
                f"cannot bind {endpoint} ({e}): is another lerobot-recap-yam-server using --port={self.cfg.port} "
                f"(it takes {self.cfg.port} and {self.cfg.port + 1}), or is --host={self.cfg.host} not this machine?"
            ) from e

    def serve(self) -> None:
        """Bind, connect the arm, then serve until :meth:`stop`; the arm is disconnected (damped) on the way out."""
        import zmq

        context = zmq.Context()
        pull = context.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        # libzmq reads the size in the frame header and drops the connection of an oversized message before
        # receiving it: no allocation, no Python decode and no stall of state publishing (a 36 MiB message used to
        # hold the loop for over a second, longer than the clients' timeout).
        pull.setsockopt(zmq.MAXMSGSIZE, self.cfg.max_message_bytes)
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, 1)
        try:
            self._bind(pull, self.cfg.port)
            self._bind(pub, self.cfg.port + 1)
            self.backend.connect()
            try:
                self._serve_connected(pull, pub)
            finally:
                self.backend.disconnect()
        finally:
            pull.close(linger=0)
            pub.close(linger=0)
            context.term()

    def _serve_connected(self, pull: Any, pub: Any) -> None:
        if self.cfg.arm == "leader":
            self.backend.set_passive(True)  # a leader floats from the start; clients may add a bilateral pull
        logger.info(
            "Serving %s on tcp://%s:%d (commands; state on tcp://%s:%d), %s, messages up to %d bytes.",
            self.backend.name, self.cfg.host, self.cfg.port, self.cfg.host, self.cfg.port + 1, self.cfg.encoding,
            self.cfg.max_message_bytes,
        )
        logger.info("Targets are clamped to the motor range %s .. %s (%s).", np.round(self.lower, 3).tolist(),
                    np.round(self.upper, 3).tolist(),
                    "from --calibration_file" if self.cfg.calibration_file else "motors zeroed at the rest pose")
        period = 1.0 / self.cfg.rate_hz
        seq = 0
        next_publish = time.monotonic()
        while not self._stop.is_set():
            # Commands are applied as they arrive, but state goes out on its own clock: busy clients neither
            # speed publishing up nor (with the bounded drain) hold it back.
            wait_ms = max(0, math.ceil((next_publish - time.monotonic()) * 1000))
            if pull.poll(wait_ms):
                self._drain(pull)
            now = time.monotonic()
            if now >= next_publish:
                seq += 1
                pub.send(encode(self._state_message(seq), self.cfg.encoding))
                next_publish += period
                if next_publish <= now:  # late (a slow backend read): restart the schedule, no catch-up burst
                    next_publish = now + period

    def _drain(self, pull: Any) -> None:
        import zmq

        latest_command = None
        for _ in range(MAX_MESSAGES_PER_CYCLE):
            try:
                payload = pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                message = decode(payload, self.cfg.encoding)
            except ProtocolError as e:
                self.rejected += 1
                self._warn_rejected("Rejected a malformed message (%d so far): %s", self.rejected, e)
                continue
            if message["type"] == "command":
                latest_command = message["position"]  # only the newest target matters
            elif message["type"] == "hold":
                self.backend.hold()
            elif message["type"] == "passive":
                self.backend.set_passive(message["on"], message["kp_scale"])
        if latest_command is not None:
            self._command(np.array(latest_command, dtype=np.float64))

    def _command(self, target: np.ndarray) -> None:
        """Apply a target clamped to the arm's range; a non-finite one is refused (``decode`` already does)."""
        if not np.all(np.isfinite(target)):
            # Belt and braces: NaN compares false with everything, so it would pass np.clip unchanged.
            self.rejected += 1
            self._warn_rejected("Rejected a non-finite target (%d so far): %s", self.rejected, target.tolist())
            return
        safe = np.clip(target, self.lower, self.upper)
        if not np.array_equal(safe, target):
            # The robot clamps (with a margin) before sending, so only a raw or broken client gets here.
            self.clamped += 1
            outside = [f"{ARM_JOINTS[i]}={target[i]:.4g}" for i in np.flatnonzero(safe != target)]
            self._warn_clamped("Clamped a target outside the arm's range (%d so far): %s", self.clamped,
                               ", ".join(outside))
        self.commands += 1
        try:
            self.backend.command(safe)
        except ArmFaultError:
            pass  # reported to the client in the state message

    def _state_message(self, seq: int) -> dict[str, Any]:
        message: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "state", "seq": seq,
                                   "watchdog": self.backend.watchdog_tripped, "fault": None,
                                   "rejected": self.rejected, "clamped": self.clamped}
        try:
            state = self.backend.read()
        except ArmFaultError as e:
            message["fault"] = str(e)
            zeros = [0.0] * N_MOTORS
            message.update(position=zeros, velocity=zeros, effort=zeros)
            return message
        message.update(position=state.position.tolist(), velocity=state.velocity.tolist(),
                       effort=state.effort.tolist(), buttons=[bool(b) for b in state.buttons])
        return message


def run(cfg: YamServerConfig) -> None:
    """Serve one arm until SIGTERM or Ctrl-C (the body of ``lerobot-recap-yam-server``); both end it cleanly."""
    server = YamArmServer(cfg)
    # Called from the main thread (the console script): a service manager's SIGTERM releases the arm like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
