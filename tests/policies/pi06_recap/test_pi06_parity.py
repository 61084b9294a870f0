"""With the clause off and no guidance, pi06_recap is LeRobot's pi0.5: same loss, same actions, same weights.

The reference is stock ``PI05Policy`` (built by ``stock_pi05_sharing_modules`` on the tiny policy's own modules) with
its stock pre-processor: pi05's prompt step and LeRobot's tokenizer step, given the local tokenizer since the
PaliGemma one needs the Hub. Every line of forward, sampling and image/prompt handling on the reference side is
LeRobot's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.pi05.processor_pi05 import Pi05PrepareStateTokenizerProcessorStep
from lerobot.processor import (
    PolicyProcessorPipeline,
    TokenizerProcessorStep,
    make_default_policy_processor_steps,
    make_policy_processor_pipelines,
)

from lerobot_recap.policies.pi06_recap.processor_pi06_recap import make_pi06_recap_pre_post_processors
from tests.policies.pi06_recap.conftest import stock_pi05_sharing_modules

STATE_DIM = ACTION_DIM = 6
CAMERA = "observation.images.top"
FEATURES = {
    "observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,)),
    CAMERA: PolicyFeature(FeatureType.VISUAL, (3, 24, 32)),
}
ACTIONS = {"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))}


def _stats() -> dict:
    def quantiles(dim: int) -> dict:
        low, high = -np.linspace(1.0, 2.0, dim), np.linspace(1.5, 3.0, dim)
        return {"q01": low, "q99": high, "mean": (low + high) / 2, "std": high - low, "min": low, "max": high}

    return {"observation.state": quantiles(STATE_DIM), "action": quantiles(ACTION_DIM)}


def stock_preprocessor(config, tokenizer) -> PolicyProcessorPipeline:
    """pi05's pre-processor (make_pi05_pre_post_processors without relative actions), with a local tokenizer."""
    steps = make_default_policy_processor_steps(config, _stats())
    pre, _ = make_policy_processor_pipelines(
        input_steps=[
            steps.rename_observations,
            steps.add_batch_dim,
            steps.normalize,
            Pi05PrepareStateTokenizerProcessorStep(max_state_dim=config.max_state_dim),
            TokenizerProcessorStep(
                tokenizer=tokenizer, max_length=config.tokenizer_max_length, padding_side="right", padding="max_length"
            ),
            steps.to_device,
        ],
        output_steps=[],
    )
    return pre


def raw_batch(batch_size: int = 3, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        CAMERA: torch.rand(batch_size, 3, 24, 32, generator=gen),
        "observation.state": torch.rand(batch_size, STATE_DIM, generator=gen) * 4 - 2,
        "action": torch.rand(batch_size, 10, ACTION_DIM, generator=gen) * 4 - 2,
        "task": ["pick up the cube", "place_the object\n", "fold the towel"][:batch_size],
    }


@pytest.fixture
def pair(make_policy):
    policy = make_policy(
        seed=3, input_features=dict(FEATURES), output_features=dict(ACTIONS), state_token=False,
        indicator_conditioning=False, inference_advantage="none",
    )
    stock = stock_pi05_sharing_modules(policy)
    ours_pre, _ = make_pi06_recap_pre_post_processors(policy.config, _stats())
    return policy, stock, ours_pre, stock_preprocessor(stock.config, policy.tokenizer)


def test_training_loss_equals_stock_pi05(pair):
    policy, stock, ours_pre, stock_pre = pair
    raw = raw_batch()
    policy.train(), stock.train()
    torch.manual_seed(11)
    stock_loss, stock_info = stock.forward(stock_pre(dict(raw)), reduction="none")
    torch.manual_seed(11)
    loss, info = policy.forward(ours_pre(dict(raw)), reduction="none")
    torch.testing.assert_close(loss, stock_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info["loss_per_dim"], stock_info["loss_per_dim"], rtol=1e-5)


def test_sampled_actions_equal_stock_pi05(pair):
    policy, stock, ours_pre, stock_pre = pair
    raw = {k: v for k, v in raw_batch().items() if k != "action"}
    noise = torch.randn(3, policy.config.chunk_size, policy.config.max_action_dim, generator=torch.Generator().manual_seed(5))
    expected = stock.predict_action_chunk(stock_pre(dict(raw)), noise=noise.clone())
    actions = policy.predict_action_chunk(ours_pre(dict(raw)), noise=noise.clone())
    torch.testing.assert_close(actions, expected, rtol=1e-5, atol=1e-6)


def test_guidance_weight_one_is_the_conditional_sample(make_policy):
    """cfg_beta = 1 is plain conditional sampling; a guided sample differs from it (the guidance acts)."""
    policy = make_policy(seed=4, input_features=dict(FEATURES), output_features=dict(ACTIONS), inference_advantage="positive")
    pre, _ = make_pi06_recap_pre_post_processors(policy.config, _stats())
    batch = pre({k: v for k, v in raw_batch().items() if k != "action"})
    noise = torch.randn(3, policy.config.chunk_size, policy.config.max_action_dim, generator=torch.Generator().manual_seed(1))
    plain = policy.predict_action_chunk(dict(batch), noise=noise.clone())
    policy.config.cfg_beta = 1.0
    assert not policy.config.guided
    torch.testing.assert_close(policy.predict_action_chunk(dict(batch), noise=noise.clone()), plain)
    policy.config.cfg_beta = 3.0
    assert not torch.allclose(policy.predict_action_chunk(dict(batch), noise=noise.clone()), plain)


def test_full_size_backbone_has_lerobots_parameters_but_the_unused_heads():
    """At full size the backbone is LeRobot's PaliGemmaWithExpertModel, names and shapes, minus the two lm_heads."""
    from lerobot.policies.pi05.modeling_pi05 import PaliGemmaWithExpertModel, get_gemma_config

    from lerobot_recap.models.pi05_backbone import GEMMA_SIZES, VISION_SIZES, SizedPaliGemmaWithExpert

    with torch.device("meta"):
        ours = SizedPaliGemmaWithExpert(GEMMA_SIZES["gemma_2b"], GEMMA_SIZES["gemma_300m"], VISION_SIZES["so400m"])
        stock = PaliGemmaWithExpertModel(
            get_gemma_config("gemma_2b"), get_gemma_config("gemma_300m"), use_adarms=[False, True], precision="float32"
        )
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    stock_shapes = {k: tuple(v.shape) for k, v in stock.state_dict().items()}
    assert set(stock_shapes) - set(ours_shapes) == {"paligemma.lm_head.weight", "gemma_expert.lm_head.weight"}
    assert set(ours_shapes) <= set(stock_shapes)
    assert all(stock_shapes[k] == shape for k, shape in ours_shapes.items())
    assert ours.paligemma.config.to_dict() == stock.paligemma.config.to_dict()
    assert ours.gemma_expert.config.to_dict() == stock.gemma_expert.config.to_dict()
