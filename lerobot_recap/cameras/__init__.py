"""Cameras: ``recap_sim``, a synthetic camera for the simulated YAM backend, demos and tests (no hardware)."""

from lerobot_recap.cameras.sim_camera.config_sim_camera import SimCameraConfig

__all__ = ["SimCameraConfig"]
