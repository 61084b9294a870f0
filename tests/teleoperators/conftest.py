"""Fixtures for the teleoperator tests: the simulated devices and a tiny real ACT checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import sim_devices  # noqa: E402  (registers the simulated arm and leader)


def build_tiny_act_checkpoint(out: Path) -> Path:
    """A randomly initialised tiny ACT for the sim arm, saved with save_pretrained plus its processors."""
    import numpy as np
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(0)
    h, w, c = sim_devices.IMAGE_SHAPE
    n = sim_devices.N_JOINTS
    config = ACTConfig(
        input_features={
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(n,)),
            "observation.images.cam": PolicyFeature(type=FeatureType.VISUAL, shape=(c, h, w)),
        },
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(n,))},
        chunk_size=4,
        n_action_steps=4,
        dim_model=32,
        n_heads=2,
        dim_feedforward=64,
        n_encoder_layers=1,
        n_decoder_layers=1,
        use_vae=False,
        pretrained_backbone_weights=None,
        device="cpu",
        push_to_hub=False,
    )
    policy = ACTPolicy(config)
    stats = {
        "observation.state": {"mean": np.zeros(n, np.float32), "std": np.ones(n, np.float32)},
        "action": {"mean": np.zeros(n, np.float32), "std": np.full(n, 0.2, np.float32)},
        "observation.images.cam": {
            "mean": np.full((c, 1, 1), 0.5, np.float32),
            "std": np.full((c, 1, 1), 0.25, np.float32),
        },
    }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out)
    preprocessor.save_pretrained(out)
    postprocessor.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_act_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_act_checkpoint(tmp_path_factory.mktemp("tiny_act") / "pretrained_model")
