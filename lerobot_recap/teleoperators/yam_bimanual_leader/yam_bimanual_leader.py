from lerobot.teleoperators.teleoperator import Teleoperator

from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig


class YamBimanualLeader(Teleoperator):
    config_class = YamBimanualLeaderConfig
    name = "yam_bimanual_leader"

    def __init__(self, config: YamBimanualLeaderConfig):
        raise NotImplementedError("yam_bimanual_leader is registered but not implemented yet (capability: the YAM leader arms)")
