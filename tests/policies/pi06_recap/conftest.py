"""Fixtures for pi06_recap: a local tokenizer, tiny configs/policies and batches shaped like the processor's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lerobot.configs.types import FeatureType, PolicyFeature

from lerobot_recap.models.local_tokenizer import build_local_tokenizer
from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.pi06_recap.processor_pi06_recap import discretize_state, render_task_and_state

STATE_DIM, ACTION_DIM = 6, 6
CAMERA = "observation.images.top"
CAMERA_SHAPE = (3, 24, 32)  # non-square on purpose (RealSense-like aspect): exercises resize-with-pad


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pi06_tokenizer")
    build_local_tokenizer(path)
    return path


@pytest.fixture
def make_config(tokenizer_dir):
    def _make(**overrides) -> PI06RecapConfig:
        overrides.setdefault("tokenizer_name", str(tokenizer_dir))
        # The unit tests pin the text-clause path; test_indicator_conditioning_* cover the tiny default's embedding.
        overrides.setdefault("indicator_conditioning", False)
        overrides.setdefault(
            "input_features",
            {
                "observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,)),
                CAMERA: PolicyFeature(FeatureType.VISUAL, CAMERA_SHAPE),
            },
        )
        overrides.setdefault("output_features", {"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))})
        return PI06RecapConfig.tiny(**overrides)

    return _make


@pytest.fixture
def make_policy(make_config):
    from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy

    def _make(seed: int = 0, **overrides):
        torch.manual_seed(seed)
        return PI06RecapPolicy(make_config(**overrides))

    return _make


def make_batch(batch_size: int = 4, seed: int = 0, chunk: int = 10, tasks=None) -> dict:
    """A batch as the pre-processor hands it to the policy (normalised state rendered into the task)."""
    gen = torch.Generator().manual_seed(seed)
    state = torch.rand(batch_size, STATE_DIM, generator=gen) * 2 - 1
    tasks = tasks or [("pick up the cube", "place the object")[i % 2] for i in range(batch_size)]
    padded = np.pad(state.numpy(), ((0, 0), (0, 8 - STATE_DIM)))
    heads = [render_task_and_state(t, b) for t, b in zip(tasks, discretize_state(padded), strict=True)]
    return {
        CAMERA: torch.rand(batch_size, *CAMERA_SHAPE, generator=gen),
        "observation.state": state,
        "action": torch.rand(batch_size, chunk, ACTION_DIM, generator=gen) * 2 - 1,
        "action_is_pad": torch.zeros(batch_size, chunk, dtype=torch.bool),
        "task": heads,
    }


@pytest.fixture
def batch():
    return make_batch()


@pytest.fixture
def batch_factory():
    return make_batch


def pi05_layout_state_dict(policy) -> dict[str, torch.Tensor]:
    """The policy's weights under the names LeRobot 0.4.4's PI05Policy writes (and openpi-converted variants):
    ``action_time_mlp_*``, the tied LM matrix stored as ``lm_head``, and the expert's unused ``lm_head``."""
    out = {}
    for key, value in policy.state_dict().items():
        if key.endswith("language_model.embed_tokens.weight"):
            continue  # tied to paligemma.lm_head.weight, which carries it
        if key.startswith("model.state_proj."):
            continue  # the optional continuous state token: pi0.5 has none
        out[key.replace("model.time_mlp_", "model.action_time_mlp_")] = value.detach().clone().contiguous()
    width = policy.model.action_in_proj.out_features
    out["model.paligemma_with_expert.gemma_expert.lm_head.weight"] = torch.zeros(policy.config.vlm_vocab_size, width)
    return out


@pytest.fixture
def write_pi05_checkpoint(tmp_path):
    from safetensors.torch import save_file

    def _write(policy, name: str = "pi05_ckpt", mutate=None):
        state = pi05_layout_state_dict(policy)
        if mutate is not None:
            mutate(state)
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        save_file(state, str(folder / "model.safetensors"))
        return folder

    return _write
