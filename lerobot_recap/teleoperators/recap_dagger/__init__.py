from lerobot_recap.teleoperators.recap_dagger.config_recap_dagger import RecapDaggerConfig
from lerobot_recap.teleoperators.recap_dagger.config_recap_observed import RecapObservedConfig


def __getattr__(name: str):
    # Device classes load lazily: LeRobot's factories look them up by name in this package.
    if name == "RecapDagger":
        from lerobot_recap.teleoperators.recap_dagger.recap_dagger import RecapDagger

        return RecapDagger
    if name == "RecapObserved":
        from lerobot_recap.teleoperators.recap_dagger.recap_observed import RecapObserved

        return RecapObserved
    raise AttributeError(name)


__all__ = ["RecapDaggerConfig", "RecapDagger", "RecapObservedConfig", "RecapObserved"]
