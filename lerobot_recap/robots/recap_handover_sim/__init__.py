from lerobot_recap.robots.recap_handover_sim.config_recap_handover_sim import RecapHandoverSimConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "RecapHandoverSim":
        from lerobot_recap.robots.recap_handover_sim.recap_handover_sim import RecapHandoverSim

        return RecapHandoverSim
    raise AttributeError(name)


__all__ = ["RecapHandoverSimConfig", "RecapHandoverSim"]
