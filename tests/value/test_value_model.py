"""recap_value: distributional head math, metrics, the tiny model on real batches, the contract it carries."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_recap.policies.recap_value.modeling_recap_value import (
    RecapValuePolicy,
    average_ranks,
    bin_centers,
    draw_held_out_episodes,
    final_quarter_mask,
    spearman,
    two_hot,
    value_metrics,
)
from tests.value.conftest import make_tiny_policy


@settings(max_examples=50, deadline=None)
@given(targets=st.lists(st.floats(-1.0, 0.0, allow_nan=False), min_size=1, max_size=20))
def test_two_hot_expectation_is_the_target(targets):
    target = torch.tensor(targets, dtype=torch.float64).float()
    probs = two_hot(target, 201, -1.0, 0.0)
    assert torch.allclose(probs.sum(-1), torch.ones(len(targets)))
    assert int((probs > 0).sum(-1).max()) <= 2
    assert torch.allclose(probs @ bin_centers(201, -1.0, 0.0), target, atol=1e-5)


def test_two_hot_clamps_out_of_range_targets():
    probs = two_hot(torch.tensor([-3.0, 2.0]), 11, -1.0, 0.0)
    assert probs[0, 0] == 1.0 and probs[1, -1] == 1.0


def test_spearman_matches_scipy_with_ties():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200).astype(float)  # many ties
    b = a + rng.normal(0, 2, 200)
    assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic, abs=1e-12)
    np.testing.assert_allclose(average_ranks(a), scipy_stats.rankdata(a))


def test_value_metrics_separation():
    predicted = np.array([-0.1, -0.2, -0.8, -0.9])
    target = np.array([-0.1, -0.2, -0.7, -0.9])
    episode = np.array([0, 0, 1, 1])
    metrics = value_metrics(predicted, target, episode, {0}, {1})
    assert metrics["mae"] == pytest.approx(0.025)
    assert metrics["spearman"] == pytest.approx(1.0)
    assert metrics["success_minus_failure"] == pytest.approx(0.7)
    assert metrics["success_auc"] == pytest.approx(1.0)


def test_final_quarter_auc_judges_only_the_end_of_each_episode():
    # Both episodes start alike (no value model can tell them apart yet) and part in their last quarter.
    success = np.array([-0.5, -0.5, -0.5, -0.1])
    failure = np.array([-0.4, -0.4, -0.4, -0.9])
    predicted = np.concatenate([success, failure])
    episode = np.array([3, 3, 3, 3, 7, 7, 7, 7])
    metrics = value_metrics(predicted, predicted, episode, {3}, {7})
    assert metrics["final_quarter_auc"] == pytest.approx(1.0)
    assert metrics["success_auc"] < 0.5
    np.testing.assert_array_equal(final_quarter_mask(episode), [False, False, False, True] * 2)


def test_held_out_draw_is_per_outcome_and_seeded():
    from lerobot_recap.data.contract import Outcome
    from lerobot_recap.data.metadata import EpisodeInfo

    episodes = {i: EpisodeInfo(Outcome.SUCCESS if i % 2 else Outcome.FAILURE) for i in range(20)}
    drawn = draw_held_out_episodes(episodes, 0.2, seed=3)
    assert drawn == draw_held_out_episodes(episodes, 0.2, seed=3)
    assert sum(i % 2 for i in drawn) == 3 and sum(1 - i % 2 for i in drawn) == 3  # at least 3 of each outcome
    few = {i: EpisodeInfo(Outcome.FAILURE if i < 4 else Outcome.SUCCESS) for i in range(40)}
    drawn = draw_held_out_episodes(few, 0.1, seed=0)
    assert sum(i < 4 for i in drawn) == 2 and sum(i >= 4 for i in drawn) == 4  # half of 4 failures; 10% of 36


def _batch(root, policy, size=12):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.policies.recap_value.processor_recap_value import make_recap_value_pre_post_processors

    dataset = LeRobotDataset("local/value", root=root)
    loader = torch.utils.data.DataLoader(dataset, batch_size=size, shuffle=True, generator=torch.Generator().manual_seed(0))
    preprocessor, _ = make_recap_value_pre_post_processors(policy.config)
    return preprocessor(next(iter(loader)))


def test_tiny_model_trains_every_part_and_loads_no_text_tower(annotated_root):
    policy = make_tiny_policy(annotated_root, val_fraction=0.0)
    names = [name for name, _ in policy.named_parameters()]
    assert not any("text_model" in n or "logit_scale" in n or ".head." in n and "vision" in n for n in names)
    assert type(policy.encoder.vision).__name__ == "SiglipVisionModel"
    assert type(policy.encoder.language).__name__ == "Gemma3TextModel"
    policy.train()
    loss, output = policy.forward(_batch(annotated_root, policy))
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    # No unused parameter: every trainable tensor gets a gradient (what DDP's reducer requires).
    unused = [n for n, p in policy.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    assert set(output) >= {"mae", "spearman", "loss_ce"}


def test_held_out_episodes_get_no_gradient(annotated_root):
    policy = make_tiny_policy(annotated_root, val_episodes=list(range(100)))  # every episode held out
    policy.train()
    loss, _ = policy.forward(_batch(annotated_root, policy))
    loss.backward()
    assert loss.item() == 0.0
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in policy.parameters())


def test_freeze_options_remove_backbones_from_the_optimizer(annotated_root):
    policy = make_tiny_policy(annotated_root, freeze_vision_encoder=True, freeze_language=True)
    trained = {id(p) for p in policy.get_optim_params()}
    assert not any(id(p) in trained for p in policy.encoder.vision.parameters())
    assert not any(id(p) in trained for p in policy.encoder.language.parameters())
    assert all(id(p) in trained for p in policy.head.parameters())


def test_contract_constants_round_trip_through_the_checkpoint(annotated_root, tiny_checkpoint):
    from lerobot_recap.data.metadata import load_recap_metadata

    saved = json.loads((tiny_checkpoint / "config.json").read_text())
    meta = load_recap_metadata(annotated_root)
    assert saved["convention_version"] == meta.convention_version == "recap-v1"
    assert saved["num_bins"] == 201 and saved["bin_min"] == -1.0 and saved["bin_max"] == 0.0
    assert saved["task_norm_length"] == {c.task: c.norm_length for c in meta.tasks.values()}
    assert saved["task_c_fail"] == {c.task: c.c_fail for c in meta.tasks.values()}
    assert saved["val_episodes"] is not None

    reloaded = RecapValuePolicy.from_pretrained(tiny_checkpoint)
    assert reloaded.config.task_norm_length == saved["task_norm_length"]
    assert reloaded.config.convention_version == "recap-v1"
    # Same weights, same values.
    fresh = make_tiny_policy(annotated_root)
    fresh.load_state_dict(reloaded.state_dict())
    fresh.eval()
    batch = _batch(annotated_root, reloaded)
    torch.testing.assert_close(reloaded.predict_value(batch), fresh.predict_value(batch))
    values = reloaded.predict_value(batch)
    assert values.shape == (12,) and bool(((values >= -1) & (values <= 0)).all())


def test_dataset_of_another_convention_is_refused(annotated_root, tmp_path):
    root = tmp_path / "other"
    shutil.copytree(annotated_root, root)
    recap = json.loads((root / "meta" / "recap.json").read_text())
    recap["convention"]["version"] = "recap-v0"
    (root / "meta" / "recap.json").write_text(json.dumps(recap))
    with pytest.raises(ValueError, match="recap-v0"):
        make_tiny_policy(root)


def test_checkpoint_constants_must_match_the_dataset(annotated_root):
    from lerobot_recap.data.metadata import load_recap_metadata

    task = next(iter(load_recap_metadata(annotated_root).tasks.values())).task
    with pytest.raises(ValueError, match="value scales"):
        make_tiny_policy(annotated_root, convention_version="recap-v1", task_norm_length={task: 999}, task_c_fail={task: 999.0})
    with pytest.raises(ValueError, match="convention"):
        make_tiny_policy(annotated_root, convention_version="recap-v9")


def test_unannotated_dataset_is_refused(tmp_path):
    from lerobot_recap.data.synthetic import SyntheticDatasetSpec, make_synthetic_dataset, random_episodes

    make_synthetic_dataset(tmp_path / "raw", SyntheticDatasetSpec(episodes=random_episodes(3)))
    with pytest.raises(ValueError, match="lerobot-recap-annotate"):
        make_tiny_policy(tmp_path / "raw")


def test_lora_through_stock_wrap_with_peft(annotated_root):
    pytest.importorskip("peft")
    policy = make_tiny_policy(annotated_root, val_fraction=0.0)
    wrapped = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert any("lora_A" in n and "language" in n for n in trainable)
    assert any("head" in n for n in trainable)
    assert not any("vision" in n for n in trainable)
    wrapped.train()
    loss, _ = wrapped.forward(_batch(annotated_root, policy))
    loss.backward()
    assert all(p.grad is not None for n, p in wrapped.named_parameters() if p.requires_grad and "lora_A" in n)
