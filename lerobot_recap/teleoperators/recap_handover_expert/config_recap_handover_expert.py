"""Config of the ``recap_handover_expert`` leader: the hand-over task's scripted expert as a teleoperator."""

from dataclasses import dataclass

from lerobot.teleoperators.config import TeleoperatorConfig


@TeleoperatorConfig.register_subclass("recap_handover_expert")
@dataclass(kw_only=True)
class RecapHandoverExpertConfig(TeleoperatorConfig):
    """The operator of the simulated hand-over: reads the ``recap_handover_sim`` world and returns the expert's
    joint targets (the same expert that corrects in ``lerobot-recap-collect``). Use it as recap_dagger's leader:
    ``--teleop.type=recap_dagger --teleop.leader.type=recap_handover_expert``.
    """

    world_key: str = "default"
    """The world_key of the recap_handover_sim robot whose world the expert watches."""
