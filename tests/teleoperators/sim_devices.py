"""A simulated arm and leader for the recap_dagger tests (no hardware): registered when this module is imported.

The arm has ``N_JOINTS`` position joints that move half-way to the commanded target each tick and one small camera
whose image encodes the joint state, so a vision policy sees something that changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from lerobot.robots.config import RobotConfig
from lerobot.robots.robot import Robot
from lerobot.teleoperators.config import TeleoperatorConfig
from lerobot.teleoperators.teleoperator import Teleoperator

from lerobot_recap.utils.calibration import NoCalibration

N_JOINTS = 3
JOINTS = [f"j{i}.pos" for i in range(N_JOINTS)]
IMAGE_SHAPE = (32, 32, 3)
LEADER_POSE = 0.7
"""The simulated leader always commands this value on every joint: corrected frames are easy to recognise."""


@RobotConfig.register_subclass("recap_test_sim_arm")
@dataclass(kw_only=True)
class SimArmConfig(RobotConfig):
    """A simulated position-controlled arm."""

    gain: float = 0.5
    """Fraction of the remaining distance to the target covered per tick."""


class SimArm(NoCalibration, Robot):
    config_class = SimArmConfig
    name = "recap_test_sim_arm"

    def __init__(self, config: SimArmConfig):
        super().__init__(config)
        self.config = config
        self.cameras: dict = {}
        self.q = np.zeros(N_JOINTS)
        self.sent: list[dict[str, float]] = []
        self._connected = False

    @property
    def observation_features(self) -> dict:
        return {**{j: float for j in JOINTS}, "cam": IMAGE_SHAPE}

    @property
    def action_features(self) -> dict:
        return {j: float for j in JOINTS}

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self, calibrate: bool = True) -> None:
        self._connected = True

    def get_observation(self) -> dict[str, Any]:
        image = np.zeros(IMAGE_SHAPE, dtype=np.uint8)
        image[..., 0] = np.uint8(np.clip(128 + 100 * self.q[0], 0, 255))
        return {**{j: float(v) for j, v in zip(JOINTS, self.q, strict=True)}, "cam": image}

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]:
        unexpected = set(action) - set(JOINTS)
        if unexpected:
            raise KeyError(f"sim arm got unexpected action keys {sorted(unexpected)}")
        target = np.array([float(action[j]) for j in JOINTS])
        self.q = self.q + self.config.gain * (target - self.q)
        self.sent.append(dict(action))
        return dict(action)

    def disconnect(self) -> None:
        self._connected = False


@TeleoperatorConfig.register_subclass("recap_test_sim_leader")
@dataclass(kw_only=True)
class SimLeaderConfig(TeleoperatorConfig):
    """A simulated leader arm holding a fixed pose."""

    pose: float = LEADER_POSE
    """Value commanded on every joint."""
    fail: bool = False
    """Raise on get_action (to test leader errors)."""


class SimLeader(NoCalibration, Teleoperator):
    config_class = SimLeaderConfig
    name = "recap_test_sim_leader"

    def __init__(self, config: SimLeaderConfig):
        super().__init__(config)
        self.config = config
        self._connected = False
        self.feedback: list[dict[str, float]] = []

    @property
    def action_features(self) -> dict:
        return {j: float for j in JOINTS}

    @property
    def feedback_features(self) -> dict:
        return {j: float for j in JOINTS}

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self, calibrate: bool = True) -> None:
        self._connected = True

    def get_action(self) -> dict[str, float]:
        if self.config.fail:
            raise ConnectionError("simulated leader bus error")
        return {j: self.config.pose for j in JOINTS}

    def send_feedback(self, feedback: dict[str, Any]) -> None:
        self.feedback.append(dict(feedback))

    def disconnect(self) -> None:
        self._connected = False
