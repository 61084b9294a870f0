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
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import (
    TMP_MARKER,
    DatasetError,
    check_integer,
    check_number,
    check_output_root,
    dataset_repo_id,
    read_frame_columns,
    read_info,
    remove_stale_temp_dirs,
    require_finite,
    resolve_dataset_root,
    write_dataset_copy,
)
from lerobot_recap.data.metadata import RecapMetadata
from lerobot_recap.data.validate import validate_recap_annotation

if TYPE_CHECKING:
    from lerobot_recap.policies.recap_value.inference_recap_value import InferenceStats

logger = logging.getLogger(__name__)


MAX_N_STEPS = 10**9
"""N beyond a billion frames is a typo (``--monte_carlo=true`` is the full return) and overflows index arithmetic."""
MAX_BATCH_SIZE = 65536
"""Larger batches are a typo that would only show as an out-of-memory crash minutes into the model pass."""
MAX_NUM_WORKERS = 256
"""More DataLoader workers than this only add processes and memory."""
MAX_PLOT_EPISODES = 100
"""Each drawn episode is a row of ``episode_curves.png``; beyond 100 rows the figure is unreadable and huge."""


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
    """Device of the value model (default  cuda if available, else cpu; accelerate picks it per process). cuda on a machine without a GPU falls back to cpu with a warning."""
    video_backend: str | None = None
    """LeRobot video backend (`pyav` where torchcodec lacks FFmpeg)."""
    plots: bool = True
    """Write PNG plots of the labels."""
    plots_dir: Path | None = None
    """Where the plots go (default  `<output_root>_plots` beside the output)."""
    max_plot_episodes: int = 6
    """Episodes drawn in the per-episode curve plot."""
    overwrite: bool = False
    """Replace an existing output root, if lerobot-recap wrote it (an earlier annotate or label output) or it is empty."""
    link_videos: bool = True
    """Hard-link videos into the copy (false - copy). Videos are never re-encoded."""
    progress: bool = True
    """Show progress bars."""
    rabc_progress: bool = True
    """Also write V as per-frame progress (1 + V) to sarm_progress.parquet, what LeRobot's RA-BC reads by default."""

    def __post_init__(self) -> None:
        # Finite first: `nan` fails every comparison, so a bare range test would let it through.
        check_number("--positive_fraction", self.positive_fraction)
        if not 0.0 < self.positive_fraction < 1.0:
            raise DatasetError(f"--positive_fraction must lie in (0, 1), got {self.positive_fraction}")
        check_integer("--n_steps", self.n_steps, 1, MAX_N_STEPS, hint="use --monte_carlo=true for the full return")
        check_integer("--batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        check_integer("--num_workers", self.num_workers, 0, MAX_NUM_WORKERS, hint="0 decodes in the main process")
        check_integer("--max_plot_episodes", self.max_plot_episodes, 1, MAX_PLOT_EPISODES, hint="--plots=false skips the plots")
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


RABC_PROGRESS_FILE = "sarm_progress.parquet"
"""Where LeRobot's RA-BC weighter looks for per-frame progress when --sample_weighting.progress_path is not given."""


def write_rabc_progress(path: Path, frames: dict[str, np.ndarray], values: np.ndarray) -> None:
    """V as task progress in LeRobot's RA-BC format: ``index``, ``episode_index``, ``frame_index``, ``progress_*``.

    V is the normalized return-to-go in [-1, 0], so 1 + V rises towards 1 as a successful episode nears its end
    and RA-BC's chunk delta ``progress[t + H] - progress[t]`` is V's change over the chunk (both heads get it).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    episode = frames["episode_index"].astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(episode)) + 1]
    frame_index = np.arange(episode.size) - np.repeat(starts, np.diff(np.r_[starts, episode.size]))
    progress = (1.0 + values).astype(np.float32)
    table = pa.table(
        {
            "index": frames["index"].astype(np.int64),
            "episode_index": episode,
            "frame_index": frame_index.astype(np.int64),
            "progress_sparse": progress,
            "progress_dense": progress,
        }
    )
    pq.write_table(table, path)


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


def resolve_device(requested: str | None) -> str | None:
    """The device for the value model: ``requested``, or the CPU (with a warning) when it asks for an absent GPU.

    ``--device=cuda`` on a machine without one would otherwise fail deep inside accelerate with a traceback. Falling
    back is the friendlier of the two answers: the labels are the same, only slower, and the warning says so. A
    device string torch does not know, or a GPU index past the last one, is refused.
    """
    if requested is None:
        return None
    import torch

    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError) as err:
        raise DatasetError(f"--device={requested} is not a device torch knows: use cpu, cuda, cuda:<index> or mps") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            logger.warning(
                "--device=%s: no CUDA GPU is available here, so the value model runs on the CPU instead (slower, same "
                "labels); pass --device=cpu to silence this warning", requested,
            )
            return "cpu"
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DatasetError(f"--device={requested}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 and up")
    if device.type == "mps" and not torch.backends.mps.is_available():
        logger.warning("--device=%s: MPS is not available here, so the value model runs on the CPU instead", requested)
        return "cpu"
    return requested


def _check_inputs(frames: dict[str, np.ndarray], threshold_only: bool) -> None:
    """Refuse NaN/inf in the columns the labels are computed from, naming the episodes and the fix."""
    episodes = frames["episode_index"]
    for name in (C.REWARD_LABEL, C.VALUE_LABEL):
        require_finite(name, frames[name], episodes, hint="re-run lerobot-recap-annotate on the recording")
    if threshold_only:
        for name in C.LABEL_COLUMNS:
            require_finite(name, frames[name], episodes, hint="label the dataset again with --value_path")


def _check_plots_dir(plots_dir: Path) -> None:
    """Refuse a plots folder that cannot be written (checked before the model pass)."""
    if plots_dir.exists() and not plots_dir.is_dir():
        raise DatasetError(f"--plots_dir {plots_dir} is a file: choose a folder, or --plots=false")
    try:
        plots_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(f"cannot create the plots' folder {plots_dir.parent} ({err.strerror or err}): choose another --plots_dir") from err
    if not os.access(plots_dir.parent, os.W_OK) or (plots_dir.is_dir() and not os.access(plots_dir, os.W_OK)):
        raise DatasetError(f"cannot write the plots to {plots_dir}: choose another --plots_dir, or --plots=false")


def _stage_plots(
    plots_dir: Path,
    frames: dict[str, np.ndarray],
    values: np.ndarray,
    advantage: np.ndarray,
    indicator: np.ndarray,
    thresholds: dict[int, float],
    recap_meta: RecapMetadata,
    cfg: LabelConfig,
) -> Path:
    """Draw the plots into a hidden temp folder beside ``plots_dir`` (removed by the next run if this one is killed)."""
    from lerobot_recap.data.label_plots import write_label_plots

    remove_stale_temp_dirs(plots_dir)
    staged = plots_dir.parent / f".{plots_dir.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write_label_plots(staged, frames, values, advantage, indicator, thresholds, recap_meta, cfg.max_plot_episodes)
    except BaseException as err:
        shutil.rmtree(staged, ignore_errors=True)
        if isinstance(err, (OSError, ValueError)):  # a full disk, an unwritable folder, a figure matplotlib refuses
            raise DatasetError(f"drawing the label plots failed ({err}); nothing was written: rerun, or pass --plots=false") from err
        raise
    return staged


def _publish_plots(staged: Path, plots_dir: Path) -> list[Path]:
    """Move the drawn plots into ``plots_dir``: the whole folder if it is new, else file by file.

    An existing folder may hold other files (a ``--plots_dir`` the user keeps things in): only the plots of this run
    replace their namesakes there; nothing else is touched.
    """
    if not plots_dir.exists():
        os.rename(staged, plots_dir)
        return sorted(plots_dir.glob("*.png"))
    published = []
    for plot in sorted(staged.glob("*.png")):
        os.replace(plot, plots_dir / plot.name)
        published.append(plots_dir / plot.name)
    return published


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
    plots_dir = Path(cfg.plots_dir) if cfg.plots_dir else output_root.parent / f"{output_root.name}_plots"
    if cfg.plots:
        _check_plots_dir(plots_dir)  # likewise: an unwritable plots folder is found before the model pass
    device = None if cfg.threshold_only else resolve_device(cfg.device)

    # The same check as the pistar export: columns, convention, constants per task, episode records.
    recap_meta = validate_recap_annotation(root, info)

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
    _check_inputs(frames, cfg.threshold_only)
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
            device=device,
            video_backend=cfg.video_backend,
            progress=cfg.progress,
        )
        if predicted is None:  # a non-main process of a launcher: the main one writes
            return LabelSummary(output_root=None, provenance={}, thresholds={}, positive_rate=float("nan"), inference=inference)
        values = inference_lib.align_to_dataset_order(frames["index"], predicted)
        require_finite(
            "the value model's prediction V", values, frames["episode_index"],
            hint=f"the checkpoint {cfg.value_path} is broken (a diverged training run?): use an earlier checkpoint",
        )
        advantage = None
        value_model = inference_lib.value_model_provenance(cfg.value_path, checkpoint, config)
        metrics = value_model_metrics(frames, values, recap_meta, config.val_episodes or [])

    advantage, indicator, thresholds = compute_labels(
        frames, values, advantage, n_steps, cfg.positive_fraction, cfg.human_positive
    )
    # The inputs were checked finite, so these hold only if the arithmetic is right; checked all the same before
    # anything is written, since a NaN threshold would silently label every frame of its task negative.
    require_finite(C.ADVANTAGE, advantage, frames["episode_index"])
    bad_thresholds = {task: t for task, t in thresholds.items() if not np.isfinite(t)}
    if bad_thresholds:
        raise DatasetError(f"the advantage thresholds of tasks {sorted(bad_thresholds)} are NaN/inf; nothing was written")
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
    # The plots are drawn first, into a temp folder beside plots_dir, and published only once the dataset is in place:
    # a plotting failure (a full disk, a matplotlib error) then stops the run with nothing written, rather than
    # leaving a labeled dataset with no plots or half of them beside it. The cost is the model pass of that run; the
    # plots take seconds and their folder was checked writable before the model pass.
    staged = _stage_plots(plots_dir, frames, values, advantage, indicator, thresholds, recap_meta, cfg) if cfg.plots else None
    try:
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
            extra_files={RABC_PROGRESS_FILE: lambda path: write_rabc_progress(path, frames, values)}
            if cfg.rabc_progress
            else None,
        )
        plots = _publish_plots(staged, plots_dir) if staged is not None else []
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return LabelSummary(
        output_root=output_root,
        provenance=provenance,
        thresholds=thresholds,
        positive_rate=rates["all"],
        inference=inference,
        plots=plots,
    )
