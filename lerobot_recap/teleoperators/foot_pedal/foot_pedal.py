from lerobot.teleoperators.teleoperator import Teleoperator

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig


class FootPedal(Teleoperator):
    config_class = FootPedalConfig
    name = "foot_pedal"

    def __init__(self, config: FootPedalConfig):
        raise NotImplementedError("foot_pedal is registered but not implemented yet (capability: the foot pedal teleoperator)")
