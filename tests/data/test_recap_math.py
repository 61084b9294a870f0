"""Property-based tests of the RECAP math against straightforward per-episode loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_recap.data import recap_math
from lerobot_recap.data.contract import ADV_NEGATIVE, ADV_NONE, ADV_POSITIVE


@st.composite
def datasets(draw, max_episodes: int = 8, max_length: int = 40):
    """Random episodes: lengths, outcomes, tasks, and non-contiguous episode ids."""
    n = draw(st.integers(1, max_episodes))
    lengths = np.array(draw(st.lists(st.integers(1, max_length), min_size=n, max_size=n)))
    success = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    ids = np.array(sorted(draw(st.sets(st.integers(0, 1000), min_size=n, max_size=n))))
    tasks = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    coef = draw(st.floats(0.1, 3.0))
    return lengths, success, ids, tasks, coef


def _layout(lengths, ids):
    episode_index = np.repeat(ids, lengths)
    return episode_index, recap_math.episode_bounds(episode_index)


def _per_task_length(lengths, tasks):
    return np.array([lengths[tasks == t].max() for t in tasks])


@settings(max_examples=200, deadline=None)
@given(datasets())
def test_rewards_match_the_convention(data):
    lengths, success, ids, tasks, coef = data
    _, bounds = _layout(lengths, ids)
    norm_length = _per_task_length(lengths, tasks)
    out = recap_math.compute_rewards(bounds, success, norm_length, np.full(len(ids), coef))
    for i, (start, end) in enumerate(zip(bounds.starts, bounds.ends, strict=True)):
        T, L = lengths[i], norm_length[i]
        D = L * (1 + coef)
        reward_label = out.reward_label[start:end]
        value_label = out.value_label[start:end]
        # Reference loop: the formulas of the module docstring, frame by frame.
        expected_r = np.array([-1 / D if t < T - 1 else (0.0 if success[i] else -coef * L / D) for t in range(T)])
        np.testing.assert_allclose(reward_label, expected_r, atol=1e-12)
        expected_v = np.array([sum(expected_r[t:]) for t in range(T)])
        np.testing.assert_allclose(value_label, expected_v, atol=1e-9)
        assert np.all(value_label <= 0) and np.all(value_label >= -1)
        assert out.reward[start:end].sum() == (1.0 if success[i] else 0.0)
        if success[i]:
            assert value_label[-1] == 0.0 and out.reward[end - 1] == 1.0
            assert value_label.min() >= -(L - 1) / D - 1e-12
        else:
            assert value_label.max() <= -coef * L / D + 1e-12


@settings(max_examples=100, deadline=None)
@given(datasets())
def test_value_label_is_reverse_cumsum_of_reward_label(data):
    lengths, success, ids, tasks, coef = data
    _, bounds = _layout(lengths, ids)
    out = recap_math.compute_rewards(bounds, success, _per_task_length(lengths, tasks), np.full(len(ids), coef))
    for start, end in zip(bounds.starts, bounds.ends, strict=True):
        np.testing.assert_allclose(out.value_label[start:end], np.cumsum(out.reward_label[start:end][::-1])[::-1], atol=1e-9)


def _reference_advantages(r, v, bounds, n_steps):
    adv = np.zeros_like(r)
    for start, end in zip(bounds.starts, bounds.ends, strict=True):
        for t in range(start, end):
            n = end - t if n_steps is None else min(n_steps, end - t)
            bootstrap = v[t + n] if t + n < end else 0.0
            adv[t] = r[t : t + n].sum() + bootstrap - v[t]
    return adv


@settings(max_examples=200, deadline=None)
@given(datasets(), st.one_of(st.none(), st.integers(1, 60)), st.integers(0, 2**31 - 1))
def test_n_step_advantages_match_reference_loop(data, n_steps, seed):
    lengths, success, ids, tasks, coef = data
    _, bounds = _layout(lengths, ids)
    rng = np.random.default_rng(seed)
    r = rng.normal(size=lengths.sum())
    v = rng.uniform(-1, 0, size=lengths.sum())
    got = recap_math.n_step_advantages(r, v, bounds, n_steps)
    np.testing.assert_allclose(got, _reference_advantages(r, v, bounds, n_steps), atol=1e-9)


def test_monte_carlo_advantage_with_perfect_values_is_zero():
    episode_index = np.repeat([3, 7], [5, 4])
    bounds = recap_math.episode_bounds(episode_index)
    out = recap_math.compute_rewards(bounds, np.array([True, False]), np.array([5, 5]), np.array([1.0, 1.0]))
    adv = recap_math.n_step_advantages(out.reward_label, out.value_label, bounds, n_steps=None)
    np.testing.assert_allclose(adv, 0.0, atol=1e-12)
    adv_n = recap_math.n_step_advantages(out.reward_label, out.value_label, bounds, n_steps=2)
    np.testing.assert_allclose(adv_n, 0.0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(50, 400), st.floats(0.05, 0.95), st.integers(0, 2**31 - 1))
def test_task_thresholds_hit_the_requested_positive_rate(n, fraction, seed):
    rng = np.random.default_rng(seed)
    adv = rng.normal(size=n)
    task = rng.integers(0, 3, size=n)
    human = rng.random(n) < 0.2
    thresholds = recap_math.task_thresholds(adv, task, ~human, fraction)
    indicator = recap_math.indicator_from_advantages(adv, task, human.astype(int), thresholds, human_positive=True)
    assert np.all(indicator[human] == ADV_POSITIVE)
    for t, threshold in thresholds.items():
        autonomous = (task == t) & ~human
        rate = np.mean(indicator[autonomous] == ADV_POSITIVE)
        # Distinct continuous values: the rate is within one frame of the requested fraction.
        assert abs(rate - fraction) <= 1.0 / autonomous.sum() + 1e-9
        assert set(np.unique(indicator[autonomous])) <= {ADV_POSITIVE, ADV_NEGATIVE}


def test_stage1_indicator_and_bounds_errors():
    assert recap_math.stage1_indicator(np.array([1, 0, 1])).tolist() == [ADV_POSITIVE, ADV_NONE, ADV_POSITIVE]
    with pytest.raises(ValueError, match="not contiguous"):
        recap_math.episode_bounds(np.array([0, 0, 1, 0]))
    bounds = recap_math.episode_bounds(np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="longer than"):
        recap_math.compute_rewards(bounds, np.array([True]), np.array([2]), np.array([1.0]))
    with pytest.raises(ValueError, match="n_steps"):
        recap_math.n_step_advantages(np.zeros(3), np.zeros(3), bounds, n_steps=0)


@settings(max_examples=50, deadline=None)
@given(datasets(max_length=80), st.integers(1, 3), st.integers(0, 2**31 - 1))  # both sort paths (mean length < or >= 32)
def test_vectorized_episode_stats_match_numpy_per_episode(data, width, seed):
    from lerobot_recap.data.dataset_io import episode_stats, feature_stats

    lengths, _, ids, _, _ = data
    episode_index, bounds = _layout(lengths, ids)
    values = np.random.default_rng(seed).normal(size=(episode_index.size, width)).astype(np.float32)
    got = episode_stats(values, episode_index)
    for ep, start, end in zip(bounds.ids, bounds.starts, bounds.ends, strict=True):
        expected = feature_stats(values[start:end])
        for key, value in expected.items():
            np.testing.assert_allclose(got[int(ep)][key], value, rtol=1e-6, atol=1e-6, err_msg=key)
