"""Fixtures for the YAM hardware-path tests (no hardware: sim backend, python-can's virtual bus, loopback ZMQ)."""

import logging
import time
from pathlib import Path

import pytest

import lerobot_recap  # noqa: F401  (registers the config classes)
from lerobot_recap.cameras import SimCameraConfig
from lerobot_recap.robots.yam_bimanual import YamBimanualConfig

# python-can traces every frame at level 9. Once an in-process CLI test has run LeRobot's init_logging (root level
# NOTSET), pytest would capture ~3000 of those records a second per robot, enough load on a 2-core runner to starve
# the servo threads past the reply timeout.
logging.getLogger("can").setLevel(logging.INFO)


def wait_for(predicate, timeout_s: float = 3.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout_s`` passes (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def small_cameras(**top_overrides) -> dict:
    return {
        "top": SimCameraConfig(width=32, height=24, seed=0, **top_overrides),
        "left_wrist": SimCameraConfig(width=32, height=24, seed=1),
        "right_wrist": SimCameraConfig(width=32, height=24, seed=2),
    }


@pytest.fixture
def sim_config(tmp_path: Path):
    """A factory for a sim-backend yam_bimanual config with tiny synthetic cameras and a private calibration dir."""

    def make(**overrides) -> YamBimanualConfig:
        camera_overrides = overrides.pop("top_camera", {})
        kwargs = dict(
            id="test_yam",
            calibration_dir=tmp_path / "calibration",
            backend="sim",
            cameras=small_cameras(**camera_overrides),
        )
        kwargs.update(overrides)
        return YamBimanualConfig(**kwargs)

    return make
