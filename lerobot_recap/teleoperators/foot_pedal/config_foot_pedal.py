from dataclasses import dataclass

from lerobot.teleoperators.config import TeleoperatorConfig


@TeleoperatorConfig.register_subclass("foot_pedal")
@dataclass(kw_only=True)
class FootPedalConfig(TeleoperatorConfig):
    """Config of the `foot_pedal` teleoperator (the foot pedal teleoperator)."""
