"""Robots: ``yam_bimanual`` (two I2RT YAM arms, three RealSense cameras)."""

from lerobot_recap.robots.recap_observed.config_recap_observed import RecapObservedConfig  # noqa: F401
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamBimanualConfig

__all__ = ["YamBimanualConfig"]
