"""``yam_bimanual_leader``: two YAM leader arms with teaching handles, producing ``yam_bimanual`` actions."""

from __future__ import annotations

import logging
import time
from functools import cached_property

import numpy as np
from lerobot.teleoperators.teleoperator import Teleoperator
from lerobot.teleoperators.utils import TeleopEvents
from lerobot.utils.decorators import check_if_already_connected, check_if_not_connected

from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import ARM_JOINTS
from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig

logger = logging.getLogger(__name__)

SIDES = ("left", "right")
LEADER_HOME_JOINTS = np.array([0.0, 0.6, 0.6, 0.0, 0.0, 0.0])
"""Pose the simulated leader arms oscillate around (the simulated followers start there too)."""


class SimLeaderArm:
    """A scripted operator: smooth joint motion, a trigger squeezed and released, a button press window."""

    def __init__(self, config: YamBimanualLeaderConfig, phase: float):
        self.config = config
        self.phase = phase
        self._t0 = 0.0

    def connect(self) -> None:
        self._t0 = time.monotonic()

    def read(self) -> tuple[np.ndarray, float, tuple[bool, bool]]:
        """Joints 1..6 (rad), handle trigger in [0, 1] (1 = squeezed), (top, second) buttons."""
        t = time.monotonic() - self._t0
        w = 2 * np.pi / self.config.sim_period_s
        joints = LEADER_HOME_JOINTS + self.config.sim_amplitude_rad * np.sin(w * t + self.phase + np.arange(6))
        trigger = 0.5 - 0.5 * np.cos(w * t + self.phase)
        start, end = self.config.sim_button_window_s
        return joints, float(trigger), (start <= t < end, False)


class YamBimanualLeader(Teleoperator):
    """Reads both leader arms; action keys match ``yam_bimanual`` (``left_joint_1.pos`` ... ``right_gripper.pos``).

    The handle trigger maps to the follower gripper as ``1 - trigger`` (squeeze to close, gripper 0 = closed).
    """

    config_class = YamBimanualLeaderConfig
    name = "yam_bimanual_leader"

    def __init__(self, config: YamBimanualLeaderConfig):
        super().__init__(config)
        self.config = config
        self._arms: dict[str, SimLeaderArm] = {}
        self._buttons: dict[str, tuple[bool, bool]] = {side: (False, False) for side in SIDES}

    @cached_property
    def action_features(self) -> dict[str, type]:
        return {f"{side}_{joint}.pos": float for side in SIDES for joint in ARM_JOINTS}

    @cached_property
    def feedback_features(self) -> dict[str, type]:
        # Bilateral mode takes the follower pose (same keys as the action).
        return dict(self.action_features) if self.config.bilateral_kp > 0 else {}

    @property
    def is_connected(self) -> bool:
        return bool(self._arms)

    @property
    def is_calibrated(self) -> bool:
        # The simulated leaders need no calibration.
        return True

    @check_if_already_connected
    def connect(self, calibrate: bool = True) -> None:
        self._arms = {side: SimLeaderArm(self.config, phase=i * np.pi / 2) for i, side in enumerate(SIDES)}
        for arm in self._arms.values():
            arm.connect()
        logger.info("%s connected (backend %s).", self, self.config.backend)

    def calibrate(self) -> None:
        pass

    def configure(self) -> None:
        pass

    @check_if_not_connected
    def get_action(self) -> dict[str, float]:
        action: dict[str, float] = {}
        for side, arm in self._arms.items():
            joints, trigger, buttons = arm.read()
            self._buttons[side] = buttons
            values = list(map(float, joints)) + [1.0 - trigger]
            action.update({f"{side}_{joint}.pos": v for joint, v in zip(ARM_JOINTS, values, strict=True)})
        return action

    def get_teleop_events(self) -> dict[TeleopEvents, bool]:
        """LeRobot's HIL event dict; a handle button held on either arm sets its configured event."""
        events = {event: False for event in TeleopEvents}
        for index, event_name in enumerate((self.config.top_button_event, self.config.second_button_event)):
            if event_name and any(buttons[index] for buttons in self._buttons.values()):
                events[TeleopEvents(event_name)] = True
        return events

    @check_if_not_connected
    def send_feedback(self, feedback: dict[str, float]) -> None:
        # The simulated operator does not feel force feedback; accepted so bilateral configs run unchanged.
        pass

    @check_if_not_connected
    def disconnect(self) -> None:
        self._arms = {}
