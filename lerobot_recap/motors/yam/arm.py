"""One YAM arm as seen by the robot: a backend in motor space, plus the setpoint shaper all backends share.

Backends speak *motor space* (7 motor angles in rad, IDs 1..7, the gripper motor included; on a leader arm the 7th
value is the teaching handle's squeeze in [0, 1] instead); the robot maps to joint space with the calibration. This
keeps the arm server (``zmq`` backend) free of calibration: calibration lives with the robot ``id`` on the machine
that runs LeRobot, as LeRobot expects.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from lerobot_recap.motors.yam.tables import N_MOTORS

logger = logging.getLogger(__name__)


class ArmFaultError(RuntimeError):
    """An arm cannot continue (a motor stopped answering, the server went away...). The rest of the arm holds."""


@dataclass
class ArmState:
    """Measured state of the 7 motors of one arm, motor space (leader arms: 6 motors + the handle squeeze)."""

    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    buttons: tuple[bool, bool] = (False, False)
    """Teaching-handle buttons (top, second) of a leader arm; always released on a follower."""


class SetpointShaper:
    """Turns sparse, possibly jumpy targets into a velocity-limited setpoint, and holds when targets stop.

    ``command`` stores the latest target (latest-value semantics); ``step`` moves the setpoint toward it by at
    most ``max_velocity * dt``. When no target arrives for ``watchdog_s`` the target is replaced by the current
    setpoint, so the arm stops where it is instead of finishing a stale motion.
    """

    def __init__(self, max_velocity: np.ndarray, watchdog_s: float):
        self.max_velocity = np.asarray(max_velocity, dtype=np.float64)
        self.watchdog_s = watchdog_s
        self.setpoint = np.zeros(len(self.max_velocity))
        self.target = np.zeros(len(self.max_velocity))
        self.watchdog_tripped = False
        self.log_watchdog = True
        self._last_command_t = 0.0
        self._last_step_t = 0.0
        self._lock = threading.Lock()

    def reset(self, position: np.ndarray, now: float) -> None:
        """Start holding ``position`` (used on connect: nothing moves, the gripper included)."""
        with self._lock:
            self.setpoint = np.array(position, dtype=np.float64)
            self.target = self.setpoint.copy()
            self._last_command_t = now
            self._last_step_t = now
            self.watchdog_tripped = False

    def command(self, target: np.ndarray, now: float) -> None:
        with self._lock:
            self.target = np.array(target, dtype=np.float64)
            self._last_command_t = now
            if self.watchdog_tripped:
                logger.info("Commands resumed after the watchdog hold.")
            self.watchdog_tripped = False

    def hold(self) -> None:
        """Stop at the current setpoint."""
        with self._lock:
            self.target = self.setpoint.copy()

    def step(self, now: float) -> np.ndarray:
        with self._lock:
            dt = max(0.0, now - self._last_step_t)
            self._last_step_t = now
            if not self.watchdog_tripped and now - self._last_command_t > self.watchdog_s:
                self.watchdog_tripped = True
                self.target = self.setpoint.copy()
                # A passive leader arm gets no commands by design: its trips are not worth a warning.
                log = logger.warning if self.log_watchdog else logger.debug
                log(
                    "No action for %.0f ms (watchdog %.0f ms): holding position.",
                    (now - self._last_command_t) * 1e3,
                    self.watchdog_s * 1e3,
                )
            max_step = self.max_velocity * dt
            self.setpoint = self.setpoint + np.clip(self.target - self.setpoint, -max_step, max_step)
            return self.setpoint.copy()


class ArmBackend(ABC):
    """A YAM arm in motor space. ``command`` sets the latest target; the backend keeps serving it."""

    name: str

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None:
        """Open the link and start holding the measured pose (nothing moves)."""

    @abstractmethod
    def read(self) -> ArmState: ...

    @abstractmethod
    def command(self, motor_targets: np.ndarray) -> None: ...

    @abstractmethod
    def hold(self) -> None:
        """Stop where the arm is now."""

    @abstractmethod
    def disconnect(self) -> None:
        """Damp, then torque off, then close the link."""

    def set_passive(self, passive: bool, kp_scale: float = 0.0) -> None:
        """Passive: no position gains, light damping (and gravity compensation), so a person moves the arm by hand.

        ``kp_scale`` > 0 keeps a light pull (``kp_scale * kp``) toward the commanded target while commands keep
        arriving: the bilateral force feedback of a leader arm that is fed the follower's pose.
        """

    @property
    def watchdog_tripped(self) -> bool:
        return False


class SimArm(ArmBackend):
    """An in-process YAM arm with first-order joint dynamics, advanced lazily on every call.

    No thread: the state is integrated over the wall-clock time since the last call, in small sub-steps so the
    watchdog and the velocity limit act at the right moment even when calls are sparse.
    """

    SUBSTEP_S = 0.005

    def __init__(
        self,
        name: str,
        initial_position: np.ndarray,
        max_velocity: np.ndarray,
        watchdog_s: float,
        time_constant_s: float = 0.05,
        clock=time.monotonic,
    ):
        self.name = name
        self._initial = np.asarray(initial_position, dtype=np.float64)
        self._tau = time_constant_s
        self._clock = clock
        self.shaper = SetpointShaper(max_velocity, watchdog_s)
        self._position = self._initial.copy()
        self._velocity = np.zeros(N_MOTORS)
        self._t = 0.0
        self._connected = False

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def watchdog_tripped(self) -> bool:
        return self.shaper.watchdog_tripped

    def connect(self) -> None:
        self._t = self._clock()
        self.shaper.reset(self._position, self._t)
        self._connected = True

    def _advance(self) -> None:
        now = self._clock()
        # Long gaps (a paused process) are not replayed in full: the watchdog already froze the target by then.
        t = max(self._t, now - 2.0)
        while t < now:
            dt = min(self.SUBSTEP_S, now - t)
            t += dt
            setpoint = self.shaper.step(t)
            previous = self._position
            self._position = setpoint + (previous - setpoint) * np.exp(-dt / self._tau)
            self._velocity = (self._position - previous) / dt
        self._t = now

    def read(self) -> ArmState:
        self._advance()
        return ArmState(self._position.copy(), self._velocity.copy(), np.zeros(N_MOTORS))

    def command(self, motor_targets: np.ndarray) -> None:
        self._advance()
        self.shaper.command(motor_targets, self._clock())

    def hold(self) -> None:
        self._advance()
        self.shaper.hold()

    def set_passive(self, passive: bool, kp_scale: float = 0.0) -> None:
        # The simulation has no gains to drop; a passive (leader) arm just stops warning about missing commands.
        self.shaper.log_watchdog = not passive

    def disconnect(self) -> None:
        self._connected = False
