"""The tiny recap_value actually learns: an in-process overfit of 32 frames with the tiny defaults.

Before the tiny size had its own learning rate and target spread (and before the state token's output reached the
head), this overfit ended where it started: cross-entropy at ln(201), V the same constant for every frame. The
check is on the part of the cross-entropy above the targets' own entropy (the KL to the target distribution,
zero at a perfect fit) and on the rank order of the predicted values.
"""

from __future__ import annotations

import math

import pytest
import torch

from lerobot_recap.data.contract import VALUE_LABEL
from lerobot_recap.policies.recap_value.modeling_recap_value import (
    bin_centers,
    gaussian_target,
    spearman,
    value_target_probs,
)
from tests.value.conftest import make_tiny_policy

FRAMES = 32
STEPS = 120


def test_gaussian_targets_are_distributions_centred_on_the_target():
    targets = torch.cat([torch.linspace(-1.0, 0.0, 101), torch.tensor([-1.5, 0.5])])
    probs = gaussian_target(targets, 201, -1.0, 0.0, sigma_bins=2.0)
    assert bool((probs >= 0).all())
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(targets)))
    expectation = probs @ bin_centers(201, -1.0, 0.0)
    interior = (targets > -0.95) & (targets < -0.05)
    torch.testing.assert_close(expectation[interior], targets[interior], atol=1e-4, rtol=0)
    # Near an end the tail beyond it lands on the end atom: off by less than one bin (0.005), not renormalized away.
    assert float((expectation - targets.clamp(-1.0, 0.0)).abs().max()) < 0.005
    assert float(probs[-1, -1]) > 0.5 and float(probs[-2, 0]) > 0.5  # out-of-range targets clamp to the ends


def overfit(root, steps: int = STEPS, **overrides) -> dict[str, float]:
    """Train a tiny state-reading value model on one fixed batch the way lerobot-train does (its presets)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.policies.recap_value.processor_recap_value import make_recap_value_pre_post_processors

    torch.manual_seed(0)
    options = {"state_token": True, "val_fraction": 0.0, "head_dropout": 0.0, "image_augmentation": False}
    policy = make_tiny_policy(root, **(options | overrides))
    dataset = LeRobotDataset("local/value", root=root)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=FRAMES, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    preprocessor, _ = make_recap_value_pre_post_processors(policy.config, dataset_stats=dataset.meta.stats)
    batch = preprocessor(next(iter(loader)))
    target = policy.labels.lookup(batch["index"])[VALUE_LABEL].reshape(-1).float()
    probs = value_target_probs(target, policy.config)
    target_entropy = float(-(probs * probs.clamp(min=1e-12).log()).sum(-1).mean())

    optimizer = policy.config.get_optimizer_preset().build(policy.get_optim_params())
    scheduler = policy.config.get_scheduler_preset().build(optimizer, steps)
    policy.train()
    losses = []
    for _ in range(steps):
        loss, _ = policy.forward(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.get_optim_params(), policy.config.optimizer_grad_clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    policy.eval()
    value = policy.predict_value(batch)
    return {
        "first_kl": losses[0] - target_entropy,
        "last_kl": sum(losses[-5:]) / 5 - target_entropy,
        "spearman": spearman(value.numpy(), target.numpy()),
        "mae": float((value - target).abs().mean()),
        "value_spread": float(value.std()),
    }


@pytest.fixture
def one_thread():
    """One intra-op thread: this tiny model is faster so, above all on a loaded machine (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_defaults_overfit_32_frames(annotated_root, one_thread):
    result = overfit(annotated_root)
    assert result["first_kl"] > 0.5 * math.log(201)  # starts near uniform
    assert result["last_kl"] < 0.5 * result["first_kl"], result
    assert result["spearman"] > 0.75, result
    assert result["value_spread"] > 0.05, result  # V is not one constant


@pytest.mark.slow
def test_fine_tuning_rate_and_two_hot_do_not_learn_from_scratch(annotated_root, one_thread):
    """The full size's settings on random tiny backbones: the failure the tiny defaults fix (documents the cause)."""
    result = overfit(annotated_root, optimizer_lr=5e-5, target_sigma_bins=0.0)
    assert result["last_kl"] > 0.7 * result["first_kl"], result
    assert result["value_spread"] < 0.02, result
