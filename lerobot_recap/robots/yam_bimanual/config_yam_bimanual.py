from dataclasses import dataclass, field

from lerobot.cameras import CameraConfig
from lerobot.robots.config import RobotConfig


@RobotConfig.register_subclass("yam_bimanual")
@dataclass(kw_only=True)
class YamBimanualConfig(RobotConfig):
    """Two I2RT YAM arms (6 joints + gripper each) with three cameras, at 30 Hz."""

    backend: str = "sim"
    """How the arms are driven: `can` (socketcan), `zmq` (remote arm server) or `sim` (in-process simulation)."""
    cameras: dict[str, CameraConfig] = field(default_factory=dict)
    """LeRobot camera configs keyed by name (top, left_wrist, right_wrist)."""
