"""The ``can`` backend: one YAM arm on its own CAN channel, served by a background MIT-mode servo loop.

The loop sends the (velocity-limited) setpoint to every motor at ``control_hz`` whether or not LeRobot sends
actions, because Damiao motors damp on their own after 400 ms without a frame. Each frame carries the PD gains and
a feed-forward torque: gravity compensation from :mod:`.gravity` evaluated at the measured pose (zero when no
model is given), clamped per motor. :class:`LeaderCanArm` is the same loop on a leader arm: six joint motors, no
gripper motor, and the teaching handle polled on the same bus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lerobot_recap.motors.yam.arm import ArmBackend, ArmFaultError, ArmState, SetpointShaper
from lerobot_recap.motors.yam.damiao import CAN_CMD_DISABLE, DamiaoChain, Feedback, MotorNotRespondingError, yam_motors
from lerobot_recap.motors.yam.gravity import torque_limits
from lerobot_recap.motors.yam.tables import YAM_MOTOR_TYPES
from lerobot_recap.motors.yam.teaching_handle import (
    HANDLE_POLL,
    HANDLE_REPLY_ID,
    HANDLE_REQUEST_ID,
    HandleCodec,
    HandleReading,
)

logger = logging.getLogger(__name__)

Feedforward = Callable[[np.ndarray], np.ndarray]
"""Measured motor angles -> feed-forward torques (Nm) of the first motors (the rest get 0)."""


class CanArm(ArmBackend):
    """A follower YAM arm (7 motors) on its own CAN channel; ``models`` sets the Damiao model of motors 1..n."""

    def __init__(
        self,
        name: str,
        channel: str,
        interface: str,
        bitrate: int,
        kp: np.ndarray,
        kd: np.ndarray,
        max_velocity: np.ndarray,
        watchdog_s: float,
        control_hz: float = 250.0,
        reply_timeout_s: float = 0.1,
        damping_s: float = 0.5,
        enable_timeout_s: float = 0.2,
        models: tuple[str, ...] = YAM_MOTOR_TYPES,
        passive_kd: np.ndarray | None = None,
        feedforward: Feedforward | None = None,
        max_torque_nm: tuple[float, ...] | None = None,
    ):
        self.name = name
        self.models = models
        self.n = len(models)
        self.chain = DamiaoChain(name, channel, interface, bitrate, yam_motors(models))
        self.kp = np.asarray(kp, dtype=np.float64)[: self.n]
        self.kd = np.asarray(kd, dtype=np.float64)[: self.n]
        self.passive_kd = self.kd * 0.05 if passive_kd is None else np.asarray(passive_kd, dtype=np.float64)[: self.n]
        self.feedforward = feedforward
        self.torque_limit = torque_limits(models, max_torque_nm if max_torque_nm is not None else (1e9,) * self.n)
        self.shaper = SetpointShaper(np.asarray(max_velocity)[: self.n], watchdog_s)
        self.period = 1.0 / control_hz
        self.reply_timeout_s = reply_timeout_s
        self.damping_s = damping_s
        self.enable_timeout_s = enable_timeout_s
        self._state = ArmState(np.zeros(self.n), np.zeros(self.n), np.zeros(self.n))
        self._last_seen = np.zeros(self.n)
        self._passive = False
        self._kp_scale = 0.0
        self._fault: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loop_count = 0
        self.last_torque = np.zeros(self.n)

    @property
    def is_connected(self) -> bool:
        return self._thread is not None

    @property
    def watchdog_tripped(self) -> bool:
        return self.shaper.watchdog_tripped

    @property
    def fault(self) -> str | None:
        return self._fault

    def connect(self) -> None:
        self.chain.open()
        try:
            feedback = self.chain.enable(self.enable_timeout_s)
        except BaseException:
            self.chain.close()
            raise
        now = time.monotonic()
        position = np.array([feedback[i].position for i in range(self.n)])
        self._state = ArmState(position, np.zeros(self.n), np.zeros(self.n))
        self._last_seen[:] = now
        # Hold exactly where the motors are: nothing moves on connect, the gripper included.
        self.shaper.reset(position, now)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"yam-{self.name}-servo", daemon=True)
        self._thread.start()

    def gravity_torque(self, motor_positions: np.ndarray) -> np.ndarray:
        """The feed-forward torque sent at ``motor_positions``: the model's, clamped per motor (0 without model)."""
        torque = np.zeros(self.n)
        if self.feedforward is not None:
            model = np.asarray(self.feedforward(motor_positions), dtype=np.float64)[: self.n]
            torque[: len(model)] = model
        return np.clip(torque, -self.torque_limit, self.torque_limit)

    def _gains(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._passive:
            return self.kp, self.kd
        # The bilateral pull only lasts while targets keep coming: once they stop the arm is fully free again.
        pull = self._kp_scale if not self.shaper.watchdog_tripped else 0.0
        return self.kp * pull, self.passive_kd

    def _loop(self) -> None:
        next_tick = time.monotonic()
        zeros = np.zeros(self.n)
        while not self._stop.is_set():
            now = time.monotonic()
            setpoint = self.shaper.step(now)
            kp, kd = self._gains()
            self.last_torque = self.gravity_torque(self._state.position)
            self.chain.send_mit(setpoint, zeros, kp, kd, self.last_torque)
            self._poll_devices()
            self._absorb(self.chain.poll(0.0))
            self._check_replies(time.monotonic())
            self.loop_count += 1
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_tick = time.monotonic()  # overran: do not try to catch up with a burst

    def _poll_devices(self) -> None:
        """Hook for devices other than the motors on this bus (the leader's handle)."""

    def _absorb(self, feedback: dict[int, Feedback]) -> None:
        """Store the newest feedback, by chain index (motor ``i + 1``), and when each motor was last heard."""
        if not feedback:
            return
        now = time.monotonic()
        with self._lock:
            position, velocity, effort = (a.copy() for a in (self._state.position, self._state.velocity,
                                                             self._state.effort))
            for i, fb in feedback.items():
                position[i], velocity[i], effort[i] = fb.position, fb.velocity, fb.torque
                self._last_seen[i] = now
            self._state = ArmState(position, velocity, effort)

    def _silent(self, now: float) -> list[str]:
        chain = self.chain
        return [f"motor {chain.names[i]} (ID 0x{chain.ids[i]:02X})" for i in range(self.n)
                if now - self._last_seen[i] > self.reply_timeout_s]

    def _check_replies(self, now: float) -> None:
        if self._fault is not None:
            return
        silent = self._silent(now)
        if silent:
            self._fault = (
                f"{self.name}: {', '.join(silent)} on CAN channel {self.chain.channel!r} stopped answering "
                f"(no feedback for {self.reply_timeout_s * 1e3:.0f} ms). The other motors hold their position; "
                "check that device's cable and power, then reconnect."
            )
            logger.error(self._fault)
            self.shaper.hold()

    def _raise_if_faulted(self) -> None:
        if self._fault is not None:
            raise ArmFaultError(self._fault)

    def read(self) -> ArmState:
        self._raise_if_faulted()
        with self._lock:
            return ArmState(self._state.position.copy(), self._state.velocity.copy(), self._state.effort.copy())

    def command(self, motor_targets: np.ndarray) -> None:
        self._raise_if_faulted()
        self.shaper.command(np.asarray(motor_targets, dtype=np.float64)[: self.n], time.monotonic())

    def hold(self) -> None:
        self.shaper.hold()

    def set_passive(self, passive: bool, kp_scale: float = 0.0) -> None:
        self._kp_scale = float(kp_scale) if passive else 0.0
        self.shaper.log_watchdog = not passive
        if passive != self._passive:
            # Either way the setpoint restarts at the measured pose: leaving passive mode holds where the arm is.
            self.shaper.reset(self._state.position, time.monotonic())
        if passive:
            self.shaper.watchdog_tripped = True  # no pull toward anything until a target arrives
        self._passive = passive

    def disconnect(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        # Damping only (kp = 0, gravity still compensated) so the arm settles slowly instead of dropping, then
        # torque off.
        zeros = np.zeros(self.n)
        end = time.monotonic() + self.damping_s
        try:
            while time.monotonic() < end:
                self.chain.send_mit(self._state.position, zeros, zeros, self.kd,
                                    self.gravity_torque(self._state.position))
                self.chain.poll(0.0)
                time.sleep(self.period)
            self.chain.send_special(CAN_CMD_DISABLE)
        finally:
            self.chain.close()


class LeaderCanArm(CanArm):
    """A YAM leader arm: motors 1..6 plus the teaching handle (no gripper motor), passive with gravity comp.

    Its motor-space vector has 7 values like a follower's: six motor angles, then the handle squeeze in [0, 1]
    (read-only: commands to it are ignored). The handle is polled every servo tick; see :mod:`.teaching_handle`
    for its frame format and the config fields that override it.
    """

    def __init__(
        self,
        name: str,
        channel: str,
        interface: str,
        bitrate: int,
        kp: np.ndarray,
        kd: np.ndarray,
        max_velocity: np.ndarray,
        watchdog_s: float,
        handle_codec: HandleCodec | None = None,
        handle_request_id: int = HANDLE_REQUEST_ID,
        handle_reply_id: int = HANDLE_REPLY_ID,
        **kwargs: Any,
    ):
        super().__init__(name, channel, interface, bitrate, kp, kd, max_velocity, watchdog_s,
                         models=YAM_MOTOR_TYPES[:6], **kwargs)
        self.handle_codec = handle_codec or HandleCodec()
        self.handle_request_id = handle_request_id
        self.handle_reply_id = handle_reply_id
        self._handle: HandleReading | None = None
        self._handle_seen = 0.0
        self.chain.listen(handle_reply_id, self._on_handle_frame)
        # A leader is passive from its first frame: it never holds a pose under full gains.
        self._passive = True
        self.shaper.log_watchdog = False

    def _on_handle_frame(self, data: bytes) -> None:
        try:
            reading = self.handle_codec.decode(data)
        except ValueError as e:
            logger.warning("%s: %s", self.name, e)
            return
        self._handle = reading
        self._handle_seen = time.monotonic()

    def connect(self) -> None:
        super().connect()
        self.set_passive(True)  # no pull until told otherwise
        deadline = time.monotonic() + self.enable_timeout_s
        while self._handle is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._handle is None:
            self.disconnect()
            raise MotorNotRespondingError(
                f"{self.name}: the teaching handle did not answer on CAN channel {self.chain.channel!r} (polled ID "
                f"0x{self.handle_request_id:03X}, expected replies on 0x{self.handle_reply_id:03X}) within "
                f"{self.enable_timeout_s:.2f} s. Check the handle's cable, or set handle_request_id / handle_reply_id "
                "(--teleop.* or the server's --*) if your handle's firmware uses other IDs."
            )

    def _poll_devices(self) -> None:
        self.chain.send_raw(self.handle_request_id, HANDLE_POLL)

    def _silent(self, now: float) -> list[str]:
        silent = super()._silent(now)
        if self._handle is not None and now - self._handle_seen > self.reply_timeout_s:
            silent.append(f"teaching handle (ID 0x{self.handle_request_id:03X})")
        return silent

    def read(self) -> ArmState:
        state = super().read()
        handle = self._handle or HandleReading(0.0, 0.0, (False, False))
        return ArmState(np.append(state.position, handle.squeeze), np.append(state.velocity, handle.velocity),
                        np.append(state.effort, 0.0), handle.buttons)
