"""Damiao motors in MIT mode for the YAM: frame encoding/decoding and one motor chain per CAN channel (python-can).

What is LeRobot's and what is not
---------------------------------
LeRobot 0.6.1 ships a Damiao driver, ``lerobot.motors.damiao``. Taken from it, as shipped (never patched):

- **the motor tables** (``lerobot/motors/damiao/tables.py``): position/velocity/torque range of each model's MIT
  frame (``MOTOR_LIMIT_PARAMS``, by ``MODEL_NAMES``), the gain ranges ``MIT_KP_RANGE`` / ``MIT_KD_RANGE`` and the
  command bytes. :data:`MOTOR_LIMITS` and :func:`motor_limits` are views of those tables, not a copy, so a model
  LeRobot adds or corrects reaches the YAM drivers with no change here;
- **the motor description**: a chain is built from the same ``dict[str, Motor]`` (send ID, ``recv_id``,
  ``motor_type_str``) that ``DamiaoMotorsBus`` takes (:func:`yam_motors`), and :func:`make_motors_bus` hands out
  LeRobot's own bus for a YAM arm (classic CAN, replies on ID + 0x10) for what its public API does well with no
  servo loop running: reading motor states, torque on and off, LeRobot tools that take a motors bus.

The servo loop (:class:`~lerobot_recap.motors.yam.can_arm.CanArm`) does not run on ``DamiaoMotorsBus``. In 0.6.1
(``lerobot/motors/damiao/damiao.py``) the bus:

- sends a feed-forward torque only through its private ``_mit_control`` / ``_mit_control_batch``; the public
  ``write`` / ``sync_write("Goal_Position", ...)`` always send torque 0, and YAM gravity compensation *is* that
  torque (a YAM arm under position gains alone sags);
- consumes every frame that is not the motor reply it waits for (``_recv_motor_response``,
  ``_recv_all_responses``): on a leader arm the teaching handle answers on the same bus, and its frames would be
  lost;
- blocks after each command until the replies arrive (up to 1 ms per MIT batch, 10 ms per ``sync_write``), where
  the loop sends every 4 ms and reads whatever has arrived without waiting;
- decodes the enable frame it *sent* instead of the motor's reply in ``_handshake``, so every cached position reads
  the top of the range (12.5 rad = 716.2 degrees) until the next refresh; the loop's first act is to hold the pose
  measured at enable, and a hold at that value would throw the arm to the end of its range;
- speaks degrees at its API, where the YAM stack (calibration, gravity model, i2rt's conventions) is in radians;
- has no clear-error command (0xFB is not in LeRobot's tables: :data:`CAN_CMD_CLEAR_ERROR` is defined here) and no
  watchdog: the loop feeds the motors' own 400 ms timeout and holds when actions stop
  (:class:`~lerobot_recap.motors.yam.arm.SetpointShaper`).

So the frames of the servo loop are encoded by this module's own codec, over LeRobot's constants.

Protocol (classic CAN, 8-byte frames, standard IDs)
---------------------------------------------------
- to a motor (arbitration ID = its ID): ``FF FF FF FF FF FF FF cc`` with ``cc`` = FC enable, FD disable, FE set
  zero, FB clear error; or an MIT command packing position (16 bits), velocity (12), kp (12), kd (12) and
  feed-forward torque (12), each mapped linearly onto the motor's range;
- refresh (any motor, arbitration ID ``0x7FF``): ``id_lo id_hi CC 00 00 00 00 00``; the motor answers with feedback;
- from a motor (arbitration ID = its ``recv_id``, ID + 0x10 on the YAM): ``err<<4 | id``, position (16 bits),
  velocity (12), torque (12), MOSFET and rotor temperatures.

Other devices on an arm's bus (the leader's teaching handle) are reached through :meth:`DamiaoChain.send_raw` and
:meth:`DamiaoChain.listen`. Importing this module loads LeRobot's Damiao package, which imports python-can when it
is installed: import it lazily, never from a config module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from lerobot.motors import Motor, MotorNormMode
from lerobot.motors.damiao import DamiaoMotorsBus
from lerobot.motors.damiao.tables import (
    CAN_CMD_DISABLE,
    CAN_CMD_ENABLE,
    CAN_CMD_REFRESH,
    CAN_CMD_SET_ZERO,  # noqa: F401  (re-exported: the codec's command bytes in one place)
    CAN_PARAM_ID,  # noqa: F401  (re-exported)
    MIT_KD_RANGE,
    MIT_KP_RANGE,
    MODEL_NAMES,
    MOTOR_LIMIT_PARAMS,
)

from lerobot_recap.motors.yam.tables import ARM_JOINTS, FEEDBACK_ID_OFFSET, YAM_CAN_BITRATE, YAM_MOTOR_TYPES

logger = logging.getLogger(__name__)

MOTOR_LIMITS: Mapping[str, tuple[float, float, float]] = MappingProxyType(
    {name: MOTOR_LIMIT_PARAMS[motor_type] for motor_type, name in MODEL_NAMES.items()}
)
"""(P_MAX rad, V_MAX rad/s, T_MAX Nm) by model name (``dm4340``...): LeRobot's ``MOTOR_LIMIT_PARAMS``, read-only."""
KP_RANGE = MIT_KP_RANGE
"""Range of the MIT frame's kp field (LeRobot's ``MIT_KP_RANGE``)."""
KD_RANGE = MIT_KD_RANGE
"""Range of the MIT frame's kd field (LeRobot's ``MIT_KD_RANGE``)."""
CAN_CMD_CLEAR_ERROR = 0xFB
"""Clears a latched motor error (over-temperature, lost communication...); absent from LeRobot's tables."""


