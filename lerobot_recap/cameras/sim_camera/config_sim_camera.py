"""Config of the ``recap_sim`` camera: synthetic frames, no hardware."""

from dataclasses import dataclass

from lerobot.cameras import CameraConfig


@CameraConfig.register_subclass("recap_sim")
@dataclass(kw_only=True)
class SimCameraConfig(CameraConfig):
    """A synthetic RGB camera: a moving pattern, deterministic per `seed` and frame number."""

    fps: int | None = 30
    """Frames per second the camera pretends to deliver."""
    width: int | None = 64
    """Frame width in pixels."""
    height: int | None = 48
    """Frame height in pixels."""
    seed: int = 0
    """Changes the pattern, so several simulated cameras look different."""
    fail_after_frames: int | None = None
    """Simulate an unplugged camera - reads raise after this many frames (fault tests)."""
