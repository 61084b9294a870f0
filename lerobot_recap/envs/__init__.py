"""Simulated tasks registered as LeRobot env configs (``--env.type=recap_handover``)."""

from lerobot_recap.envs.configs import RecapHandoverEnv

__all__ = ["RecapHandoverEnv"]
