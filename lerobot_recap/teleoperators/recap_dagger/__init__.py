from lerobot_recap.teleoperators.recap_dagger.config_recap_dagger import RecapDaggerConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "RecapDagger":
        from lerobot_recap.teleoperators.recap_dagger.recap_dagger import RecapDagger

        return RecapDagger
    raise AttributeError(name)


__all__ = ["RecapDaggerConfig", "RecapDagger"]
