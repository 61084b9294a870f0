from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import YamBimanualConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "YamBimanual":
        from lerobot_recap.robots.yam_bimanual.yam_bimanual import YamBimanual

        return YamBimanual
    raise AttributeError(name)


__all__ = ["YamBimanualConfig", "YamBimanual"]
