"""Robots: ``yam_bimanual`` (two I2RT YAM arms, three RealSense cameras), the ``recap_observed`` wrapper and
``recap_handover_sim`` (the embedded simulated task)."""

from lerobot_recap.robots.recap_handover_sim.config_recap_handover_sim import RecapHandoverSimConfig
from lerobot_recap.robots.recap_observed.config_recap_observed import RecapObservedConfig  # noqa: F401
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamBimanualConfig

__all__ = ["RecapHandoverSimConfig", "YamBimanualConfig"]
