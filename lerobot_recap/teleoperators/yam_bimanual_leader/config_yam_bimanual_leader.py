from dataclasses import dataclass

from lerobot.teleoperators.config import TeleoperatorConfig


@TeleoperatorConfig.register_subclass("yam_bimanual_leader")
@dataclass(kw_only=True)
class YamBimanualLeaderConfig(TeleoperatorConfig):
    """Config of the `yam_bimanual_leader` teleoperator (the YAM leader arms)."""
