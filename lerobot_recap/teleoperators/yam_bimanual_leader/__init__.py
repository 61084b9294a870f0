from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "YamBimanualLeader":
        from lerobot_recap.teleoperators.yam_bimanual_leader.yam_bimanual_leader import YamBimanualLeader

        return YamBimanualLeader
    raise AttributeError(name)


__all__ = ["YamBimanualLeaderConfig", "YamBimanualLeader"]
