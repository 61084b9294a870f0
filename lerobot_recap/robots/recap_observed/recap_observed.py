"""The ``recap_observed`` robot: a transparent wrapper that lets ``recap_dagger`` work with any LeRobot robot.

Stock ``lerobot-record`` builds the dataset's features from the robot only and hands the teleop no observation.
This wrapper delegates everything to the real robot and adds exactly two things:

* every observation is published to :class:`~lerobot_recap.teleoperators.recap_dagger.hub.RecapHub`, where
  recap_dagger reads it to run the policy;
* its action features are the robot's plus the ``recap.*`` dimensions (intervention flag, phase, the policy's
  would-be action), so they land, named, in the dataset's ``action`` vector; ``send_action`` strips them before the
  real robot sees the action. ``lerobot-recap-annotate`` moves ``recap.intervention`` into the ``intervention``
  column.

The flag is an *action* dimension, not a state one, because record calls ``get_observation()`` before the teleop
decides who drives the tick: only the action of a frame knows its phase.
"""

from __future__ import annotations

from typing import Any

from lerobot.robots.robot import Robot
from lerobot.robots.utils import make_robot_from_config

from lerobot_recap.robots.recap_observed.config_recap_observed import RecapObservedConfig
from lerobot_recap.teleoperators.recap_dagger.hub import RECAP_DIM_PREFIX, RecapHub, recap_action_dims
from lerobot_recap.utils.calibration import DelegatedCalibration


class RecapObserved(DelegatedCalibration, Robot):
    config_class = RecapObservedConfig
    name = "recap_observed"

    def __init__(self, config: RecapObservedConfig):
        super().__init__(config)
        self.config = config
        self.robot = make_robot_from_config(config.robot)
        # The dataset's robot_type is the real robot's: datasets from wrapped and unwrapped recordings match.
        self.name = self.robot.name
        self.robot_type = self.robot.robot_type
        self._recap_dims = recap_action_dims(_float_keys(self.robot.action_features), config.record_policy_action)
        RecapHub.attach_robot(
            config.hub_key,
            self.robot.observation_features,
            self.robot.action_features,
            self.robot.robot_type,
            self._recap_dims,
        )

    def __getattr__(self, attr: str) -> Any:
        # Robot-specific extras (e.g. reset(), bus, helpers stock scripts call by robot name) reach the real robot.
        if attr == "robot":
            raise AttributeError(attr)
        return getattr(self.robot, attr)

    @property
    def cameras(self) -> dict:
        return getattr(self.robot, "cameras", {})

    @property
    def observation_features(self) -> dict:
        return self.robot.observation_features

    @property
    def action_features(self) -> dict:
        return {**self.robot.action_features, **{dim: float for dim in self._recap_dims}}

    @property
    def is_connected(self) -> bool:
        return self.robot.is_connected

    def connect(self, calibrate: bool = True) -> None:
        self.robot.connect(calibrate)

    def calibration_delegate(self) -> Robot:
        return self.robot

    def get_observation(self) -> dict[str, Any]:
        observation = self.robot.get_observation()
        RecapHub.publish_observation(self.config.hub_key, observation)
        return observation

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]:
        robot_action = {k: v for k, v in action.items() if not k.startswith(RECAP_DIM_PREFIX)}
        sent = self.robot.send_action(robot_action)
        RecapHub.publish_sent_action(self.config.hub_key, sent)
        return {**sent, **{k: v for k, v in action.items() if k.startswith(RECAP_DIM_PREFIX)}}

    def disconnect(self) -> None:
        self.robot.disconnect()


def _float_keys(features: dict[str, Any]) -> list[str]:
    return [k for k, v in features.items() if v is float]