class CanChannelError(ConnectionError):
    """The CAN interface cannot be opened."""


class MotorNotRespondingError(ConnectionError):
    """A motor did not answer."""


def motor_limits(model: str) -> tuple[float, float, float]:
    """(P_MAX, V_MAX, T_MAX) of a Damiao model, as LeRobot's tables give them; a ValueError names unknown models."""
    try:
        return MOTOR_LIMITS[model]
    except KeyError:
        raise ValueError(
            f"Unknown Damiao motor model {model!r}; LeRobot's tables know {', '.join(sorted(MOTOR_LIMITS))}."
        ) from None


def yam_motors(models: Sequence[str], names: Sequence[str] = ARM_JOINTS) -> dict[str, Motor]:
    """LeRobot ``Motor`` descriptions of one YAM arm: IDs 1..n in ``names`` order, replies on ID + 0x10.

    The same map drives a :class:`DamiaoChain` and LeRobot's ``DamiaoMotorsBus`` (which always works in degrees,
    hence ``MotorNormMode.DEGREES``).
    """
    for model in models:
        motor_limits(model)  # fail at construction, not in the first servo tick
    return {
        name: Motor(i + 1, model, MotorNormMode.DEGREES, motor_type_str=model, recv_id=i + 1 + FEEDBACK_ID_OFFSET)
        for i, (name, model) in enumerate(zip(names[: len(models)], models, strict=True))
    }


def make_motors_bus(
    channel: str, interface: str = "socketcan", models: Sequence[str] = YAM_MOTOR_TYPES, bitrate: int = YAM_CAN_BITRATE
) -> DamiaoMotorsBus:
    """LeRobot's ``DamiaoMotorsBus`` for one YAM arm (classic CAN), for reads and torque on/off with no servo loop.

    Positions at its API are in degrees. Do not open it on a channel a :class:`DamiaoChain` is serving, and read
    states with ``sync_read_all_states`` after ``connect`` (its handshake leaves the cached positions wrong).
    """
    return DamiaoMotorsBus(
        port=channel,
        motors=yam_motors(models),
        can_interface=interface,
        use_can_fd=False,
        bitrate=bitrate,
        data_bitrate=None,
    )


def special_frame(command: int) -> bytes:
    """The 8-byte frame of a one-byte command (enable, disable, set zero, clear error)."""
    return bytes([0xFF] * 7 + [command])


def refresh_frame(motor_id: int) -> bytes:
    """The data of a refresh request (sent on ``CAN_PARAM_ID``): the motor answers with a feedback frame."""
    return bytes([motor_id & 0xFF, (motor_id >> 8) & 0xFF, CAN_CMD_REFRESH, 0, 0, 0, 0, 0])


def float_to_uint(x: float, low: float, high: float, bits: int) -> int:
    """Map ``x`` (clipped to [low, high]) linearly onto ``bits`` unsigned bits, rounding to the nearest step."""
    x = min(max(float(x), low), high)
    return int(round((x - low) / (high - low) * ((1 << bits) - 1)))


def uint_to_float(x: int, low: float, high: float, bits: int) -> float:
    """Inverse of :func:`float_to_uint`."""
    return low + x / ((1 << bits) - 1) * (high - low)


