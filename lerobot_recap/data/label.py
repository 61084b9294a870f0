"""Stage 5: relabel the improvement indicator ``adv_ind`` of an annotated dataset from a value model.

``label_dataset`` gets V(o_t) for every frame (from a ``recap_value`` checkpoint through
:mod:`lerobot_recap.policies.recap_value.inference_recap_value`, or, with ``threshold_only``, from the ``value`` and
``advantage`` columns of an earlier run), computes the N-step advantages

    A_t = sum_{k<n} reward_label[t+k] + V(o_{t+n}) - V(o_t),   n = min(N, steps left),   V past the end = 0

(N = 50 by default; ``monte_carlo`` for the full return), thresholds them per task at the ``1 - positive_fraction``
quantile of the task's autonomous frames, forces human frames positive (configurable), and writes ``adv_ind`` plus
the continuous ``advantage`` and ``value`` columns into a new dataset root with
:func:`lerobot_recap.data.dataset_io.write_dataset_copy` (atomic, videos linked, source untouched, statistics of
the three columns in ``stats.json`` and ``meta/episodes``). The provenance of the labels (value model, N,
quantile, per-task thresholds, counts, value-model metrics) goes to ``meta/recap.json``; PNG plots go beside the
output. The CLI wrapper lives in ``lerobot_recap/scripts/lerobot_recap_label.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import (
    DatasetError,
    check_output_root,
    dataset_repo_id,
    read_frame_columns,
    read_info,
    resolve_dataset_root,
    write_dataset_copy,
)
from lerobot_recap.data.metadata import RecapMetadata, load_recap_metadata

if TYPE_CHECKING:
    from lerobot_recap.policies.recap_value.inference_recap_value import InferenceStats

logger = logging.getLogger(__name__)


@dataclass
class LabelConfig:
    """lerobot-recap-label: relabel the improvement indicator of an annotated dataset from a value model."""

    repo_id: str | None = None
    """Source dataset repo id (read from the local LeRobot cache unless --root is given)."""
    root: Path | None = None
    """Source dataset root - annotated by lerobot-recap-annotate (never modified)."""
    value_path: str | None = None
    """recap_value checkpoint - a pretrained_model dir, a lerobot-train output dir (its last checkpoint), or a Hub id."""
    output_root: Path | None = None
    """Root of the labeled copy (default  the source root with a `_labeled` suffix)."""
    output_repo_id: str | None = None
    """Repo id recorded in the copy (default  the source's with a `_labeled` suffix)."""
    n_steps: int = 50
    """N of the N-step advantage (frames of lookahead)."""
    monte_carlo: bool = False
    """Use the Monte-Carlo advantage (return-to-go minus V) instead of N steps."""
    positive_fraction: float = 0.3
    """Per task, the fraction of ranked frames labeled positive (the threshold is the 1 - fraction quantile)."""
    human_positive: bool = True
    """Force human frames (intervention=1) positive; they are then left out of the threshold's ranking."""
    threshold_only: bool = False
    """Relabel from the stored `advantage` column (no model run); needs a dataset labeled before."""
    batch_size: int = 32
    """Frames per value-model batch (per process)."""
    num_workers: int = 2
    """DataLoader workers decoding frames in parallel."""
    device: str | None = None
    """Device of the value model (default  cuda if available, else cpu; accelerate picks it per process)."""
    video_backend: str | None = None
    """LeRobot video backend (`pyav` where torchcodec lacks FFmpeg)."""
    plots: bool = True
    """Write PNG plots of the labels."""
    plots_dir: Path | None = None
    """Where the plots go (default  `<output_root>_plots` beside the output)."""
    max_plot_episodes: int = 6
    """Episodes drawn in the per-episode curve plot."""
    overwrite: bool = False
    """Replace an existing output root."""
    link_videos: bool = True
    """Hard-link videos into the copy (false - copy). Videos are never re-encoded."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        if not 0.0 < self.positive_fraction < 1.0:
            raise DatasetError(f"--positive_fraction must lie in (0, 1), got {self.positive_fraction}")
        if self.n_steps < 1:
            raise DatasetError(f"--n_steps must be >= 1, got {self.n_steps} (use --monte_carlo=true for the full return)")
        if self.batch_size < 1:
            raise DatasetError(f"--batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise DatasetError(f"--num_workers must be >= 0 (0 decodes in the main process), got {self.num_workers}")
        if self.max_plot_episodes < 1:
            raise DatasetError(f"--max_plot_episodes must be >= 1, got {self.max_plot_episodes} (--plots=false skips the plots)")
        if not self.threshold_only and not self.value_path:
            raise DatasetError("no value model given: pass --value_path=<recap_value checkpoint> (or --threshold_only=true)")


@dataclass
class LabelSummary:
    """What the label run wrote, for the console, callers and benchmarks."""

    output_root: Path | None
    provenance: dict[str, Any]
    thresholds: dict[int, float]
    positive_rate: float
    inference: InferenceStats | None = None
    plots: list[Path] = field(default_factory=list)


FRAME_COLUMNS = ("index", "episode_index", "task_index", C.INTERVENTION, C.REWARD_LABEL, C.VALUE_LABEL)
"""The per-frame columns labeling reads (plus ``advantage`` and ``value`` with ``threshold_only``)."""


def compute_labels(
    frames: dict[str, np.ndarray],
    values: np.ndarray | None,
    advantage: np.ndarray | None,
    n_steps: int | None,
    positive_fraction: float,
    human_positive: bool,
) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """(advantage, adv_ind, per-task thresholds); the advantage is computed from ``values`` unless given.

    ``frames`` holds the flat ``episode_index``, ``task_index``, ``intervention`` and ``reward_label`` columns in
    dataset order; ``n_steps=None`` is the Monte-Carlo advantage.
    """
    bounds = recap_math.episode_bounds(frames["episode_index"])
    if advantage is None:
        advantage = recap_math.n_step_advantages(frames[C.REWARD_LABEL], values, bounds, n_steps)
    # Threshold the values exactly as the float32 column stores them, so a threshold_only rerun reproduces them.
    advantage = np.asarray(advantage, dtype=np.float32).astype(np.float64)
    human = frames[C.INTERVENTION].reshape(-1) > 0
    candidates = ~human if human_positive else np.ones_like(human)
    thresholds = recap_math.task_thresholds(advantage, frames["task_index"], candidates, positive_fraction)
    indicator = recap_math.indicator_from_advantages(
        advantage, frames["task_index"], frames[C.INTERVENTION], thresholds, human_positive
    )
    return advantage, indicator, thresholds


def positive_rates(indicator: np.ndarray, task_index: np.ndarray, human: np.ndarray) -> dict[str, Any]:
    """The fraction of positive frames: overall, among autonomous and human frames, and per task."""
    positive = indicator == C.ADV_POSITIVE
    rates: dict[str, Any] = {
        "all": float(positive.mean()) if positive.size else float("nan"),
        "autonomous": float(positive[~human].mean()) if (~human).any() else None,
        "human": float(positive[human].mean()) if human.any() else None,
        "per_task": {},
    }
    for task in np.unique(task_index):
        in_task = task_index == task
        auto = in_task & ~human
        rates["per_task"][str(int(task))] = {
            "all": float(positive[in_task].mean()),
            "autonomous": float(positive[auto].mean()) if auto.any() else None,
            "frames": int(in_task.sum()),
        }
    return rates


def value_model_metrics(
    frames: dict[str, np.ndarray], values: np.ndarray, recap_meta: RecapMetadata, held_out: list[int]
) -> dict[str, Any]:
    """MAE/Spearman/separation of V against ``value_label`` on all frames and on the held-out episodes."""
    from lerobot_recap.policies.recap_value.modeling_recap_value import value_metrics

    success = {ep for ep, e in recap_meta.episodes.items() if e.outcome == C.Outcome.SUCCESS}
    failure = {ep for ep, e in recap_meta.episodes.items() if e.outcome == C.Outcome.FAILURE}
    episode = frames["episode_index"]
    result = {"all": value_metrics(values, frames[C.VALUE_LABEL], episode, success, failure)}
    mask = np.isin(episode, held_out)
    if mask.any():
        result["held_out"] = value_metrics(values[mask], frames[C.VALUE_LABEL][mask], episode[mask], success, failure)
    return result


def _flat(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Shape-(n, 1) columns as shape (n,)."""
    return {k: v.reshape(v.shape[0], -1)[:, 0] if v.ndim > 1 else v for k, v in columns.items()}


def label_dataset(cfg: LabelConfig) -> LabelSummary:
    """Run stage 5 as configured; returns what was written (on non-main processes of a launcher: nothing written)."""
    root = resolve_dataset_root(cfg.repo_id, cfg.root)
    info = read_info(root)
    output_root = Path(cfg.output_root) if cfg.output_root else root.parent / f"{root.name}_labeled"
    try:
        output_root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(f"cannot create the output's parent {output_root.parent} ({err}): choose a writable --output_root") from err
    check_output_root(root, output_root, cfg.overwrite)  # fail before the long model pass

    missing = [name for name in C.RECAP_COLUMNS if name not in info.features]
    if missing:
        raise DatasetError(f"the dataset at {root} lacks the RECAP columns {missing}: run lerobot-recap-annotate on it first")
    recap_meta = load_recap_metadata(root)
    try:
        recap_meta.check_convention()
    except ValueError as err:
        raise DatasetError(str(err)) from err

    names = list(FRAME_COLUMNS)
    if cfg.threshold_only:
        absent = [name for name in C.LABEL_COLUMNS if name not in info.features]
        if absent:
            raise DatasetError(
                f"--threshold_only relabels from stored advantages, but the dataset at {root} has no {absent} "
                "columns: run lerobot-recap-label with --value_path on it first"
            )
        names += list(C.LABEL_COLUMNS)
    frames = _flat(read_frame_columns(root, names))
    n_steps = None if cfg.monte_carlo else cfg.n_steps
    previous = recap_meta.labels or {}

    inference = None
    metrics: dict[str, Any] = {}
    if cfg.threshold_only:
        values = frames[C.VALUE].astype(np.float64)
        advantage = frames[C.ADVANTAGE].astype(np.float64)
        value_model = previous.get("value_model", {})
        n_steps = previous.get("n_steps")
    else:
        from lerobot_recap.policies.recap_value import inference_recap_value as inference_lib

        checkpoint = inference_lib.resolve_value_checkpoint(cfg.value_path)
        config = inference_lib.load_value_config(checkpoint)
        inference_lib.check_value_model_fits(config, recap_meta, info)
        predicted, inference = inference_lib.predict_values(
            checkpoint,
            config,
            root,
            dataset_repo_id(root) or cfg.repo_id or f"local/{root.name}",
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            device=cfg.device,
            video_backend=cfg.video_backend,
            progress=cfg.progress,
        )
        if predicted is None:  # a non-main process of a launcher: the main one writes
            return LabelSummary(output_root=None, provenance={}, thresholds={}, positive_rate=float("nan"), inference=inference)
        values = inference_lib.align_to_dataset_order(frames["index"], predicted)
        advantage = None
        value_model = inference_lib.value_model_provenance(cfg.value_path, checkpoint, config)
        metrics = value_model_metrics(frames, values, recap_meta, config.val_episodes or [])

    advantage, indicator, thresholds = compute_labels(
        frames, values, advantage, n_steps, cfg.positive_fraction, cfg.human_positive
    )
    human = frames[C.INTERVENTION] > 0
    rates = positive_rates(indicator, frames["task_index"], human)
    provenance = {
        "time": datetime.now(timezone.utc).isoformat(),
        "value_model": value_model,
        "n_steps": n_steps,
        "monte_carlo": n_steps is None,
        "positive_fraction": cfg.positive_fraction,
        "quantile": 1.0 - cfg.positive_fraction,
        "human_positive": cfg.human_positive,
        "thresholds": {str(k): v for k, v in thresholds.items()},
        "positive_rates": rates,
        "counts": {
            "frames": int(indicator.size),
            "positive": int((indicator == C.ADV_POSITIVE).sum()),
            "negative": int((indicator == C.ADV_NEGATIVE).sum()),
            "none": int((indicator == C.ADV_NONE).sum()),
        },
        "value_metrics": metrics,
        "threshold_only": cfg.threshold_only,
        "source_root": str(root),
    }
    recap_meta.labels = provenance
    recap_meta.add_history("label", value_model=value_model.get("sha256"), n_steps=n_steps, positive_fraction=cfg.positive_fraction)

    output_repo_id = cfg.output_repo_id or f"{dataset_repo_id(root) or cfg.repo_id or root.name}_labeled"
    write_dataset_copy(
        root,
        output_root,
        set_columns={
            C.ADV_IND: (indicator.astype(np.int64), C.RECAP_FEATURES[C.ADV_IND]),
            C.ADVANTAGE: (advantage.astype(np.float32), C.LABEL_FEATURES[C.ADVANTAGE]),
            C.VALUE: (values.astype(np.float32), C.LABEL_FEATURES[C.VALUE]),
        },
        metadata=recap_meta,
        overwrite=cfg.overwrite,
        link_videos=cfg.link_videos,
        progress=cfg.progress,
        repo_id=output_repo_id,
        episode_index=frames["episode_index"],
    )
    plots: list[Path] = []
    if cfg.plots:
        from lerobot_recap.data.label_plots import write_label_plots

        plots_dir = Path(cfg.plots_dir) if cfg.plots_dir else output_root.parent / f"{output_root.name}_plots"
        plots = write_label_plots(
            plots_dir, frames, values, advantage, indicator, thresholds, recap_meta, cfg.max_plot_episodes
        )
    return LabelSummary(
        output_root=output_root,
        provenance=provenance,
        thresholds=thresholds,
        positive_rate=rates["all"],
        inference=inference,
        plots=plots,
    )
