"""A tiny real ``pi06_recap`` checkpoint for the stage-0 and evaluation tests (the sim arm's, or any robot's)."""

from __future__ import annotations

from pathlib import Path

import sim_devices


def build_tiny_pi06_checkpoint(
    out: Path, joints: int = sim_devices.N_JOINTS, cameras: dict[str, tuple[int, int, int]] | None = None, **overrides
) -> Path:
    """:func:`tests.tiny_pi06.build_tiny_pi06_checkpoint`, by default fitting the sim arm."""
    from tests.tiny_pi06 import build_tiny_pi06_checkpoint as build

    cameras = cameras if cameras is not None else {"cam": sim_devices.IMAGE_SHAPE}
    return build(out, joints, cameras, **overrides)
