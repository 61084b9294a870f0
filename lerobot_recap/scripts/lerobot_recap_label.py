"""lerobot-recap-label: RECAP stage 5 — relabel ``adv_ind`` from a trained ``recap_value`` model.

Runs the value model over every frame of an annotated dataset (batched; DataLoader workers decode video in
parallel; ``accelerate launch`` shards the frames across processes/GPUs), computes the N-step advantages

    A_t = sum_{k<n} reward_label[t+k] + V(o_{t+n}) - V(o_t),   n = min(N, steps left),   V past the end = 0

(N = 50 by default; ``--monte_carlo=true`` for the full return), thresholds them per task at a quantile (the top
30% of autonomous frames positive by default), forces human frames positive (configurable), and writes ``adv_ind``
plus the continuous ``advantage`` and ``value`` columns into a NEW dataset root (atomic, videos linked, source
untouched), with the provenance of the labels in ``meta/recap.json``. ``--threshold_only=true`` relabels from the
stored ``advantage`` column without running the model.

    lerobot-recap-label --root=data/round1_recap --value_path=outputs/value/checkpoints/last/pretrained_model \\
        --output_root=data/round1_labeled
    accelerate launch --multi_gpu --num_processes=4 -m lerobot_recap.scripts.lerobot_recap_label --root=... --value_path=...
    lerobot-recap-label --root=data/round1_labeled --threshold_only=true --positive_fraction=0.4 \\
        --output_root=data/round1_labeled_40
"""


import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import (
    DatasetError,
    check_output_root,
    read_frame_columns,
    read_info,
    resolve_dataset_root,
    write_dataset_copy,
)
from lerobot_recap.data.metadata import load_recap_metadata

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
        if not self.threshold_only and not self.value_path:
            raise DatasetError("no value model given: pass --value_path=<recap_value checkpoint> (or --threshold_only=true)")


@dataclass
class InferenceStats:
    """How the value-model pass went."""

    frames: int = 0
    seconds: float = 0.0
    data_wait_seconds: float = 0.0
    processes: int = 1

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def data_wait_fraction(self) -> float:
        return self.data_wait_seconds / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class LabelSummary:
    """What the label run wrote, for the console, callers and benchmarks."""

    output_root: Path | None
    provenance: dict[str, Any]
    thresholds: dict[int, float]
    positive_rate: float
    inference: InferenceStats | None = None
    plots: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoint resolution
# ----------------------------------------------------------------------------------------------------------------


