"""In-process hub between the robot and ``recap_dagger``.

Stock ``lerobot-record`` calls ``robot.get_observation()`` and then ``teleop.get_action()`` with no argument, so a
teleop that runs a policy needs another way to see the observation. The ``recap_observed`` wrapper robot (or any
robot that wants to support ``recap_dagger`` directly) publishes here:

* at construction, :meth:`RecapHub.attach_robot` with its observation features, its own action features (without
  the ``recap.*`` dimensions) and its robot type;
* on every ``get_observation()``, :meth:`RecapHub.publish_observation`;
* on every ``send_action()``, :meth:`RecapHub.publish_sent_action` (what actually went to the motors, after any
  clipping: the hold pose and the blend origin).

The hub is process-global and keyed (``hub_key``, default ``"default"``) so two recorders in one process do not
mix. Everything here is plain Python: no hardware, no threads of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

RECAP_DIM_PREFIX = "recap."
"""Every dimension that recap_dagger adds to the robot's action vector starts with this."""
INTERVENTION_DIM = "recap.intervention"
"""1.0 where the operator drove the frame (CORRECTING), else 0.0. lerobot-recap-annotate reads it."""
PHASE_DIM = "recap.phase"
"""The phase of the frame: 0 PAUSED, 1 AUTONOMOUS, 2 CORRECTING."""
POLICY_VALID_DIM = "recap.policy_valid"
"""1.0 where the policy ran this frame (AUTONOMOUS, or CORRECTING in shadow), so recap.policy.* is its output."""
POLICY_ACTION_PREFIX = "recap.policy."
"""Prefix of the policy's would-be action per robot action dimension (kept during corrections)."""


def recap_action_dims(robot_action_names: list[str], record_policy_action: bool) -> list[str]:
    """The extra action dimensions, in order, that the wrapper declares and recap_dagger fills."""
    dims = [INTERVENTION_DIM, PHASE_DIM]
    if record_policy_action:
        dims += [POLICY_VALID_DIM] + [f"{POLICY_ACTION_PREFIX}{name}" for name in robot_action_names]
    return dims


@dataclass
class RobotChannel:
    """What one robot publishes."""

    observation_features: dict[str, Any]
    action_features: dict[str, Any]
    robot_type: str
    recap_dims: list[str]
    observation: dict[str, Any] | None = None
    observation_count: int = 0
    sent_action: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def action_names(self) -> list[str]:
        """The robot's float action keys in declaration order (the order of the dataset's action vector)."""
        return [k for k, v in self.action_features.items() if v is float]


class RecapHub:
    """Process-global registry of :class:`RobotChannel` by key."""

    _channels: dict[str, RobotChannel] = {}
    _lock = threading.Lock()

    @classmethod
    def attach_robot(
        cls,
        key: str,
        observation_features: dict[str, Any],
        action_features: dict[str, Any],
        robot_type: str,
        recap_dims: list[str],
    ) -> RobotChannel:
        with cls._lock:
            channel = RobotChannel(dict(observation_features), dict(action_features), robot_type, list(recap_dims))
            cls._channels[key] = channel
            return channel

    @classmethod
    def detach_robot(cls, key: str) -> None:
        with cls._lock:
            cls._channels.pop(key, None)

    @classmethod
    def channel(cls, key: str) -> RobotChannel | None:
        with cls._lock:
            return cls._channels.get(key)

    @classmethod
    def publish_observation(cls, key: str, observation: dict[str, Any]) -> None:
        channel = cls.channel(key)
        if channel is None:
            return
        with channel.lock:
            channel.observation = observation
            channel.observation_count += 1

    @classmethod
    def publish_sent_action(cls, key: str, action: dict[str, Any]) -> None:
        channel = cls.channel(key)
        if channel is None:
            return
        with channel.lock:
            channel.sent_action = dict(action)
