"""The RECAP math: rewards, normalized returns, N-step advantages and per-task thresholds.

Every function works on flat per-frame arrays in dataset order plus an ``episode_index`` array, fully
vectorized (no Python loop over frames), so that a million-frame dataset labels in well under a second.
Frames of one episode must be contiguous; that is how LeRobot v3.0 stores them.

Convention ``recap-v1`` (all constants are per task and recorded in ``meta/recap.json``):

* ``L``: the normalization length, by default the task's longest episode (in frames).
* ``C_fail = c_fail_coef * L``: the failure penalty in steps (``c_fail_coef`` defaults to 1).
* ``D = L + C_fail``: the normalizer that keeps every return in [-1, 0].

For an episode of ``T`` frames (``T <= L``), frame ``t`` in ``0..T-1``:

* ``reward[t] = 1`` if ``t = T-1`` and the episode succeeded, else ``0`` (sparse task reward).
* ``reward_label[t] = -1/D`` for ``t < T-1``; on the last frame ``0`` on success and ``-C_fail/D`` on failure.
* ``value_label[t] = sum_{k=t}^{T-1} reward_label[k]``, i.e. ``-(T-1-t)/D`` on success and
  ``-(T-1-t+C_fail)/D`` on failure.

So successful episodes end at exactly 0 and live in ``[-(L-1)/D, 0]`` (``[-0.5, 0]`` with the defaults), and
failed ones live in ``[-1, -C_fail/D]`` (``[-1, -0.5]``): the two never overlap, and both stay in [-1, 0].

Advantages (stage 5), with ``V`` the value model's prediction and ``e`` the end of the frame's episode:

* ``n = min(N, e - t)`` (Monte-Carlo: ``n = e - t``).
* ``A[t] = sum_{k<n} reward_label[t+k] + V[t+n] - V[t]``, with ``V`` past the episode's end equal to 0.

The indicator is positive where ``A`` reaches the task's threshold, the ``1 - positive_fraction`` quantile of
``A`` over that task's autonomous frames; human frames are positive by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lerobot_recap.data.contract import ADV_NEGATIVE, ADV_NONE, ADV_POSITIVE


@dataclass(frozen=True)
class EpisodeBounds:
    """Contiguous episode segments of a flat frame array: frames ``starts[i]:ends[i]`` form episode ``ids[i]``."""

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def frame_episode_position(self) -> np.ndarray:
        """For every frame, the position (0..n_episodes-1) of its episode in ``ids``."""
        return np.repeat(np.arange(len(self.ids)), self.lengths)


def episode_bounds(episode_index: np.ndarray) -> EpisodeBounds:
    """Find the contiguous episode segments of ``episode_index`` (raises if an episode is split in two)."""
    episode_index = np.asarray(episode_index).reshape(-1)
    if episode_index.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return EpisodeBounds(empty, empty, empty)
    change = np.flatnonzero(episode_index[1:] != episode_index[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    ends = np.concatenate([change, [episode_index.size]]).astype(np.int64)
    ids = episode_index[starts]
    if np.unique(ids).size != ids.size:
        raise ValueError("episode_index is not contiguous: an episode's frames are split across the dataset")
    return EpisodeBounds(ids=ids, starts=starts, ends=ends)


def normalizer(length: np.ndarray | float, c_fail_coef: np.ndarray | float) -> np.ndarray:
    """``D = L + C_fail = L * (1 + c_fail_coef)``: the return normalizer of a task."""
    return np.asarray(length, dtype=np.float64) * (1.0 + np.asarray(c_fail_coef, dtype=np.float64))


def reverse_cumsum(values: np.ndarray, bounds: EpisodeBounds) -> np.ndarray:
    """``out[t] = sum_{k=t}^{e-1} values[k]`` within each episode (``e`` the episode's end), in float64."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    suffix = np.cumsum(values[::-1])[::-1]  # suffix[t] = sum_{k>=t} values[k] over the whole array
    # Subtract what lies beyond each episode's end: suffix at the end index (0 past the array's end).
    suffix_padded = np.concatenate([suffix, [0.0]])
    beyond_end = np.repeat(suffix_padded[bounds.ends], bounds.lengths)
    return suffix - beyond_end


@dataclass(frozen=True)
class EpisodeRewards:
    """Per-frame ``reward``, ``reward_label`` and ``value_label`` for a whole dataset (float64)."""

    reward: np.ndarray
    reward_label: np.ndarray
    value_label: np.ndarray


def compute_rewards(
    bounds: EpisodeBounds,
    success: np.ndarray,
    norm_length: np.ndarray,
    c_fail_coef: np.ndarray,
) -> EpisodeRewards:
    """Compute the reward columns of convention ``recap-v1`` (see the module docstring).

    Args:
        bounds: the episode segments of the dataset.
        success: per episode (aligned with ``bounds.ids``), True for success, False for failure.
        norm_length: per episode, the normalization length ``L`` of its task (must be >= its length).
        c_fail_coef: per episode, ``C_fail / L`` of its task.
    """
    lengths = bounds.lengths
    success = np.asarray(success, dtype=bool)
    norm_length = np.asarray(norm_length, dtype=np.float64)
    c_fail_coef = np.asarray(c_fail_coef, dtype=np.float64)
    too_long = lengths > norm_length
    if np.any(too_long):
        bad = bounds.ids[too_long].tolist()
        raise ValueError(
            f"episodes {bad[:10]} are longer than their task's normalization length L; "
            "raise L (or leave it at its default, the task's longest episode)"
        )
    d = normalizer(norm_length, c_fail_coef)
    n_frames = int(lengths.sum())
    per_frame_d = np.repeat(d, lengths)
    reward_label = -1.0 / per_frame_d
    last = bounds.ends - 1
    reward_label[last] = np.where(success, 0.0, -(c_fail_coef * norm_length) / d)
    reward = np.zeros(n_frames, dtype=np.float64)
    reward[last] = success.astype(np.float64)
    value_label = reverse_cumsum(reward_label, bounds)
    # Float round-off must not push a label out of [-1, 0]; successful episodes end at exactly 0.
    value_label = np.clip(value_label, -1.0, 0.0)
    value_label[last[success]] = 0.0
    return EpisodeRewards(reward=reward, reward_label=reward_label, value_label=value_label)


def stage1_indicator(intervention: np.ndarray) -> np.ndarray:
    """Stage-1 ``adv_ind``: positive on human frames, none on autonomous ones."""
    intervention = np.asarray(intervention).reshape(-1)
    return np.where(intervention > 0, ADV_POSITIVE, ADV_NONE).astype(np.int64)


def n_step_advantages(
    reward_label: np.ndarray,
    value: np.ndarray,
    bounds: EpisodeBounds,
    n_steps: int | None = 50,
) -> np.ndarray:
    """``A[t] = sum_{k<n} r[t+k] + V[t+n] - V[t]``, ``n = min(N, e - t)``, ``V`` past the episode end = 0.

    ``n_steps=None`` gives the Monte-Carlo advantage (``n = e - t``: the return-to-go minus ``V[t]``).
    """
    r = np.asarray(reward_label, dtype=np.float64).reshape(-1)
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if r.shape != v.shape:
        raise ValueError(f"reward_label and value differ in length: {r.shape} vs {v.shape}")
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be >= 1 (or None for Monte-Carlo), got {n_steps}")
    t = np.arange(r.size)
    episode_end = np.repeat(bounds.ends, bounds.lengths)
    horizon = episode_end if n_steps is None else np.minimum(t + n_steps, episode_end)
    prefix = np.concatenate([[0.0], np.cumsum(r)])
    reward_sum = prefix[horizon] - prefix[t]
    v_padded = np.concatenate([v, [0.0]])
    bootstrap = np.where(horizon < episode_end, v_padded[np.minimum(horizon, r.size)], 0.0)
    return reward_sum + bootstrap - v


def task_thresholds(
    advantage: np.ndarray,
    task_index: np.ndarray,
    candidates: np.ndarray,
    positive_fraction: float = 0.3,
) -> dict[int, float]:
    """Per task, the ``1 - positive_fraction`` quantile of the advantage over its candidate frames.

    Candidates are the frames the threshold ranks (the autonomous ones, by default). A task with no candidate
    frame gets no threshold.
    """
    if not 0.0 < positive_fraction < 1.0:
        raise ValueError(f"positive_fraction must lie in (0, 1), got {positive_fraction}")
    advantage = np.asarray(advantage, dtype=np.float64).reshape(-1)
    task_index = np.asarray(task_index).reshape(-1)
    candidates = np.asarray(candidates, dtype=bool).reshape(-1)
    thresholds = {}
    for task in np.unique(task_index[candidates]):
        selected = advantage[candidates & (task_index == task)]
        thresholds[int(task)] = float(np.quantile(selected, 1.0 - positive_fraction))
    return thresholds


def indicator_from_advantages(
    advantage: np.ndarray,
    task_index: np.ndarray,
    intervention: np.ndarray,
    thresholds: dict[int, float],
    human_positive: bool = True,
) -> np.ndarray:
    """``adv_ind``: positive where ``A >= threshold[task]``, negative below; human frames positive if asked.

    A frame whose task has no threshold (no autonomous frame to rank) gets ``none`` unless forced positive.
    """
    advantage = np.asarray(advantage, dtype=np.float64).reshape(-1)
    task_index = np.asarray(task_index).reshape(-1)
    human = np.asarray(intervention).reshape(-1) > 0
    indicator = np.full(advantage.size, ADV_NONE, dtype=np.int64)
    for task, threshold in thresholds.items():
        in_task = task_index == task
        indicator[in_task] = np.where(advantage[in_task] >= threshold, ADV_POSITIVE, ADV_NEGATIVE)
    if human_positive:
        indicator[human] = ADV_POSITIVE
    return indicator
