"""Config of the ``recap_handover_sim`` robot: the embedded hand-over task as a LeRobot robot."""

from dataclasses import dataclass, field

from lerobot.robots.config import RobotConfig

from lerobot_recap.envs.configs import DEFAULT_TASK_DESCRIPTION, KNOWN_CAMERAS
from lerobot_recap.utils.config_errors import ConfigError


@RobotConfig.register_subclass("recap_handover_sim")
@dataclass(kw_only=True)
class RecapHandoverSimConfig(RobotConfig):
    """The simulated bimanual hand-over (two 7-joint arms, a top camera) behind stock ``lerobot-record``.

    It records what ``lerobot-recap-collect`` records (the same state, camera and joint-action names), so a stage-0
    round can be rehearsed with the real recording loop: ``--robot.type=recap_observed
    --robot.robot.type=recap_handover_sim --teleop.type=recap_dagger --teleop.leader.type=recap_handover_expert``.
    When a task ends (placed, dropped or out of steps) the world starts the next layout by itself.
    """

    image_size: int = 64
    """Camera image height and width in pixels (match the policy's)."""
    camera_names: list[str] = field(default_factory=lambda: ["top"])
    """Cameras to render - any of `top`, `side` (rendered by the world, not LeRobot camera devices)."""
    spawn_scale: float = 1.0
    """Scale in [0, 1] of the cube/target pose randomization."""
    episode_length: int = 100
    """Steps after which the world resets to the next layout."""
    seed: int = 0
    """Seed of the first layout (the n-th world uses seed + n)."""
    task_description: str = DEFAULT_TASK_DESCRIPTION
    """The task the world plays (as recorded by lerobot-recap-collect)."""
    world_key: str = "default"
    """Name under which the world is shared with a recap_handover_expert leader (--teleop...leader.world_key)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [c for c in self.camera_names if c not in KNOWN_CAMERAS]
        if unknown or not self.camera_names:
            raise ConfigError(f"--robot.camera_names must name one or more of {KNOWN_CAMERAS} (got {self.camera_names})")
        if self.image_size < 16:
            raise ConfigError(f"--robot.image_size must be at least 16 pixels (got {self.image_size})")
        if not 0.0 <= self.spawn_scale <= 1.0:
            raise ConfigError(f"--robot.spawn_scale must be in [0, 1] (got {self.spawn_scale})")
        if self.episode_length < 1:
            raise ConfigError(f"--robot.episode_length must be >= 1 (got {self.episode_length})")
