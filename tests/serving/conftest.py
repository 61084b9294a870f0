"""Fixtures for the serving tests: a tiny real pi06_recap checkpoint, the served policy and a server on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TELEOP_TESTS = Path(__file__).resolve().parents[1] / "teleoperators"
if str(TELEOP_TESTS) not in sys.path:
    sys.path.insert(0, str(TELEOP_TESTS))

import sim_devices

IMAGE = sim_devices.IMAGE_SHAPE
"""The sim arm's camera ``cam``, (H, W, C)."""
TASK = "hand the cube over"


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny pi06_recap for the sim arm (3 joints, camera ``cam``), chunk 4."""
    from tests.tiny_pi06 import build_tiny_pi06_checkpoint

    return build_tiny_pi06_checkpoint(
        tmp_path_factory.mktemp("serve_ckpt") / "pretrained_model", sim_devices.N_JOINTS, {"cam": IMAGE}, device="cpu"
    )


def load_policy_config(checkpoint: Path, **overrides):
    from lerobot.configs.policies import PreTrainedConfig

    config = PreTrainedConfig.from_pretrained(checkpoint)
    config.pretrained_path = checkpoint
    config.device = "cpu"
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def served(checkpoint):
    """The checkpoint loaded once for the server side (ServedPolicy)."""
    import torch

    from lerobot_recap.serving.served_policy import ServedPolicy

    torch.set_num_threads(1)
    return ServedPolicy.from_config(load_policy_config(checkpoint))


@pytest.fixture
def server(served):
    """``lerobot-recap-serve``'s server on a free loopback port, stopped after the test."""
    from lerobot_recap.serving.websocket_server import (
        RunningServer,
        WebsocketPolicyServer,
    )

    with RunningServer(WebsocketPolicyServer(served, port=0)) as running:
        yield running


def random_observation(rng: np.random.Generator, noise_shape=None) -> dict:
    """An ALOHA-style openpi observation for the sim arm's policy (CHW uint8 image), with noise when asked."""
    obs = {
        "state": rng.uniform(-1, 1, sim_devices.N_JOINTS).astype(np.float32),
        "images": {"cam": rng.integers(0, 256, (IMAGE[2], IMAGE[0], IMAGE[1]), dtype=np.uint8)},
        "prompt": TASK,
    }
    if noise_shape is not None:
        obs["noise"] = rng.standard_normal(noise_shape).astype(np.float32)
    return obs