def encode_mit(model: str, position: float, velocity: float, kp: float, kd: float, torque: float) -> bytes:
    """One MIT command (rad, rad/s, gains, Nm), each field saturated to the model's range."""
    p_max, v_max, t_max = motor_limits(model)
    p = float_to_uint(position, -p_max, p_max, 16)
    v = float_to_uint(velocity, -v_max, v_max, 12)
    kp_u = float_to_uint(kp, *KP_RANGE, 12)
    kd_u = float_to_uint(kd, *KD_RANGE, 12)
    t = float_to_uint(torque, -t_max, t_max, 12)
    return bytes(
        [p >> 8, p & 0xFF, v >> 4, ((v & 0xF) << 4) | (kp_u >> 8), kp_u & 0xFF, kd_u >> 4,
         ((kd_u & 0xF) << 4) | (t >> 8), t & 0xFF]
    )


def decode_mit(model: str, data: bytes) -> tuple[float, float, float, float, float]:
    """Inverse of :func:`encode_mit` (used by the simulated motor): position, velocity, kp, kd, torque."""
    p_max, v_max, t_max = motor_limits(model)
    p = (data[0] << 8) | data[1]
    v = (data[2] << 4) | (data[3] >> 4)
    kp = ((data[3] & 0xF) << 8) | data[4]
    kd = (data[5] << 4) | (data[6] >> 4)
    t = ((data[6] & 0xF) << 8) | data[7]
    return (
        uint_to_float(p, -p_max, p_max, 16),
        uint_to_float(v, -v_max, v_max, 12),
        uint_to_float(kp, *KP_RANGE, 12),
        uint_to_float(kd, *KD_RANGE, 12),
        uint_to_float(t, -t_max, t_max, 12),
    )


@dataclass
class Feedback:
    """One motor's feedback frame, decoded (rad, rad/s, Nm, degrees Celsius)."""

    motor_id: int
    error: int
    position: float
    velocity: float
    torque: float
    temp_mos: int
    temp_rotor: int


def encode_feedback(model: str, fb: Feedback) -> bytes:
    """The feedback frame a motor sends (used by the simulated motor)."""
    p_max, v_max, t_max = motor_limits(model)
    p = float_to_uint(fb.position, -p_max, p_max, 16)
    v = float_to_uint(fb.velocity, -v_max, v_max, 12)
    t = float_to_uint(fb.torque, -t_max, t_max, 12)
    return bytes(
        [(fb.error << 4) | (fb.motor_id & 0xF), p >> 8, p & 0xFF, v >> 4, ((v & 0xF) << 4) | (t >> 8), t & 0xFF,
         fb.temp_mos & 0xFF, fb.temp_rotor & 0xFF]
    )


def decode_feedback(model: str, data: bytes) -> Feedback:
    """Inverse of :func:`encode_feedback`."""
    p_max, v_max, t_max = motor_limits(model)
    p = (data[1] << 8) | data[2]
    v = (data[3] << 4) | (data[4] >> 4)
    t = ((data[4] & 0xF) << 8) | data[5]
    return Feedback(
        motor_id=data[0] & 0xF,
        error=data[0] >> 4,
        position=uint_to_float(p, -p_max, p_max, 16),
        velocity=uint_to_float(v, -v_max, v_max, 12),
        torque=uint_to_float(t, -t_max, t_max, 12),
        temp_mos=data[6],
        temp_rotor=data[7],
    )


