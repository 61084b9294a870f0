"""Simulated Damiao motors answering on a python-can bus (``virtual`` interface): the protocol-level test double.

They decode the real frames (enable/disable/zero, MIT commands, refresh requests) and answer with real feedback
frames, so a driver is exercised byte for byte without hardware: this project's servo loop, and LeRobot's
``DamiaoMotorsBus`` too (an independent implementation of the same protocol, which keeps this double honest). A
motor can be made silent from the start or mid-run. With ``handle=True`` a simulated teaching handle answers polls
too (a leader arm): tests set ``handle_position_rad`` and ``handle_buttons`` to play the operator.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

import numpy as np

from lerobot_recap.motors.yam.damiao import (
    CAN_CMD_DISABLE,
    CAN_CMD_ENABLE,
    CAN_CMD_REFRESH,
    CAN_CMD_SET_ZERO,
    CAN_PARAM_ID,
    FEEDBACK_ID_OFFSET,
    Feedback,
    decode_mit,
    encode_feedback,
    special_frame,
)
from lerobot_recap.motors.yam.teaching_handle import (
    HANDLE_POLL,
    HANDLE_REPLY_ID,
    HANDLE_REQUEST_ID,
    HandleCodec,
)


class VirtualDamiaoArm:
    """Motors 1..n on ``channel``: each tracks its MIT position target when enabled (first order per frame)."""

    def __init__(self, channel: str, models: tuple[str, ...], initial_position: Sequence[float] | None = None,
                 silent: Collection[int] = frozenset(), interface: str = "virtual", handle: bool = False,
                 handle_codec: HandleCodec | None = None):
        import can

        self.handle = handle
        self.handle_codec = handle_codec or HandleCodec()
        self.handle_position_rad = 0.0
        self.handle_buttons = (False, False)
        self.handle_silent = False
        self.handle_polls = 0
        self.models = models
        self.position = np.zeros(len(models)) if initial_position is None else np.array(initial_position, float)
        self.enabled = np.zeros(len(models), dtype=bool)
        self.silent = set(silent)
        self.last_mit: dict[int, tuple[float, float, float, float, float]] = {}
        self.frames_seen = 0
        self._bus = can.Bus(interface=interface, channel=channel)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"virtual-damiao-{channel}", daemon=True)

    def __enter__(self) -> VirtualDamiaoArm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._bus.shutdown()

    def _serve(self) -> None:
        import can

        while not self._stop.is_set():
            message = self._bus.recv(0.01)
            if message is None:
                continue
            motor_id = message.arbitration_id
            data = bytes(message.data)
            if self.handle and motor_id == HANDLE_REQUEST_ID and data == HANDLE_POLL:
                self._answer_handle()
                continue
            refresh = motor_id == CAN_PARAM_ID and len(data) >= 3 and data[2] == CAN_CMD_REFRESH
            if refresh:
                # A refresh names its motor in the data; the motor answers with feedback and changes nothing.
                motor_id = data[0] | (data[1] << 8)
            if not 1 <= motor_id <= len(self.models) or motor_id in self.silent:
                continue
            self.frames_seen += 1
            i = motor_id - 1
            if refresh:
                pass
            elif data == special_frame(CAN_CMD_ENABLE):
                self.enabled[i] = True
            elif data == special_frame(CAN_CMD_DISABLE):
                self.enabled[i] = False
            elif data == special_frame(CAN_CMD_SET_ZERO):
                self.position[i] = 0.0
            else:
                command = decode_mit(self.models[i], data)
                self.last_mit[motor_id] = command
                if self.enabled[i] and command[2] > 0:
                    self.position[i] += 0.3 * (command[0] - self.position[i])
            feedback = Feedback(motor_id, 1 if self.enabled[i] else 0, self.position[i], 0.0, 0.0, 30, 32)
            reply = encode_feedback(self.models[i], feedback)
            self._bus.send(can.Message(arbitration_id=motor_id + FEEDBACK_ID_OFFSET, data=reply, is_extended_id=False))

    def _answer_handle(self) -> None:
        import can

        self.handle_polls += 1
        if self.handle_silent:
            return
        reply = self.handle_codec.encode(self.handle_position_rad, 0.0, self.handle_buttons)
        self._bus.send(can.Message(arbitration_id=HANDLE_REPLY_ID, data=reply, is_extended_id=False))
