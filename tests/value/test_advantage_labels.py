"""The stage-5 label math: N-step advantages against a straightforward loop, per-task thresholds, human frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.label import compute_labels


def reference_advantages(reward, value, episode, n_steps):
    """A_t = sum_{k<n} r[t+k] + V[t+n] - V[t], n = min(N, steps left), V past the end = 0: frame by frame."""
    out = np.zeros(len(reward))
    for t in range(len(reward)):
        end = t
        while end < len(reward) and episode[end] == episode[t]:
            end += 1
        n = end - t if n_steps is None else min(n_steps, end - t)
        total = sum(reward[t + k] for k in range(n))
        bootstrap = value[t + n] if t + n < end else 0.0
        out[t] = total + bootstrap - value[t]
    return out


@st.composite
def random_dataset(draw):
    n_episodes = draw(st.integers(1, 8))
    lengths = draw(st.lists(st.integers(1, 30), min_size=n_episodes, max_size=n_episodes))
    # Non-contiguous, unordered episode ids, as after a merge or a filtered episode list.
    ids = draw(st.lists(st.integers(0, 1000), min_size=n_episodes, max_size=n_episodes, unique=True))
    tasks = draw(st.lists(st.integers(0, 2), min_size=n_episodes, max_size=n_episodes))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    episode = np.repeat(ids, lengths)
    task = np.repeat(tasks, lengths)
    reward = rng.uniform(-0.05, 0.0, size=episode.size)
    value = rng.uniform(-1.0, 0.0, size=episode.size)
    human = (rng.random(episode.size) < 0.3).astype(np.int64)
    return episode, task, reward, value, human


@settings(max_examples=60, deadline=None)
@given(data=random_dataset(), n_steps=st.one_of(st.none(), st.integers(1, 40)))
def test_n_step_advantages_match_reference_loop(data, n_steps):
    episode, _, reward, value, _ = data
    bounds = recap_math.episode_bounds(episode)
    fast = recap_math.n_step_advantages(reward, value, bounds, n_steps)
    np.testing.assert_allclose(fast, reference_advantages(reward, value, episode, n_steps), atol=1e-12)


def test_advantage_at_episode_end_bootstraps_zero():
    # Two episodes of 3 frames; N=2. The last frame of each episode sees only its own reward and V past the end = 0.
    episode = np.array([7, 7, 7, 2, 2, 2])
    reward = np.array([-0.1, -0.1, -0.5, -0.1, -0.1, 0.0])
    value = np.array([-0.9, -0.6, -0.3, -0.4, -0.1, 0.0])
    adv = recap_math.n_step_advantages(reward, value, recap_math.episode_bounds(episode), 2)
    # t=0: r0+r1 + V2 - V0; t=1: r1+r2 (end reached, V past it = 0) - V1; t=2: r2 - V2.
    np.testing.assert_allclose(adv[:3], [-0.2 - 0.3 + 0.9, -0.6 + 0.6, -0.5 + 0.3], atol=1e-12)
    np.testing.assert_allclose(adv[3:], [-0.2 + 0.0 + 0.4, -0.1 + 0.1, 0.0], atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(data=random_dataset(), fraction=st.sampled_from([0.1, 0.3, 0.5, 0.7]))
def test_per_task_thresholds_hit_the_requested_rate(data, fraction):
    episode, task, reward, value, human = data
    frames = {"episode_index": episode, "task_index": task, C.INTERVENTION: human, C.REWARD_LABEL: reward}
    advantage, indicator, thresholds = compute_labels(frames, value, None, 10, fraction, human_positive=True)
    autonomous = human == 0
    for t in np.unique(task):
        ranked = autonomous & (task == t)
        if not ranked.any():
            assert int(t) not in thresholds
            continue
        rate = float((indicator[ranked] == C.ADV_POSITIVE).mean())
        n = int(ranked.sum())
        # Ties and the quantile's interpolation move the rate by at most one frame (plus ties) from the target.
        ties = int((advantage[ranked] == thresholds[int(t)]).sum())
        assert abs(rate - fraction) <= (1 + ties) / n + 1e-9
    # Human frames: always positive.
    assert np.all(indicator[human > 0] == C.ADV_POSITIVE)
    # Autonomous frames: positive exactly where the advantage reaches the task's threshold.
    for i in np.flatnonzero(autonomous):
        expected = C.ADV_POSITIVE if advantage[i] >= thresholds[int(task[i])] else C.ADV_NEGATIVE
        assert indicator[i] == expected


def test_per_task_rate_on_a_large_two_task_set():
    rng = np.random.default_rng(1)
    episode = np.repeat(np.arange(200), 50)
    task = np.repeat(rng.integers(0, 2, 200), 50)
    value = rng.uniform(-1, 0, episode.size)
    # Task 1's advantages sit far higher: a global threshold would make it almost all positive.
    reward = np.where(task == 1, 0.5, -0.01)
    frames = {"episode_index": episode, "task_index": task, C.INTERVENTION: np.zeros_like(episode), C.REWARD_LABEL: reward}
    _, indicator, thresholds = compute_labels(frames, value, None, 50, 0.3, True)
    assert thresholds[1] > thresholds[0]
    for t in (0, 1):
        assert abs((indicator[task == t] == C.ADV_POSITIVE).mean() - 0.3) < 0.002


def test_human_frames_not_forced_when_disabled():
    episode = np.repeat([0, 1], 20)
    task = np.zeros(40, dtype=np.int64)
    human = np.r_[np.ones(20), np.zeros(20)].astype(np.int64)
    value = np.zeros(40)
    reward = np.r_[np.full(20, -0.5), np.zeros(20)]  # human frames have the worst advantages
    frames = {"episode_index": episode, "task_index": task, C.INTERVENTION: human, C.REWARD_LABEL: reward}
    _, forced, _ = compute_labels(frames, value, None, 5, 0.3, human_positive=True)
    _, free, _ = compute_labels(frames, value, None, 5, 0.3, human_positive=False)
    assert np.all(forced[:20] == C.ADV_POSITIVE)
    assert np.all(free[:20] == C.ADV_NEGATIVE)


def test_threshold_only_equals_full_relabel_with_same_values():
    rng = np.random.default_rng(3)
    episode = np.repeat(np.arange(10), rng.integers(3, 40, 10))
    task = episode % 3
    frames = {
        "episode_index": episode,
        "task_index": task,
        C.INTERVENTION: (rng.random(episode.size) < 0.2).astype(np.int64),
        C.REWARD_LABEL: rng.uniform(-0.02, 0, episode.size),
    }
    value = rng.uniform(-1, 0, episode.size)
    advantage, full, thresholds = compute_labels(frames, value, None, 50, 0.3, True)
    stored = advantage.astype(np.float32).astype(np.float64)  # what the dataset column holds
    _, relabeled, thresholds_again = compute_labels(frames, value, stored, None, 0.3, True)
    np.testing.assert_array_equal(relabeled, full)
    assert thresholds.keys() == thresholds_again.keys()


def test_bad_positive_fraction_raises():
    frames = {"episode_index": np.zeros(3), "task_index": np.zeros(3), C.INTERVENTION: np.zeros(3), C.REWARD_LABEL: np.zeros(3)}
    with pytest.raises(ValueError, match="positive_fraction"):
        compute_labels(frames, np.zeros(3), None, 5, 1.5, True)