class DamiaoChain:
    """The motors of one CAN channel (one YAM arm), described by LeRobot ``Motor`` entries (see :func:`yam_motors`).

    Sending never waits for replies: :meth:`poll` takes whatever feedback has arrived, so a servo loop keeps its
    rate, and frames of other devices on the bus go to the handlers registered with :meth:`listen`.
    """

    def __init__(self, label: str, channel: str, interface: str, bitrate: int, motors: Mapping[str, Motor]):
        self.label = label
        self.channel = channel
        self.interface = interface
        self.bitrate = bitrate
        self.motors = dict(motors)
        self.names = tuple(self.motors)
        self.ids = tuple(m.id for m in self.motors.values())
        self.models = tuple(m.motor_type_str or m.model for m in self.motors.values())
        for model in self.models:
            motor_limits(model)
        self.recv_ids = tuple(
            m.recv_id if m.recv_id is not None else m.id + FEEDBACK_ID_OFFSET for m in self.motors.values()
        )
        self._index_by_recv_id = {recv_id: i for i, recv_id in enumerate(self.recv_ids)}
        self._bus = None
        self._listeners: dict[int, Callable[[bytes], None]] = {}

    def open(self) -> None:
        """Open the CAN channel; a missing or down interface raises :class:`CanChannelError` with the fix."""
        try:
            import can
        except ImportError as e:
            raise ImportError("The YAM `can` backend needs python-can: pip install 'lerobot-recap[can]'.") from e
        try:
            self._bus = can.Bus(interface=self.interface, channel=self.channel, bitrate=self.bitrate)
        except (OSError, can.CanError, ValueError) as e:
            # `from None`: the message carries python-can's reason, and the CLIs report the innermost error of a
            # chain, which would be that bare reason without the fix below.
            raise CanChannelError(
                f"{self.label}: cannot open CAN channel {self.channel!r} ({self.interface}): {e}. "
                f"Check it exists (`ip link show {self.channel}`) and is up "
                f"(`sudo ip link set {self.channel} up type can bitrate {self.bitrate}`); udev rules give stable names."
            ) from None

    def close(self) -> None:
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def send_raw(self, arbitration_id: int, data: bytes) -> None:
        """Send one standard-ID frame (motor frames and the frames of other devices on this arm's bus)."""
        import can

        self._bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))

    def listen(self, arbitration_id: int, handler: Callable[[bytes], None]) -> None:
        """Hand frames with ``arbitration_id`` (not a motor's feedback) to ``handler`` during :meth:`poll`."""
        self._listeners[arbitration_id] = handler

    def send_special(self, command: int) -> None:
        """Send a one-byte command (``CAN_CMD_ENABLE``, ``CAN_CMD_DISABLE``...) to every motor."""
        for motor_id in self.ids:
            self.send_raw(motor_id, special_frame(command))

    def send_mit(self, position: Sequence[float], velocity: Sequence[float], kp: Sequence[float],
                 kd: Sequence[float], torque: Sequence[float]) -> None:
        """One MIT frame per motor, in chain order (rad, rad/s, gains, feed-forward Nm)."""
        for i, motor_id in enumerate(self.ids):
            self.send_raw(motor_id, encode_mit(self.models[i], position[i], velocity[i], kp[i], kd[i], torque[i]))

    def poll(self, timeout_s: float = 0.0) -> dict[int, Feedback]:
        """Feedback that arrived, by chain index (the newest per motor), waiting at most ``timeout_s`` for the first."""
        received: dict[int, Feedback] = {}
        message = self._bus.recv(timeout_s)
        while message is not None:
            index = self._index_by_recv_id.get(message.arbitration_id)
            if index is not None and len(message.data) == 8:
                received[index] = decode_feedback(self.models[index], bytes(message.data))
            elif message.arbitration_id in self._listeners:
                self._listeners[message.arbitration_id](bytes(message.data))
            message = self._bus.recv(0.0)
        return received

    def enable(self, timeout_s: float) -> dict[int, Feedback]:
        """Enable every motor and wait for each one's reply; raise naming the silent ones (all disabled again)."""
        self.send_special(CAN_CMD_ENABLE)
        answered: dict[int, Feedback] = {}
        deadline = time.monotonic() + timeout_s
        while len(answered) < len(self.ids) and time.monotonic() < deadline:
            answered.update(self.poll(min(0.01, max(0.0, deadline - time.monotonic()))))
        silent = [i for i in range(len(self.ids)) if i not in answered]
        if silent:
            self.send_special(CAN_CMD_DISABLE)
            raise MotorNotRespondingError(
                f"{self.label}: motor(s) {', '.join(f'0x{self.ids[i]:02X}' for i in silent)} on CAN channel "
                f"{self.channel!r} did not answer the enable frame within {timeout_s:.2f} s (feedback IDs "
                f"{', '.join(f'0x{self.recv_ids[i]:02X}' for i in silent)}). Check the arm's power, the CAN "
                "cable and termination, and that each motor's ID is set; all motors were disabled again."
            )
        # Error code 0 is "disabled", 1 "enabled"; anything else is a latched fault (CAN_CMD_CLEAR_ERROR clears it).
        faulty = {self.names[i]: fb.error for i, fb in answered.items() if fb.error not in (0, 1)}
        if faulty:
            logger.warning("%s: motors report error codes %s after enable.", self.label, faulty)
        return answered
