"""Shared fixtures: no network, real small LeRobot v3.0 datasets written through LeRobot's API."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lerobot_recap.data.contract import Outcome  # noqa: E402
from lerobot_recap.data.synthetic import (  # noqa: E402
    SyntheticDatasetSpec,
    SyntheticEpisode,
    make_synthetic_dataset,
    random_episodes,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``: to prove a transform left its source byte-for-byte unchanged."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for stock-CLI subprocesses: offline, no wandb, the repo on PYTHONPATH."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def recording_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """cli_env for stock lerobot-record/-rollout runs: LeRobot's home and calibration inside tmp_path, no display."""
    return cli_env(
        HF_LEROBOT_HOME=str(tmp_path / "lerobot_home"),
        HF_LEROBOT_CALIBRATION=str(tmp_path / "calibration"),
        DISPLAY="",
        **extra,
    )


def venv_script(name: str) -> str:
    """A console script installed beside the running interpreter (the stock LeRobot CLIs, ours)."""
    from lerobot_recap.pipeline.runner import console_script

    return console_script(name)


@pytest.fixture
def make_dataset(tmp_path):
    """Factory: ``make_dataset(name, spec=None, **spec_kwargs)`` writes a real v3.0 dataset under tmp_path."""

    def _make(name: str = "ds", spec: SyntheticDatasetSpec | None = None, **kwargs):
        if spec is None:
            kwargs.setdefault("episodes", random_episodes(6, seed=kwargs.pop("seed", 0)))
            spec = SyntheticDatasetSpec(**kwargs)
        root = tmp_path / name
        make_synthetic_dataset(root, spec, repo_id=f"local/{name}")
        return root

    return _make


@pytest.fixture
def demo_episodes():
    return [
        SyntheticEpisode(length=8, task="pick up the cube", outcome=Outcome.SUCCESS, human=np.ones(8, dtype=np.int64)),
        SyntheticEpisode(length=5, task="place the object", outcome=Outcome.FAILURE, human=np.zeros(5, dtype=np.int64)),
        SyntheticEpisode(
            length=11, task="pick up the cube", outcome=Outcome.SUCCESS, human=np.r_[np.zeros(4), np.ones(7)].astype(np.int64)
        ),
    ]
