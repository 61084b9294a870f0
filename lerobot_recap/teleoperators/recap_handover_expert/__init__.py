from lerobot_recap.teleoperators.recap_handover_expert.config_recap_handover_expert import RecapHandoverExpertConfig


def __getattr__(name: str):
    # The device class loads lazily: LeRobot's factory looks it up by name in this package.
    if name == "RecapHandoverExpert":
        from lerobot_recap.teleoperators.recap_handover_expert.recap_handover_expert import RecapHandoverExpert

        return RecapHandoverExpert
    raise AttributeError(name)


__all__ = ["RecapHandoverExpertConfig", "RecapHandoverExpert"]
