from lerobot_recap.robots.recap_observed.config_recap_observed import RecapObservedConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "RecapObserved":
        from lerobot_recap.robots.recap_observed.recap_observed import RecapObserved

        return RecapObserved
    raise AttributeError(name)


__all__ = ["RecapObservedConfig", "RecapObserved"]
