"""Teleoperators: ``foot_pedal``, ``yam_bimanual_leader`` and ``recap_dagger`` (DAgger with operator corrections),
``recap_handover_expert`` (the simulated hand-over's scripted operator)."""

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig
from lerobot_recap.teleoperators.recap_dagger.config_recap_dagger import RecapDaggerConfig
from lerobot_recap.teleoperators.recap_handover_expert.config_recap_handover_expert import RecapHandoverExpertConfig
from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig

__all__ = ["FootPedalConfig", "RecapDaggerConfig", "RecapHandoverExpertConfig", "YamBimanualLeaderConfig"]