def resolve_value_checkpoint(value_path: str) -> Path:
    """A local ``pretrained_model`` directory for a checkpoint dir, a training output dir or a Hub id."""
    path = Path(value_path).expanduser()
    if path.is_dir():
        for candidate in (path, path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"):
            if (candidate / "config.json").exists():
                return candidate
        raise DatasetError(
            f"{path} holds no value checkpoint (config.json): pass a pretrained_model directory or a lerobot-train "
            "output directory"
        )
    if path.exists() or value_path.startswith((".", "/", "~")):
        raise DatasetError(f"value checkpoint {value_path} does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=value_path, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as err:  # noqa: BLE001  (offline, missing repo, ...): report what was asked
        raise DatasetError(f"cannot fetch the value checkpoint {value_path!r} from the Hub: {err}") from err


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_value_config(checkpoint: Path):
    from lerobot.configs.policies import PreTrainedConfig

    import lerobot_recap  # noqa: F401  (registers recap_value)
    from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

    try:
        config = PreTrainedConfig.from_pretrained(checkpoint)
    except Exception as err:  # noqa: BLE001
        raise DatasetError(f"{checkpoint} is not a loadable policy checkpoint: {err}") from err
    if not isinstance(config, RecapValueConfig):
        raise DatasetError(f"{checkpoint} is a {config.type!r} checkpoint, not a recap_value model")
    return config


def check_value_model_fits(config, recap_meta, info: dict[str, Any]) -> None:
    """The dataset must follow the checkpoint's convention and constants and have its cameras."""
    from lerobot_recap.policies.recap_value.modeling_recap_value import check_and_record_contract

    try:
        check_and_record_contract(config, recap_meta, record=False)
    except ValueError as err:
        raise DatasetError(str(err)) from err
    cameras = sorted(k for k, ft in info["features"].items() if ft["dtype"] in ("image", "video"))
    missing = [key for key in config.camera_keys if key not in cameras]
    if missing:
        raise DatasetError(
            f"the value model reads the camera(s) {missing} that the dataset lacks (it has {cameras}): label a "
            "dataset recorded with the same cameras, or train a value model on these"
        )
    unseen = [c.task for c in recap_meta.tasks.values() if c.task not in config.task_norm_length]
    if unseen:
        logger.warning("the value model never trained on the task(s) %s: their values are extrapolated", unseen)


# ----------------------------------------------------------------------------------------------------------------
# The value-model pass
# ----------------------------------------------------------------------------------------------------------------


def predict_values(cfg: LabelConfig, checkpoint: Path, config, root: Path, repo_id: str) -> tuple[dict[str, np.ndarray] | None, InferenceStats]:
    """V for every frame: ``{"index", "value"}`` on the main process (None on the others), and timing stats."""
    import torch
    from accelerate import Accelerator
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    from lerobot_recap.policies.recap_value.modeling_recap_value import RecapValuePolicy
    from lerobot_recap.policies.recap_value.processor_recap_value import make_recap_value_pre_post_processors

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    accelerator = Accelerator(cpu=device == "cpu")
    if device.startswith("cuda"):
        device = str(accelerator.device)  # this process's GPU under accelerate launch
    config.device = device
    config.pretrained_path = checkpoint
    policy = RecapValuePolicy.from_pretrained(checkpoint, config=config)
    policy.eval()
    preprocessor, _ = make_recap_value_pre_post_processors(config)

    dataset = LeRobotDataset(repo_id, root=root, video_backend=cfg.video_backend)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=False,
        num_workers=cfg.num_workers,
        pin_memory=device.startswith("cuda"),
        persistent_workers=False,
    )
    if accelerator.num_processes > 1:
        loader = accelerator.prepare_data_loader(loader, device_placement=False)

    indices, values = [], []
    stats = InferenceStats(processes=accelerator.num_processes)
    start = time.perf_counter()
    wait_start = start
    with torch.inference_mode():
        for batch in tqdm(loader, desc="value model", disable=not (cfg.progress and accelerator.is_main_process)):
            stats.data_wait_seconds += time.perf_counter() - wait_start
            index = batch["index"].reshape(-1)
            value = policy.predict_value(preprocessor(batch)).float()
            if accelerator.num_processes > 1:
                index, value = accelerator.gather_for_metrics((index.to(accelerator.device), value.to(accelerator.device)))
            indices.append(index.cpu().numpy())
            values.append(value.cpu().numpy())
            wait_start = time.perf_counter()
    stats.seconds = time.perf_counter() - start
    stats.frames = int(sum(v.size for v in values))
    if not accelerator.is_main_process:
        return None, stats
    return {"index": np.concatenate(indices), "value": np.concatenate(values)}, stats


def align_to_dataset_order(frame_index: np.ndarray, predicted: dict[str, np.ndarray]) -> np.ndarray:
    """Values in dataset order from (index, value) pairs in any order; raises if a frame got no value."""
    size = int(max(frame_index.max(), predicted["index"].max())) + 1
    dense = np.full(size, np.nan, dtype=np.float64)
    dense[predicted["index"].astype(np.int64)] = predicted["value"]
    values = dense[frame_index.astype(np.int64)]
    if np.isnan(values).any():
        raise RuntimeError(f"{int(np.isnan(values).sum())} frames got no value from the model pass")
    return values


# ----------------------------------------------------------------------------------------------------------------
# Labeling
# ----------------------------------------------------------------------------------------------------------------


def compute_labels(
    frames: dict[str, np.ndarray],
    values: np.ndarray | None,
    advantage: np.ndarray | None,
    n_steps: int | None,
    positive_fraction: float,
    human_positive: bool,
) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """(advantage, adv_ind, per-task thresholds); the advantage is computed from ``values`` unless given."""
    bounds = recap_math.episode_bounds(frames["episode_index"])
    if advantage is None:
        advantage = recap_math.n_step_advantages(frames[C.REWARD_LABEL], values, bounds, n_steps)
    # Threshold the values exactly as the float32 column stores them, so a --threshold_only rerun reproduces them.
    advantage = np.asarray(advantage, dtype=np.float32).astype(np.float64)
    human = frames[C.INTERVENTION].reshape(-1) > 0
    candidates = ~human if human_positive else np.ones_like(human)
    thresholds = recap_math.task_thresholds(advantage, frames["task_index"], candidates, positive_fraction)
    indicator = recap_math.indicator_from_advantages(
        advantage, frames["task_index"], frames[C.INTERVENTION], thresholds, human_positive
    )
    return advantage, indicator, thresholds


def positive_rates(indicator: np.ndarray, task_index: np.ndarray, human: np.ndarray) -> dict[str, Any]:
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


def label_dataset(cfg: LabelConfig) -> LabelSummary:
    """Run stage 5 as configured; returns what was written (on non-main accelerate processes: nothing written)."""
    root = resolve_dataset_root(cfg.repo_id, cfg.root)
    info = read_info(root)
    output_root = Path(cfg.output_root) if cfg.output_root else root.parent / f"{root.name}_labeled"
    try:
        output_root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(f"cannot create the output's parent {output_root.parent} ({err}): choose a writable --output_root") from err
    check_output_root(root, output_root, cfg.overwrite)  # fail before the long model pass

    missing = [name for name in C.RECAP_COLUMNS if name not in info["features"]]
    if missing:
        raise DatasetError(f"the dataset at {root} lacks the RECAP columns {missing}: run lerobot-recap-annotate on it first")
    recap_meta = load_recap_metadata(root)
    try:
        recap_meta.check_convention()
    except ValueError as err:
        raise DatasetError(str(err)) from err

    names = ["index", "episode_index", "task_index", C.INTERVENTION, C.REWARD_LABEL, C.VALUE_LABEL]
    if cfg.threshold_only:
        absent = [name for name in C.LABEL_COLUMNS if name not in info["features"]]
        if absent:
            raise DatasetError(
                f"--threshold_only relabels from stored advantages, but the dataset at {root} has no {absent} "
                "columns: run lerobot-recap-label with --value_path on it first"
            )
        names += list(C.LABEL_COLUMNS)
    frames = {k: v.reshape(v.shape[0], -1)[:, 0] if v.ndim > 1 else v for k, v in read_frame_columns(root, names).items()}
    n_steps = None if cfg.monte_carlo else cfg.n_steps
    previous = recap_meta.labels or {}

    inference = None
    metrics: dict[str, Any] = {}
    if cfg.threshold_only:
        values = frames[C.VALUE].astype(np.float64)
        advantage = frames[C.ADVANTAGE].astype(np.float64)
        value_model = previous.get("value_model", {})
        n_steps_used = previous.get("n_steps")
    else:
        checkpoint = resolve_value_checkpoint(cfg.value_path)
        config = load_value_config(checkpoint)
        check_value_model_fits(config, recap_meta, info)
        repo_id = info.get("repo_id") or cfg.repo_id or f"local/{root.name}"
        predicted, inference = predict_values(cfg, checkpoint, config, root, repo_id)
        if predicted is None:  # a non-main accelerate process: the main one writes
            return LabelSummary(output_root=None, provenance={}, thresholds={}, positive_rate=float("nan"), inference=inference)
        values = align_to_dataset_order(frames["index"], predicted)
        advantage = None
        weights = checkpoint / "model.safetensors"
        value_model = {
            "path": str(cfg.value_path),
            "resolved": str(checkpoint),
            "sha256": file_sha256(weights) if weights.exists() else None,
            "convention_version": config.convention_version,
            "held_out_episodes": list(config.val_episodes or []),
        }
        n_steps_used = n_steps
        metrics = value_model_metrics(frames, values, recap_meta, config.val_episodes or [])

    advantage, indicator, thresholds = compute_labels(
        frames, values, advantage, n_steps_used if cfg.threshold_only else n_steps, cfg.positive_fraction, cfg.human_positive
    )
    human = frames[C.INTERVENTION] > 0
    rates = positive_rates(indicator, frames["task_index"], human)
    provenance = {
        "time": datetime.now(timezone.utc).isoformat(),
        "value_model": value_model,
        "n_steps": n_steps_used,
        "monte_carlo": n_steps_used is None,
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
    recap_meta.add_history("label", value_model=value_model.get("sha256"), n_steps=n_steps_used, positive_fraction=cfg.positive_fraction)

    output_repo_id = cfg.output_repo_id or f"{info.get('repo_id') or cfg.repo_id or root.name}_labeled"
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
    )
    plots: list[Path] = []
    if cfg.plots:
        from lerobot_recap.scripts.label_plots import write_label_plots

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


def value_model_metrics(frames: dict[str, np.ndarray], values: np.ndarray, recap_meta, held_out: list[int]) -> dict[str, Any]:
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


@parser.wrap()
def label(cfg: LabelConfig) -> None:
    summary = label_dataset(cfg)
    if summary.output_root is None:
        return
    logging.info("labeled -> %s", summary.output_root)
    for task, threshold in summary.thresholds.items():
        rate = summary.provenance["positive_rates"]["per_task"][str(task)]
        logging.info("task %d: threshold %.5f, positive %.1f%% (autonomous %s)", task, threshold, 100 * rate["all"], rate["autonomous"])
    logging.info("positive overall %.1f%% | counts %s", 100 * summary.positive_rate, summary.provenance["counts"])
    for split, metrics in summary.provenance["value_metrics"].items():
        logging.info("value model on %s frames: %s", split, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    if summary.inference is not None:
        logging.info(
            "value model: %d frames in %.1fs (%.1f frames/s, %.0f%% waiting for data, %d process(es))",
            summary.inference.frames,
            summary.inference.seconds,
            summary.inference.frames_per_second,
            100 * summary.inference.data_wait_fraction,
            summary.inference.processes,
        )
    for path in summary.plots:
        logging.info("plot: %s", path)


def main() -> None:
    init_logging()
    try:
        label()
    except Exception as err:
        # draccus wraps errors raised while building the config (LabelConfig.__post_init__) in a ParsingError.
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, DatasetError):
            cause = cause.__cause__
        if cause is None:
            raise
        logging.error("lerobot-recap-label: %s", cause)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
