"""The YAM teaching handle: the trigger encoder and two buttons of a leader arm, on that arm's CAN bus.

The handle has no motor: a small encoder board answers polls on the leader arm's bus. Frame layout, as read in
I2RT's public driver (``PassiveEncoderReader``) and **not verified on hardware by this project** -- every number
is a config field of ``yam_bimanual_leader`` / ``lerobot-recap-yam-server`` with these defaults:

- poll: standard ID ``0x50E`` (``handle_request_id``), data ``FF 02``;
- reply: standard ID ``0x50F`` (``handle_reply_id``, request ID + 1), 6 bytes big-endian: ``uint8`` device id,
  ``int16`` position and ``int16`` velocity in encoder counts (4096 per turn, ``handle_counts_per_turn``),
  ``uint8`` digital inputs (bit 0 = top button, bit 1 = second button);
- the trigger travels about +-0.7 rad from its rest position (``handle_range_rad``): ``|position|`` divided by that
  range, clipped, gives the squeeze in [0, 1] (0 released, 1 fully squeezed). The follower gripper command is
  ``1 - squeeze`` (squeeze to close; gripper 0 = closed).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

HANDLE_REQUEST_ID = 0x50E
HANDLE_REPLY_ID = 0x50F
HANDLE_POLL = bytes([0xFF, 0x02])
HANDLE_COUNTS_PER_TURN = 4096
HANDLE_RANGE_RAD = 0.7
_REPLY = struct.Struct(">BhhB")


@dataclass(frozen=True)
class HandleReading:
    squeeze: float
    """Trigger squeeze in [0, 1] - 0 released, 1 fully squeezed."""
    velocity: float
    """Trigger velocity, rad/s."""
    buttons: tuple[bool, bool]
    """(top, second) button held."""


@dataclass(frozen=True)
class HandleCodec:
    """Encodes and decodes the handle's reply frame with configurable scaling."""

    counts_per_turn: int = HANDLE_COUNTS_PER_TURN
    range_rad: float = HANDLE_RANGE_RAD

    def decode(self, data: bytes) -> HandleReading:
        if len(data) < _REPLY.size:
            raise ValueError(f"teaching-handle reply has {len(data)} bytes, expected {_REPLY.size}")
        _, position, velocity, inputs = _REPLY.unpack(data[: _REPLY.size])
        scale = 2 * math.pi / self.counts_per_turn
        squeeze = min(abs(position * scale), self.range_rad) / self.range_rad
        return HandleReading(squeeze, velocity * scale, (bool(inputs & 1), bool(inputs & 2)))

    def encode(self, position_rad: float, velocity_rad_s: float, buttons: tuple[bool, bool], device_id: int = 1) -> bytes:
        """The reply a handle sends (used by the simulated handle)."""
        scale = self.counts_per_turn / (2 * math.pi)
        counts = max(-32768, min(32767, round(position_rad * scale)))
        speed = max(-32768, min(32767, round(velocity_rad_s * scale)))
        return _REPLY.pack(device_id & 0xFF, counts, speed, int(buttons[0]) | (int(buttons[1]) << 1))
