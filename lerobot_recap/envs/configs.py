"""``--env.type=recap_handover``: the embedded simulated hand-over task as a LeRobot ``EnvConfig``.

This module stays light (no gymnasium, no numpy rendering): LeRobot's ``make_env`` imports ``package_name``
(``lerobot_recap.envs.handover``) when ``gym_id`` is not registered yet, and that import registers it.
"""

import logging
from dataclasses import dataclass, field

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig
from lerobot.utils.constants import ACTION, OBS_IMAGES, OBS_STATE

from lerobot_recap.utils.config_errors import ConfigError

GYM_NAMESPACE = "lerobot_recap"
TASKS = ("Handover-v0",)
"""Tasks (gymnasium ids without the namespace) the package registers."""
DEFAULT_TASK_DESCRIPTION = "hand the cube from the left arm to the right arm and place it on the green target"
KNOWN_CAMERAS = ("top", "side")
STATE_DIM = 14


@EnvConfig.register_subclass("recap_handover")
@dataclass
class RecapHandoverEnv(EnvConfig):
    """The embedded simulated bimanual hand-over task (the default of lerobot-recap-pipeline)."""

    task: str | None = "Handover-v0"
    """Which registered task to make (only `Handover-v0` for now)."""
    fps: int = 10
    """Control rate of the task (frames per second of the generated datasets)."""
    episode_length: int = 100
    """Steps before an episode is truncated (a failure unless the cube is placed)."""
    image_size: int = 64
    """Height and width of every camera image, in pixels."""
    cameras: list[str] = field(default_factory=lambda: ["top"])
    """Cameras rendered into the observation - any of `top`, `side`."""
    spawn_scale: float = 1.0
    """Scale in [0, 1] of the cube/target pose randomization (0 - always the same layout)."""
    task_description: str = DEFAULT_TASK_DESCRIPTION
    """The language task given to the policy."""
    render_size: int = 192
    """Size of the frames `render()` returns (eval videos)."""
    features: dict[str, PolicyFeature] = field(default_factory=dict)
    features_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"recap_handover has no task {self.task!r}: use one of {TASKS} (--env.task=...)")
        unknown = [c for c in self.cameras if c not in KNOWN_CAMERAS]
        if unknown or not self.cameras:
            raise ConfigError(
                f"--env.cameras must name one or more of {KNOWN_CAMERAS} (got {self.cameras}), e.g. "
                "--env.cameras='[top,side]'"
            )
        self.features = {
            ACTION: PolicyFeature(type=FeatureType.ACTION, shape=(STATE_DIM,)),
            "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(STATE_DIM,)),
        }
        self.features_map = {ACTION: ACTION, "agent_pos": OBS_STATE}
        for camera in self.cameras:
            key = f"pixels/{camera}"
            self.features[key] = PolicyFeature(type=FeatureType.VISUAL, shape=(self.image_size, self.image_size, 3))
            self.features_map[key] = f"{OBS_IMAGES}.{camera}"

    def create_envs(self, n_envs: int, use_async_envs: bool = False):
        """LeRobot's vector env of this task, always stepped in this process.

        LeRobot 0.6's lerobot-eval asks for a worker process per env by default; each imports torch (about 0.5 GB)
        and costs more time than this task's physics, so 50 envs on a small machine exhaust its memory.
        """
        if use_async_envs and n_envs > 1:
            logging.getLogger(__name__).info("recap_handover steps its %d envs in one process (no worker processes)", n_envs)
        return super().create_envs(n_envs=n_envs, use_async_envs=False)

    @property
    def package_name(self) -> str:
        return "lerobot_recap.envs.handover"

    @property
    def gym_id(self) -> str:
        return f"{GYM_NAMESPACE}/{self.task}"

    @property
    def gym_kwargs(self) -> dict:
        return {
            "cameras": tuple(self.cameras),
            "image_size": self.image_size,
            "episode_length": self.episode_length,
            "spawn_scale": self.spawn_scale,
            "task_description": self.task_description,
            "render_size": self.render_size,
        }
