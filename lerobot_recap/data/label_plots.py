"""PNG plots of the labels of RECAP stage 5 (``lerobot-recap-label``; matplotlib, headless).

* ``advantage_histogram.png``: the advantage distribution per task with its threshold.
* ``value_vs_progress.png``: V against normalized progress t/(T-1), success and failure episodes apart.
* ``episode_positive_rate.png``: the fraction of positive frames in each episode, coloured by outcome.
* ``episode_curves.png``: for a few episodes, V, A (and its threshold), the indicator and the intervention spans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.metadata import RecapMetadata

OUTCOME_COLORS = {C.Outcome.SUCCESS: "tab:green", C.Outcome.FAILURE: "tab:red", C.Outcome.UNKNOWN: "tab:gray"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _outcome(recap_meta: RecapMetadata, episode: int) -> C.Outcome:
    info = recap_meta.episodes.get(int(episode))
    return info.outcome if info is not None else C.Outcome.UNKNOWN


def _task_name(recap_meta: RecapMetadata, task: int) -> str:
    constants = recap_meta.tasks.get(int(task))
    return constants.task if constants is not None else f"task {task}"


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return list(zip(change[::2].tolist(), change[1::2].tolist(), strict=True))


def episodes_to_draw(
    starts: np.ndarray, ends: np.ndarray, ids: np.ndarray, human: np.ndarray, recap_meta: RecapMetadata, limit: int
) -> list[int]:
    """Positions of the episodes worth drawing, taken in turn from each kind, the policy's own episodes first.

    Kinds: corrected (human and policy frames), autonomous failure, autonomous success, all-human (demonstration).
    Demonstrations come first in most datasets, so drawing the first few would show nothing a value model has to
    judge; one of each kind in turn shows where the labels matter.
    """
    kinds: dict[str, list[int]] = {"corrected": [], "failure": [], "success": [], "human": []}
    for pos, (start, end) in enumerate(zip(starts, ends, strict=True)):
        share = float(human[int(start) : int(end)].mean()) if end > start else 0.0
        if share >= 1.0:
            kinds["human"].append(pos)
        elif share > 0.0:
            kinds["corrected"].append(pos)
        elif _outcome(recap_meta, int(ids[pos])) == C.Outcome.FAILURE:
            kinds["failure"].append(pos)
        else:
            kinds["success"].append(pos)
    chosen: list[int] = []
    queues = [list(positions) for positions in kinds.values()]
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen


def write_label_plots(
    plots_dir: Path,
    frames: dict[str, np.ndarray],
    values: np.ndarray,
    advantage: np.ndarray,
    indicator: np.ndarray,
    thresholds: dict[int, float],
    recap_meta: RecapMetadata,
    max_episodes: int = 6,
) -> list[Path]:
    """Write the four plots into ``plots_dir``; returns their paths."""
    plt = _pyplot()
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    bounds = recap_math.episode_bounds(frames["episode_index"])
    task_index = frames["task_index"]
    human = frames[C.INTERVENTION] > 0
    written = []

    # 1. Advantage histogram per task, with the threshold.
    tasks = sorted(int(t) for t in np.unique(task_index))
    fig, axes = plt.subplots(len(tasks), 1, figsize=(7, 2.6 * len(tasks)), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        in_task = task_index == task
        ax.hist(advantage[in_task & ~human], bins=50, alpha=0.7, label="autonomous")
        if (in_task & human).any():
            ax.hist(advantage[in_task & human], bins=50, alpha=0.5, label="human")
        if task in thresholds:
            ax.axvline(thresholds[task], color="k", linestyle="--", label=f"threshold {thresholds[task]:.4f}")
        ax.set_title(_task_name(recap_meta, task), fontsize=9)
        ax.set_xlabel("advantage")
        ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(_save(fig, plots_dir / "advantage_histogram.png", plt))

    # 2. Value vs normalized progress, success vs failure.
    fig, ax = plt.subplots(figsize=(7, 4))
    seen = set()
    for ep, start, end in zip(bounds.ids, bounds.starts, bounds.ends, strict=True):
        outcome = _outcome(recap_meta, ep)
        progress = np.linspace(0.0, 1.0, end - start) if end - start > 1 else np.zeros(1)
        label = outcome.value if outcome not in seen else None
        seen.add(outcome)
        ax.plot(progress, values[start:end], color=OUTCOME_COLORS[outcome], alpha=0.5, linewidth=1, label=label)
    ax.set_xlabel("normalized progress t / (T-1)")
    ax.set_ylabel("V")
    ax.set_ylim(-1.02, 0.02)
    ax.legend(fontsize=8)
    written.append(_save(fig, plots_dir / "value_vs_progress.png", plt))

    # 3. Per-episode positive rate.
    fig, ax = plt.subplots(figsize=(max(6, 0.15 * len(bounds.ids)), 3.5))
    rates = [float((indicator[s:e] == C.ADV_POSITIVE).mean()) for s, e in zip(bounds.starts, bounds.ends, strict=True)]
    colors = [OUTCOME_COLORS[_outcome(recap_meta, ep)] for ep in bounds.ids]
    ax.bar(np.arange(len(rates)), rates, color=colors)
    ax.set_xticks(np.arange(len(rates)), [str(int(ep)) for ep in bounds.ids], fontsize=6, rotation=90)
    ax.set_xlabel("episode")
    ax.set_ylabel("positive fraction")
    ax.set_ylim(0, 1)
    written.append(_save(fig, plots_dir / "episode_positive_rate.png", plt))

    # 4. Per-episode curves: V, A, the indicator and intervention spans.
    shown = episodes_to_draw(bounds.starts, bounds.ends, bounds.ids, human, recap_meta, max_episodes)
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.4 * max(len(shown), 1)), squeeze=False)
    for ax, pos in zip(axes[:, 0], shown, strict=True):
        start, end = int(bounds.starts[pos]), int(bounds.ends[pos])
        t = np.arange(end - start)
        for span_start, span_end in _spans(human[start:end]):
            ax.axvspan(span_start - 0.5, span_end - 0.5, color="gold", alpha=0.3, linewidth=0)
        ax.plot(t, values[start:end], label="V", color="tab:blue")
        ax.plot(t, advantage[start:end], label="A", color="tab:purple")
        task = int(task_index[start])
        if task in thresholds:
            ax.axhline(thresholds[task], color="tab:purple", linestyle=":", linewidth=1)
        ax.step(t, 0.1 * indicator[start:end], where="mid", color="k", linewidth=1, label="indicator x0.1")
        episode = int(bounds.ids[pos])
        ax.set_title(f"episode {episode} ({_outcome(recap_meta, episode).value}); shaded: human (correction)", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    written.append(_save(fig, plots_dir / "episode_curves.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
