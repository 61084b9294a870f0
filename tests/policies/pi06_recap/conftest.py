"""Fixtures for pi06_recap: a local tokenizer, tiny configs/policies and batches shaped like the processor's output."""

from __future__ import annotations

import pytest
import torch
from lerobot.configs.types import FeatureType, PolicyFeature

from lerobot_recap.models.local_tokenizer import build_local_tokenizer
from lerobot_recap.models.pi05_backbone import GEMMA_SIZES
from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.pi06_recap.processor_pi06_recap import prompt_heads

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
    return {
        CAMERA: torch.rand(batch_size, *CAMERA_SHAPE, generator=gen),
        "observation.state": state,
        "action": torch.rand(batch_size, chunk, ACTION_DIM, generator=gen) * 2 - 1,
        "action_is_pad": torch.zeros(batch_size, chunk, dtype=torch.bool),
        "task": prompt_heads(tasks, state),
    }


@pytest.fixture
def batch():
    return make_batch()


@pytest.fixture
def batch_factory():
    return make_batch


def stock_pi05_sharing_modules(policy):
    """A stock ``PI05Policy`` configured like ``policy`` whose model runs on ``policy``'s own (tiny) modules.

    LeRobot builds pi0.5 only at its full size: the reference is built on the meta device (no memory, no weights)
    and then given the tiny policy's modules, so everything that runs on its side is LeRobot's code.
    """
    from lerobot.policies.pi05.configuration_pi05 import PI05Config
    from lerobot.policies.pi05.modeling_pi05 import PI05Policy

    ours = policy.config
    config = PI05Config(
        device="cpu",
        input_features=dict(ours.input_features),
        output_features=dict(ours.output_features),
        chunk_size=ours.chunk_size,
        n_action_steps=ours.n_action_steps,
        max_state_dim=ours.max_state_dim,
        max_action_dim=ours.max_action_dim,
        num_inference_steps=ours.num_inference_steps,
        image_resolution=ours.image_resolution,
        tokenizer_max_length=ours.tokenizer_max_length,
    )
    config.device = "meta"  # PI05Policy.__init__ ends with model.to(config.device): keep it on the meta device
    with torch.device("meta"):
        stock = PI05Policy(config)
    for name in STOCK_MODULES:
        setattr(stock.model, name, getattr(policy.model, name))
    config.device = "cpu"
    assert not [n for n, p in stock.named_parameters() if p.is_meta], "a stock parameter was left unshared"
    return stock


STOCK_MODULES = ("paligemma_with_expert", "action_in_proj", "action_out_proj", "time_mlp_in", "time_mlp_out")
"""Every module of LeRobot's PI05Pytorch."""

@pytest.fixture
def write_pi05_checkpoint(tmp_path):
    """Factory: a pi05 checkpoint written by stock ``PI05Policy.save_pretrained`` with ``policy``'s weights.

    Like a real ``lerobot/pi05_*`` checkpoint it also carries the two vocabulary heads pi0.5 never reads.
    """
    from safetensors.torch import load_file, save_file

    def _write(policy, name: str = "pi05_ckpt", mutate=None):
        folder = tmp_path / name
        stock_pi05_sharing_modules(policy).save_pretrained(folder)
        state = load_file(str(folder / "model.safetensors"))
        config = policy.config
        for stream, variant in (("paligemma", config.paligemma_variant), ("gemma_expert", config.action_expert_variant)):
            width = GEMMA_SIZES[variant].width
            state[f"model.paligemma_with_expert.{stream}.lm_head.weight"] = torch.zeros(config.vlm_vocab_size, width)
        if mutate is not None:
            mutate(state)
        save_file(state, str(folder / "model.safetensors"))
        return folder

    return _write
