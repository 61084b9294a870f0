"""Fixtures for the teleoperator tests: the simulated devices and a tiny real pi06_recap checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import sim_devices  # noqa: E402,F401  (registers the simulated arm and leader)
from tiny_checkpoints import build_tiny_pi06_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_pi06_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_pi06_checkpoint(tmp_path_factory.mktemp("tiny_pi06") / "pretrained_model")
