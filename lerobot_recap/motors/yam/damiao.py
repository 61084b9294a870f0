"""A thin Damiao MIT-mode driver over python-can: frame encoding/decoding and one motor chain per CAN channel.

Protocol (classic CAN, 8-byte frames, standard IDs):
- to a motor (arbitration ID = motor ID): ``FF FF FF FF FF FF FF cc`` with ``cc`` = FC enable, FD disable,
  FE set zero, FB clear error; or an MIT command packing position (16 bits), velocity (12), kp (12), kd (12) and
  feed-forward torque (12), each mapped linearly onto the motor's range;
- from a motor (arbitration ID = its feedback ID, motor ID + 0x10 on YAM): ``err<<4 | id``, position (16 bits),
  velocity (12), torque (12), MOSFET and rotor temperatures.
Other devices on the same bus (the leader's teaching-handle encoder) are reached through :meth:`DamiaoChain.send_raw`
and :meth:`DamiaoChain.listen`. python-can is imported only when a chain opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


logger = logging.getLogger(__name__)

MOTOR_LIMITS = {"dm4310": (12.5, 30.0, 10.0), "dm4340": (12.5, 8.0, 28.0), "dm3507": (12.5, 30.0, 10.0)}
"""(P_MAX rad, V_MAX rad/s, T_MAX Nm) per Damiao model: MIT values are scaled onto [-max, max]."""
KP_RANGE = (0.0, 500.0)
KD_RANGE = (0.0, 5.0)
FEEDBACK_ID_OFFSET = 0x10

ENABLE, DISABLE, SET_ZERO, CLEAR_ERROR = 0xFC, 0xFD, 0xFE, 0xFB


class CanChannelError(ConnectionError):
    """The CAN interface cannot be opened."""


class MotorNotRespondingError(ConnectionError):
    """A motor did not answer."""


def special_frame(command: int) -> bytes:
    return bytes([0xFF] * 7 + [command])


def float_to_uint(x: float, low: float, high: float, bits: int) -> int:
    x = min(max(float(x), low), high)
    return int(round((x - low) / (high - low) * ((1 << bits) - 1)))


def uint_to_float(x: int, low: float, high: float, bits: int) -> float:
    return low + x / ((1 << bits) - 1) * (high - low)


def encode_mit(model: str, position: float, velocity: float, kp: float, kd: float, torque: float) -> bytes:
    p_max, v_max, t_max = MOTOR_LIMITS[model]
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
    p_max, v_max, t_max = MOTOR_LIMITS[model]
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
    motor_id: int
    error: int
    position: float
    velocity: float
    torque: float
    temp_mos: int
    temp_rotor: int


def encode_feedback(model: str, fb: Feedback) -> bytes:
    p_max, v_max, t_max = MOTOR_LIMITS[model]
    p = float_to_uint(fb.position, -p_max, p_max, 16)
    v = float_to_uint(fb.velocity, -v_max, v_max, 12)
    t = float_to_uint(fb.torque, -t_max, t_max, 12)
    return bytes(
        [(fb.error << 4) | (fb.motor_id & 0xF), p >> 8, p & 0xFF, v >> 4, ((v & 0xF) << 4) | (t >> 8), t & 0xFF,
         fb.temp_mos & 0xFF, fb.temp_rotor & 0xFF]
    )


def decode_feedback(model: str, data: bytes) -> Feedback:
    p_max, v_max, t_max = MOTOR_LIMITS[model]
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
    """Motors with IDs 1..n on one CAN channel (one YAM arm)."""

    def __init__(self, label: str, channel: str, interface: str, bitrate: int, models: tuple[str, ...]):
        self.label = label
        self.channel = channel
        self.interface = interface
        self.bitrate = bitrate
        self.models = models
        self.ids = tuple(range(1, len(models) + 1))
        self._bus = None
        self._listeners: dict[int, Callable[[bytes], None]] = {}

    def open(self) -> None:
        try:
            import can
        except ImportError as e:
            raise ImportError("The YAM `can` backend needs python-can: pip install 'lerobot-recap[can]'.") from e
        try:
            self._bus = can.Bus(interface=self.interface, channel=self.channel, bitrate=self.bitrate)
        except (OSError, can.CanError, ValueError) as e:
            raise CanChannelError(
                f"{self.label}: cannot open CAN channel {self.channel!r} ({self.interface}): {e}. "
                f"Check it exists (`ip link show {self.channel}`) and is up "
                f"(`sudo ip link set {self.channel} up type can bitrate {self.bitrate}`); udev rules give stable names."
            ) from e

    def close(self) -> None:
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def _send(self, motor_id: int, data: bytes) -> None:
        self.send_raw(motor_id, data)

    def send_raw(self, arbitration_id: int, data: bytes) -> None:
        """Send one standard-ID frame (motor frames and the frames of other devices on this arm's bus)."""
        import can

        self._bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))

    def listen(self, arbitration_id: int, handler: Callable[[bytes], None]) -> None:
        """Hand frames with ``arbitration_id`` (not a motor's feedback) to ``handler`` during :meth:`poll`."""
        self._listeners[arbitration_id] = handler

    def send_special(self, command: int) -> None:
        for motor_id in self.ids:
            self._send(motor_id, special_frame(command))

    def send_mit(self, position, velocity, kp, kd, torque) -> None:
        for i, motor_id in enumerate(self.ids):
            self._send(motor_id, encode_mit(self.models[i], position[i], velocity[i], kp[i], kd[i], torque[i]))

    def poll(self, timeout_s: float = 0.0) -> dict[int, Feedback]:
        """Feedback frames that arrived (the newest per motor), waiting at most ``timeout_s`` for the first."""
        received: dict[int, Feedback] = {}
        message = self._bus.recv(timeout_s)
        while message is not None:
            motor_id = message.arbitration_id - FEEDBACK_ID_OFFSET
            if motor_id in self.ids and len(message.data) == 8:
                received[motor_id] = decode_feedback(self.models[motor_id - 1], bytes(message.data))
            elif message.arbitration_id in self._listeners:
                self._listeners[message.arbitration_id](bytes(message.data))
            message = self._bus.recv(0.0)
        return received

    def enable(self, timeout_s: float) -> dict[int, Feedback]:
        """Enable every motor and wait for each one's reply; raise naming the silent ones (all disabled again)."""
        self.send_special(ENABLE)
        answered: dict[int, Feedback] = {}
        deadline = time.monotonic() + timeout_s
        while len(answered) < len(self.ids) and time.monotonic() < deadline:
            answered.update(self.poll(min(0.01, max(0.0, deadline - time.monotonic()))))
        silent = [i for i in self.ids if i not in answered]
        if silent:
            self.send_special(DISABLE)
            raise MotorNotRespondingError(
                f"{self.label}: motor(s) {', '.join(f'0x{i:02X}' for i in silent)} on CAN channel {self.channel!r} "
                f"did not answer the enable frame within {timeout_s:.2f} s (feedback IDs "
                f"{', '.join(f'0x{i + FEEDBACK_ID_OFFSET:02X}' for i in silent)}). Check the arm's power, the CAN "
                "cable and termination, and that each motor's ID is set; all motors were disabled again."
            )
        faulty = {i: fb.error for i, fb in answered.items() if fb.error not in (0, 1)}
        if faulty:
            logger.warning("%s: motors report error codes %s after enable.", self.label, faulty)
        return answered
