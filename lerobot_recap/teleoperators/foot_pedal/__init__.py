from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig, FootPedalSettings


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "FootPedal":
        from lerobot_recap.teleoperators.foot_pedal.foot_pedal import FootPedal

        return FootPedal
    raise AttributeError(name)


__all__ = ["FootPedalConfig", "FootPedalSettings", "FootPedal"]
