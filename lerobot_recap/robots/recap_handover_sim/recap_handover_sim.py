"""The ``recap_handover_sim`` robot: the embedded hand-over world stepped by ``send_action``.

Observations are the 14 joint positions (``left_joint_0.pos`` ... ``right_gripper.pos``) and the camera images,
actions the 14 joint targets: the names ``lerobot-recap-collect`` and ``lerobot-eval --env.type=recap_handover`` use,
so a policy trained on either drives it. The world is shared, by ``world_key``, with the ``recap_handover_expert``
leader, the scripted operator that drives during corrections.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lerobot.robots.robot import Robot

from lerobot_recap.robots.recap_handover_sim.config_recap_handover_sim import RecapHandoverSimConfig

_WORLDS: dict[str, RecapHandoverSim] = {}
"""Connected simulated robots by world_key, for the expert leader that watches the same world."""


def shared_world(world_key: str) -> RecapHandoverSim:
    """The connected ``recap_handover_sim`` robot of ``world_key`` (the expert leader reads its world)."""
    robot = _WORLDS.get(world_key)
    if robot is None:
        raise RuntimeError(
            f"no connected recap_handover_sim robot with world_key={world_key!r}: the recap_handover_expert leader "
            "drives the simulated hand-over only, in the same process as its robot"
        )
    return robot


class RecapHandoverSim(Robot):
    config_class = RecapHandoverSimConfig
    name = "recap_handover_sim"

    def __init__(self, config: RecapHandoverSimConfig):
        super().__init__(config)
        self.config = config
        self.robot_type = "recap_handover_sim"  # as lerobot-recap-collect's datasets record it
        self.env = None
        self.worlds_started = 0
        """Layouts played so far (the current one's seed is config.seed + worlds_started - 1)."""
        self._observation: dict[str, Any] | None = None

    @property
    def observation_features(self) -> dict:
        from lerobot_recap.envs.handover import JOINT_NAMES

        size = self.config.image_size
        return {**{name: float for name in JOINT_NAMES}, **{c: (size, size, 3) for c in self.config.camera_names}}

    @property
    def action_features(self) -> dict:
        from lerobot_recap.envs.handover import JOINT_NAMES

        return {name: float for name in JOINT_NAMES}

    @property
    def cameras(self) -> dict:
        """No LeRobot camera devices: the world renders its images itself."""
        return {}

    @property
    def is_connected(self) -> bool:
        return self.env is not None

    @property
    def is_calibrated(self) -> bool:
        return True

    @property
    def world(self):
        """The simulated world (its state is what the scripted operator judges)."""
        return self.env.world

    def connect(self, calibrate: bool = True) -> None:
        from lerobot_recap.envs.handover import RecapHandoverGymEnv

        cfg = self.config
        self.env = RecapHandoverGymEnv(
            cameras=tuple(cfg.camera_names),
            image_size=cfg.image_size,
            episode_length=cfg.episode_length,
            spawn_scale=cfg.spawn_scale,
            task_description=cfg.task_description,
        )
        self._next_world()
        _WORLDS[cfg.world_key] = self

    def calibrate(self) -> None:
        """Nothing to calibrate in simulation."""

    def configure(self) -> None:
        """Nothing to configure in simulation."""

    def _next_world(self) -> None:
        self._observation, _ = self.env.reset(seed=self.config.seed + self.worlds_started)
        self.worlds_started += 1

    def get_observation(self) -> dict[str, Any]:
        from lerobot_recap.envs.handover import JOINT_NAMES

        observation = self._observation
        state = {name: float(v) for name, v in zip(JOINT_NAMES, observation["agent_pos"], strict=True)}
        return {**state, **{camera: image.copy() for camera, image in observation["pixels"].items()}}

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]:
        from lerobot_recap.envs.handover import JOINT_NAMES

        target = np.array([float(action[name]) for name in JOINT_NAMES])
        self._observation, _, terminated, truncated, _ = self.env.step(target)
        if terminated or truncated:  # placed, dropped or out of steps: the next layout starts
            self._next_world()
        return {name: float(action[name]) for name in JOINT_NAMES}

    def disconnect(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
        if _WORLDS.get(self.config.world_key) is self:
            del _WORLDS[self.config.world_key]
