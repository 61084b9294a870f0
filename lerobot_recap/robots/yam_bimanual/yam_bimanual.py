from lerobot.robots.robot import Robot

from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamBimanualConfig


class YamBimanual(Robot):
    config_class = YamBimanualConfig
    name = "yam_bimanual"

    def __init__(self, config: YamBimanualConfig):
        raise NotImplementedError(
            "yam_bimanual is registered but not implemented yet (capability: the YAM hardware path)"
        )
