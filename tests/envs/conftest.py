from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_generated(tmp_path_factory) -> tuple[Path, list]:
    """A small generated dataset (2 demos, 2 autonomous, 2 corrected rollouts), recorded once per session."""
    from lerobot_recap.envs.generate import GenerateConfig, generate_dataset

    root = tmp_path_factory.mktemp("handover") / "dataset"
    cfg = GenerateConfig(output_dir=root, n_demos=2, n_autonomous=2, n_corrected=2, seed=3, episode_length=80)
    results = generate_dataset(cfg, progress=False)
    return root, results
