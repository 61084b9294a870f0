"""Fixtures of the value-model tests: an annotated real dataset and a tiny recap_value checkpoint (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, make_synthetic_dataset, random_episodes


def build_annotated(base: Path, cameras=("top",), n_episodes: int = 6, seed: int = 0) -> Path:
    make_synthetic_dataset(
        base / "raw",
        SyntheticDatasetSpec(episodes=random_episodes(n_episodes, seed=seed), cameras=cameras),
        repo_id="local/value_raw",
    )
    annotate_dataset(AnnotateConfig(root=base / "raw", output_root=base / "annotated"), progress=False)
    return base / "annotated"


def make_tiny_policy(root: Path, **overrides):
    """A tiny recap_value built the way lerobot-train builds it (make_policy with the dataset's metadata)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.factory import make_policy

    from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

    config = RecapValueConfig(**{"size": "tiny", "device": "cpu", **overrides})
    return make_policy(config, ds_meta=LeRobotDatasetMetadata("local/value", root=root))


@pytest.fixture(scope="session")
def annotated_root(tmp_path_factory) -> Path:
    return build_annotated(tmp_path_factory.mktemp("value_data"))


@pytest.fixture(scope="session")
def tiny_checkpoint(annotated_root, tmp_path_factory) -> Path:
    policy = make_tiny_policy(annotated_root)
    path = tmp_path_factory.mktemp("value_ckpt") / "pretrained_model"
    policy.save_pretrained(path)
    return path
