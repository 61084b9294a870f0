from dataclasses import dataclass

from lerobot.teleoperators.config import TeleoperatorConfig


@TeleoperatorConfig.register_subclass("recap_dagger")
@dataclass(kw_only=True)
class RecapDaggerConfig(TeleoperatorConfig):
    """Config of the `recap_dagger` teleoperator (DAgger collection with operator corrections)."""
