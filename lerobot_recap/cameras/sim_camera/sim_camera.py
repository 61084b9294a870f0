"""``recap_sim`` camera: synthetic frames that change over time, for the simulated YAM robot and tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from lerobot.cameras.camera import Camera
from lerobot.utils.errors import DeviceAlreadyConnectedError, DeviceNotConnectedError

from lerobot_recap.cameras.sim_camera.config_sim_camera import SimCameraConfig


class SimCamera(Camera):
    """Renders a colour gradient that scrolls with the frame counter (so consecutive frames differ)."""

    def __init__(self, config: SimCameraConfig):
        super().__init__(config)
        self.config = config
        self._connected = False
        self._frames = 0
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        self._base = (xs * 3 + ys * 5 + config.seed * 40).astype(np.int64)

    def __str__(self) -> str:
        return f"SimCamera(seed={self.config.seed})"

    @property
    def is_connected(self) -> bool:
        return self._connected

    @staticmethod
    def find_cameras() -> list[dict[str, Any]]:
        return [{"name": "recap_sim", "type": "recap_sim", "id": "sim"}]

    def connect(self, warmup: bool = True) -> None:
        if self._connected:
            raise DeviceAlreadyConnectedError(f"{self} is already connected.")
        self._connected = True

    def read(self) -> np.ndarray:
        if not self._connected:
            raise DeviceNotConnectedError(f"{self} is not connected. Run `.connect()` first.")
        limit = self.config.fail_after_frames
        if limit is not None and self._frames >= limit:
            self._connected = False
            raise ConnectionError(f"{self} stopped delivering frames after {limit} frames (simulated unplug).")
        self._frames += 1
        value = self._base + self._frames * 4
        frame = np.stack([value % 256, (value // 2) % 256, (255 - value) % 256], axis=-1)
        return frame.astype(np.uint8)

    def async_read(self, timeout_ms: float = 200) -> np.ndarray:
        return self.read()

    def read_latest(self, max_age_ms: int = 500) -> np.ndarray:
        return self.read()

    def disconnect(self) -> None:
        # Idempotent: the robot also calls it after a simulated unplug.
        self._connected = False
