"""The ``can`` backend: one YAM arm on its own CAN channel, served by a background MIT-mode servo loop.

The loop sends the (velocity-limited) setpoint to all 7 motors at ``control_hz`` whether or not LeRobot sends
actions, because Damiao motors damp on their own after 400 ms without a frame. Feed-forward torque is 0: the
PD gains hold the arm (gravity compensation needs the arm's dynamics model, which this project does not ship).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from lerobot_recap.robots.yam_bimanual.arm import N_MOTORS, ArmBackend, ArmFaultError, ArmState, SetpointShaper
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import ARM_JOINTS, YAM_MOTOR_TYPES
from lerobot_recap.robots.yam_bimanual.damiao import DISABLE, DamiaoChain

logger = logging.getLogger(__name__)


class CanArm(ArmBackend):
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
    ):
        self.name = name
        self.chain = DamiaoChain(name, channel, interface, bitrate, YAM_MOTOR_TYPES)
        self.kp = np.asarray(kp, dtype=np.float64)
        self.kd = np.asarray(kd, dtype=np.float64)
        self.shaper = SetpointShaper(max_velocity, watchdog_s)
        self.period = 1.0 / control_hz
        self.reply_timeout_s = reply_timeout_s
        self.damping_s = damping_s
        self.enable_timeout_s = enable_timeout_s
        self._state = ArmState(np.zeros(N_MOTORS), np.zeros(N_MOTORS), np.zeros(N_MOTORS))
        self._last_seen = np.zeros(N_MOTORS)
        self._passive = False
        self._fault: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loop_count = 0

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
        position = np.array([feedback[i + 1].position for i in range(N_MOTORS)])
        self._state = ArmState(position, np.zeros(N_MOTORS), np.zeros(N_MOTORS))
        self._last_seen[:] = now
        # Hold exactly where the motors are: nothing moves on connect, the gripper included.
        self.shaper.reset(position, now)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"yam-{self.name}-servo", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_tick = time.monotonic()
        zeros = np.zeros(N_MOTORS)
        while not self._stop.is_set():
            now = time.monotonic()
            setpoint = self.shaper.step(now)
            kp = zeros if self._passive else self.kp
            self.chain.send_mit(setpoint, zeros, kp, self.kd, zeros)
            self._absorb(self.chain.poll(0.0))
            self._check_replies(time.monotonic())
            self.loop_count += 1
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_tick = time.monotonic()  # overran: do not try to catch up with a burst

    def _absorb(self, feedback: dict) -> None:
        if not feedback:
            return
        now = time.monotonic()
        with self._lock:
            position, velocity, effort = (a.copy() for a in (self._state.position, self._state.velocity,
                                                             self._state.effort))
            for motor_id, fb in feedback.items():
                i = motor_id - 1
                position[i], velocity[i], effort[i] = fb.position, fb.velocity, fb.torque
                self._last_seen[i] = now
            self._state = ArmState(position, velocity, effort)

    def _check_replies(self, now: float) -> None:
        if self._fault is not None:
            return
        silent = [i for i in range(N_MOTORS) if now - self._last_seen[i] > self.reply_timeout_s]
        if silent:
            names = ", ".join(f"{ARM_JOINTS[i]} (ID 0x{i + 1:02X})" for i in silent)
            self._fault = (
                f"{self.name}: motor {names} on CAN channel {self.chain.channel!r} stopped answering "
                f"(no feedback for {self.reply_timeout_s * 1e3:.0f} ms). The other motors hold their position; "
                "check that motor's cable and power, then reconnect."
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
        self.shaper.command(motor_targets, time.monotonic())

    def hold(self) -> None:
        self.shaper.hold()

    def set_passive(self, passive: bool) -> None:
        self._passive = passive
        if passive:
            self.shaper.reset(self._state.position, time.monotonic())

    def disconnect(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        # Damping only (kp = 0) so the arm settles slowly instead of dropping, then torque off.
        zeros = np.zeros(N_MOTORS)
        end = time.monotonic() + self.damping_s
        try:
            while time.monotonic() < end:
                self.chain.send_mit(self._state.position, zeros, zeros, self.kd, zeros)
                self.chain.poll(0.0)
                time.sleep(self.period)
            self.chain.send_special(DISABLE)
        finally:
            self.chain.close()
