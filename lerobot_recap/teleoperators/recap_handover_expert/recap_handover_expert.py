"""The ``recap_handover_expert`` leader: the scripted expert of the hand-over, driving through any teleop loop."""

from __future__ import annotations

from typing import Any

from lerobot.teleoperators.teleoperator import Teleoperator

from lerobot_recap.teleoperators.recap_handover_expert.config_recap_handover_expert import RecapHandoverExpertConfig


class RecapHandoverExpert(Teleoperator):
    config_class = RecapHandoverExpertConfig
    name = "recap_handover_expert"

    def __init__(self, config: RecapHandoverExpertConfig):
        super().__init__(config)
        self.config = config
        self.expert = None

    @property
    def action_features(self) -> dict:
        from lerobot_recap.envs.handover import JOINT_NAMES

        return {name: float for name in JOINT_NAMES}

    @property
    def feedback_features(self) -> dict:
        return {}

    @property
    def is_connected(self) -> bool:
        return self.expert is not None

    @property
    def is_calibrated(self) -> bool:
        return True

    def connect(self, calibrate: bool = True) -> None:
        from lerobot_recap.envs.scripted import HandoverExpert

        self.expert = HandoverExpert()

    def calibrate(self) -> None:
        """Nothing to calibrate: the expert reads the simulated world."""

    def configure(self) -> None:
        """Nothing to configure."""

    def get_action(self) -> dict[str, float]:
        from lerobot_recap.envs.handover import JOINT_NAMES
        from lerobot_recap.robots.recap_handover_sim.recap_handover_sim import shared_world

        # Looked up on every call: lerobot-record may connect the teleop before the robot.
        target = self.expert.act(shared_world(self.config.world_key).world)
        return {name: float(v) for name, v in zip(JOINT_NAMES, target, strict=True)}

    def send_feedback(self, feedback: dict[str, Any]) -> None:
        """The expert needs no feedback."""

    def disconnect(self) -> None:
        self.expert = None
