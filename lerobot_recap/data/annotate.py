"""Stage 1: write the five RECAP columns into a copy of a LeRobot v3.0 dataset.

``annotate_dataset`` resolves, for every episode, its outcome and per-frame intervention flags, computes the
columns with :mod:`lerobot_recap.data.recap_math` and writes them with
:func:`lerobot_recap.data.dataset_io.write_dataset_copy` (new root, atomic, videos linked). The CLI wrapper lives in
``lerobot_recap/scripts/lerobot_recap_annotate.py``.

Accepted recordings: ``recap_dagger`` inside ``lerobot-record`` (outcomes in ``meta/recap.json``, the flag as a
column or a named state/action dimension), pistar/limb datasets (outcome from ``reward`` on the last frame), and
LeRobot 0.6's ``lerobot-rollout --strategy.type=dagger``: a top-level boolean ``intervention`` column, True on
correction frames, and no success/failure signal at all, so its outcomes come from ``--outcomes=<file>``.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import (
    DatasetError,
    check_integer,
    check_number,
    dataset_repo_id,
    read_frame_columns,
    read_info,
    read_parquet,
    require_finite,
    resolve_dataset_root,
    write_dataset_copy,
)
from lerobot_recap.data.metadata import EpisodeInfo, RecapMetadata, TaskConstants, load_recap_metadata

if TYPE_CHECKING:
    from lerobot.datasets.utils import DatasetInfo

logger = logging.getLogger(__name__)

UNKNOWN_OUTCOME_CHOICES = ("error", "success", "failure")
MAX_C_FAIL_COEF = 1000.0
"""C_fail beyond 1000 L: the per-step costs of a failed episode fall below float32's resolution next to -1."""
MAX_NORM_LENGTH = 10**9
"""L beyond a billion frames (a year at 30 fps) is a typo, and would overflow the integer arithmetic."""
INTERVENTION_DIM_NAMES = ("intervention", "recap.intervention", "recap_intervention", "is_intervention")


@dataclass
class AnnotateConfig:
    """lerobot-recap-annotate: write the five RECAP columns into a new copy of a LeRobot v3.0 dataset."""

    repo_id: str | None = None
    """Source dataset repo id; read from the local LeRobot cache unless --root is given."""
    root: Path | None = None
    """Source dataset root directory (never modified)."""
    output_root: Path | None = None
    """Root of the annotated copy; defaults to the source root with a `_recap` suffix."""
    output_repo_id: str | None = None
    """Repo id recorded in the copy; defaults to the source repo id with a `_recap` suffix."""
    outcomes: Path | None = None
    """Outcomes file, a JSON object mapping "<episode_index>" to "success"|"failure" or a CSV with columns episode_index,outcome; overrides recorded ones."""
    all_success: bool = False
    """Mark every episode successful (a demonstration set)."""
    unknown_outcome: str = "error"
    """Episodes with no outcome get `error` (list them and stop), `success` or `failure`. Never silently a failure."""
    intervention: str = "auto"
    """Intervention source: auto, all_human, all_autonomous, column:<name>, observation.state:<dim>, action:<dim>."""
    norm_length: int | None = None
    """Normalization length L for every task, in frames; defaults to each task's longest episode."""
    c_fail_coef: float = 1.0
    """Failure penalty C_fail as a multiple of L (the convention's default is 1)."""
    overwrite: bool = False
    """Replace an existing output root, if lerobot-recap wrote it (an earlier annotate or label output) or it is empty."""
    link_videos: bool = True
    """Hard-link video files into the copy (false copies them). Videos are never re-encoded."""

    def __post_init__(self) -> None:
        if self.unknown_outcome not in UNKNOWN_OUTCOME_CHOICES:
            raise DatasetError(f"--unknown_outcome must be one of {UNKNOWN_OUTCOME_CHOICES}, got {self.unknown_outcome!r}")
        # `nan` and `inf` parse as floats and pass a plain `<= 0` test; they would reach value_label, stats.json and
        # recap.json. Above MAX_C_FAIL_COEF the step costs of a failed episode vanish in float32 next to the penalty.
        check_number("--c_fail_coef", self.c_fail_coef, low=0.0, high=MAX_C_FAIL_COEF, low_open=True)
        if self.norm_length is not None:
            check_integer("--norm_length", self.norm_length, low=1, high=MAX_NORM_LENGTH)


@dataclass
class AnnotationSummary:
    """What annotate wrote, for the console and for callers."""

    output_root: Path
    n_frames: int
    outcomes: dict[str, int]
    sources: dict[str, int]
    human_fraction: float
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)


def read_outcome_file(path: Path) -> dict[int, C.Outcome]:
    """Outcomes from a JSON object or a CSV with columns ``episode_index,outcome``.

    A CSV saved by Excel is read as written: a UTF-8 byte-order mark, CRLF line ends, padded cells and blank rows.
    An episode listed twice must say the same thing both times; two different outcomes for one episode are refused
    (the later silently winning would turn a failure into a success, or back).
    """
    if not path.exists():
        raise DatasetError(f"outcome file {path} does not exist")
    pairs: list[tuple[str, Any]]
    if path.suffix.lower() == ".csv":
        pairs = _outcome_csv_rows(path)
    else:
        try:
            # object_pairs_hook keeps every key: a plain dict would drop all but the last of a repeated episode.
            raw = json.loads(path.read_text(encoding="utf-8-sig"), object_pairs_hook=lambda items: items)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{path} is not valid JSON: {err}") from err
        if not isinstance(raw, list) or not all(isinstance(item, tuple) for item in raw):
            raise DatasetError(f"{path} must hold a JSON object mapping episode index to outcome")
        pairs = raw
    outcomes: dict[int, C.Outcome] = {}
    for episode, outcome in pairs:
        index = _episode_number(path, episode)
        try:
            parsed = C.Outcome(str(outcome).strip().lower())
        except ValueError as err:
            raise DatasetError(f"{path}: episode {episode!r} has outcome {outcome!r}; use success or failure") from err
        if index in outcomes and outcomes[index] != parsed:
            raise DatasetError(
                f"{path} gives episode {index} two different outcomes, {outcomes[index].value} and {parsed.value}: "
                "keep the right one"
            )
        outcomes[index] = parsed
    return outcomes


def _outcome_csv_rows(path: Path) -> list[tuple[str, str]]:
    """The (episode_index, outcome) cells of an outcomes CSV, in file order, blank rows skipped."""
    try:
        # utf-8-sig drops Excel's byte-order mark, which would otherwise glue itself to the first column's name;
        # newline="" lets the csv module handle CRLF line ends.
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = [row for row in reader if any((cell or "").strip() for cell in row.values() if isinstance(cell, str))]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"{path} is not a readable UTF-8 CSV ({err}): save it as CSV UTF-8") from err
    if not {"episode_index", "outcome"} <= set(header):
        raise DatasetError(f"{path} must have the columns episode_index,outcome (it has {header})")
    return [(row["episode_index"] or "", row["outcome"] or "") for row in rows]


def _episode_number(path: Path, episode: Any) -> int:
    """An episode index from a JSON key or a CSV cell: ``3``, `` 3 `` and Excel's ``3.0`` are episode 3."""
    text = str(episode).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer():  # NaN and inf are not integers either
        raise DatasetError(f"{path}: {episode!r} is not an episode index (a whole number)")
    return int(number)


def _pistar_outcomes(frames: dict[str, np.ndarray], bounds: recap_math.EpisodeBounds) -> dict[int, C.Outcome]:
    """Outcomes of a pistar/limb-annotated dataset: success iff ``reward`` is 1 on the episode's last frame."""
    last_reward = frames[C.REWARD][bounds.ends - 1]
    return {int(ep): C.Outcome.SUCCESS if r >= 0.5 else C.Outcome.FAILURE for ep, r in zip(bounds.ids, last_reward, strict=True)}


def is_rollout_dagger_recording(features: dict[str, Any]) -> bool:
    """Whether the features are those of a ``lerobot-rollout --strategy.type=dagger`` recording (a bool flag column)."""
    feature = features.get(C.INTERVENTION)
    return feature is not None and feature.get("dtype") == "bool"


def resolve_outcomes(
    cfg: AnnotateConfig,
    episode_ids: np.ndarray,
    recorded: RecapMetadata,
    pistar: dict[int, C.Outcome] | None,
    missing_hint: str = "",
) -> dict[int, C.Outcome]:
    """Per-episode outcome, from (highest first) the outcome file, --all_success, recorded metadata, pistar columns.

    ``missing_hint`` is added to the error raised for episodes left without an outcome (why the recording has none).
    """
    outcomes: dict[int, C.Outcome] = {}
    for ep in map(int, episode_ids):
        info = recorded.episodes.get(ep)
        if info is not None and info.outcome != C.Outcome.UNKNOWN:
            outcomes[ep] = info.outcome
        elif pistar is not None:
            outcomes[ep] = pistar[ep]
    if cfg.all_success:
        outcomes = {int(ep): C.Outcome.SUCCESS for ep in episode_ids}
    if cfg.outcomes is not None:
        from_file = read_outcome_file(cfg.outcomes)
        extra = sorted(set(from_file) - set(map(int, episode_ids)))
        if extra:
            raise DatasetError(f"{cfg.outcomes} names episodes {extra[:10]} that the dataset does not have")
        outcomes.update(from_file)
    unknown = [int(ep) for ep in episode_ids if outcomes.get(int(ep), C.Outcome.UNKNOWN) == C.Outcome.UNKNOWN]
    if unknown:
        if cfg.unknown_outcome == "error":
            raise DatasetError(
                f"{len(unknown)} episode(s) have no outcome: {unknown[:20]}{' ...' if len(unknown) > 20 else ''}. "
                f"{missing_hint}Give them with --outcomes=<file.json|csv>, --all_success=true for a demo set, or say "
                "explicitly --unknown_outcome=success|failure"
            )
        for ep in unknown:
            outcomes[ep] = C.Outcome(cfg.unknown_outcome)
    return outcomes


@dataclass
class InterventionSource:
    """Where the per-frame intervention flag comes from, and which vector dimension to strip afterwards."""

    kind: str  # all_human | all_autonomous | column | dim
    column: str | None = None
    dim: int | None = None


def resolve_intervention_source(spec: str, features: dict[str, Any]) -> InterventionSource:
    """Parse ``--intervention`` against the dataset's features (``auto`` picks the first that exists)."""
    if spec in ("all_human", "all_autonomous"):
        return InterventionSource(kind=spec)
    if spec == "auto":
        if C.INTERVENTION in features:
            return InterventionSource(kind="column", column=C.INTERVENTION)
        for vector in ("observation.state", "action"):
            names = (features.get(vector) or {}).get("names") or []
            for name in INTERVENTION_DIM_NAMES:
                if name in names:
                    return InterventionSource(kind="dim", column=vector, dim=names.index(name))
        raise DatasetError(
            "no intervention flag found in the dataset (no `intervention` column, no intervention dimension in "
            "observation.state or action). Say where it is: --intervention=all_human for demonstrations, "
            "all_autonomous for pure policy rollouts, column:<name>, observation.state:<dim name> or action:<dim name>"
        )
    kind, sep, name = spec.partition(":")
    if not sep or not name:
        raise DatasetError(f"--intervention={spec!r} is not understood; see --help for the accepted forms")
    if kind == "column":
        if name not in features:
            raise DatasetError(f"--intervention names the column {name!r}, which the dataset lacks")
        return InterventionSource(kind="column", column=name)
    if kind in ("observation.state", "action"):
        names = (features.get(kind) or {}).get("names") or []
        if name not in names:
            raise DatasetError(f"--intervention names the dimension {name!r} of {kind}, which has only {names}")
        return InterventionSource(kind="dim", column=kind, dim=names.index(name))
    raise DatasetError(f"--intervention={spec!r}: the part before ':' must be column, observation.state or action")


FINITE_COLUMNS = ("observation.state", "action")
"""Float columns that must hold no NaN/inf; checked while the copy is written (see ``write_dataset_copy``)."""


def _check_frames(bounds: recap_math.EpisodeBounds, info: DatasetInfo) -> None:
    """Refuse empty episodes, naming the problem (NaN values are refused during the rewrite pass)."""
    if info.total_episodes > len(bounds.ids):
        raise DatasetError(
            f"the dataset declares {info.total_episodes} episodes but only {len(bounds.ids)} have frames: "
            "delete the empty episodes with `lerobot-edit-dataset --operation.type=delete_episodes`"
        )


def annotate_dataset(cfg: AnnotateConfig, progress: bool = True) -> AnnotationSummary:
    """Stage 1 on ``cfg``: resolve outcomes and interventions, compute the columns, write the annotated copy."""
    source_root = resolve_dataset_root(cfg.repo_id, cfg.root)
    info = read_info(source_root)
    features = info.features
    output_root = Path(cfg.output_root) if cfg.output_root else source_root.with_name(source_root.name + "_recap")
    intervention_source = resolve_intervention_source(cfg.intervention, features)

    # observation.state/action are not read here: the rewrite pass checks them for NaN (one read, not two).
    wanted = ["episode_index", "task_index"]
    has_pistar_columns = C.REWARD in features and C.ADV_IND in features
    if has_pistar_columns:
        wanted.append(C.REWARD)
    if intervention_source.column and intervention_source.column not in wanted:
        wanted.append(intervention_source.column)
    frames = read_frame_columns(source_root, wanted)
    bounds = recap_math.episode_bounds(frames["episode_index"])
    _check_frames(bounds, info)

    recorded = load_recap_metadata(source_root)
    pistar = _pistar_outcomes(frames, bounds) if has_pistar_columns else None
    hint = (
        "lerobot-rollout's DAgger strategy records no success/failure (a JSON object {\"0\": \"success\", ...} or "
        "a CSV episode_index,outcome holds them). "
        if is_rollout_dagger_recording(features) and not recorded.episodes
        else ""
    )
    outcomes = resolve_outcomes(cfg, bounds.ids, recorded, pistar, missing_hint=hint)

    n_frames = frames["episode_index"].shape[0]
    set_columns: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    if intervention_source.kind == "all_human":
        human = np.ones(n_frames, dtype=np.int64)
    elif intervention_source.kind == "all_autonomous":
        human = np.zeros(n_frames, dtype=np.int64)
    elif intervention_source.kind == "column":
        human = (frames[intervention_source.column].reshape(n_frames, -1)[:, 0] > 0.5).astype(np.int64)
    else:  # a dimension of observation.state or action: take it, then strip it out of the vector
        vector = frames[intervention_source.column]
        human = (vector[:, intervention_source.dim] > 0.5).astype(np.int64)
        # recap_dagger's recorder also writes phase/shadow-action dimensions named `recap.*`: strip them all.
        names = features[intervention_source.column]["names"]
        drop = sorted({intervention_source.dim} | {i for i, n in enumerate(names) if str(n).startswith("recap.")})
        stripped = np.delete(vector, drop, axis=1)
        feature = dict(features[intervention_source.column])
        feature["names"] = [n for i, n in enumerate(names) if i not in drop]
        feature["shape"] = [stripped.shape[1]]
        set_columns[intervention_source.column] = (stripped, feature)

    tasks = _task_constants(source_root, frames["task_index"][bounds.starts], bounds.lengths, cfg)
    episode_task = frames["task_index"][bounds.starts]
    success = np.array([outcomes[int(ep)] == C.Outcome.SUCCESS for ep in bounds.ids])
    rewards = recap_math.compute_rewards(
        bounds,
        success,
        norm_length=np.array([tasks[int(t)].norm_length for t in episode_task]),
        c_fail_coef=np.array([tasks[int(t)].c_fail / tasks[int(t)].norm_length for t in episode_task]),
    )
    set_columns[C.INTERVENTION] = (human, C.RECAP_FEATURES[C.INTERVENTION])
    set_columns[C.REWARD] = (rewards.reward.astype(np.float32), C.RECAP_FEATURES[C.REWARD])
    set_columns[C.REWARD_LABEL] = (rewards.reward_label.astype(np.float32), C.RECAP_FEATURES[C.REWARD_LABEL])
    set_columns[C.VALUE_LABEL] = (rewards.value_label.astype(np.float32), C.RECAP_FEATURES[C.VALUE_LABEL])
    set_columns[C.ADV_IND] = (recap_math.stage1_indicator(human), C.RECAP_FEATURES[C.ADV_IND])
    for name in (C.REWARD, C.REWARD_LABEL, C.VALUE_LABEL):  # before anything is written, not after training on it
        require_finite(name, set_columns[name][0], frames["episode_index"], hint="check --c_fail_coef and --norm_length")

    human_per_episode = np.add.reduceat(human, bounds.starts) if n_frames else np.zeros(0)
    metadata = RecapMetadata(
        convention_version=C.CONVENTION_VERSION,
        c_fail_coef=cfg.c_fail_coef,
        tasks=tasks,
        episodes={
            int(ep): EpisodeInfo(
                outcome=outcomes[int(ep)],
                source=C.source_from_intervention(int(h), int(n)),
            )
            for ep, h, n in zip(bounds.ids, human_per_episode, bounds.lengths, strict=True)
        },
        history=list(recorded.history),
    )
    metadata.add_history("annotate", source=str(source_root), intervention=cfg.intervention, c_fail_coef=cfg.c_fail_coef)
    # Stale labels of an earlier relabel no longer match the new columns; pistar's legacy `value_lable` would
    # shadow the new `value_label` in its readers.
    remove = [name for name in (*C.LABEL_COLUMNS, *C.PISTAR_COLUMN_ALIASES) if name in features]
    output_repo_id = cfg.output_repo_id or f"{cfg.repo_id or dataset_repo_id(source_root) or source_root.name}_recap"
    write_dataset_copy(
        source_root,
        output_root,
        set_columns=set_columns,
        remove_columns=remove,
        metadata=metadata,
        overwrite=cfg.overwrite,
        link_videos=cfg.link_videos,
        progress=progress,
        repo_id=output_repo_id,
        episode_index=frames["episode_index"],
        check_finite=[name for name in FINITE_COLUMNS if name in features],
    )
    return AnnotationSummary(
        output_root=output_root,
        n_frames=n_frames,
        outcomes=dict(Counter(o.value for o in outcomes.values())),
        sources=dict(Counter(e.source.value for e in metadata.episodes.values() if e.source)),
        human_fraction=float(human.mean()) if n_frames else 0.0,
        tasks={k: v.to_dict() for k, v in tasks.items()},
    )


def _task_constants(
    root: Path, episode_task: np.ndarray, lengths: np.ndarray, cfg: AnnotateConfig
) -> dict[int, TaskConstants]:
    """Per task: L (the longest episode, unless --norm_length) and C_fail = c_fail_coef * L."""
    tasks_table = read_parquet(root / "meta" / "tasks.parquet").to_pandas()
    names = {int(idx): str(task) for task, idx in zip(tasks_table.index, tasks_table["task_index"], strict=True)}
    constants = {}
    for task in np.unique(episode_task):
        longest = int(lengths[episode_task == task].max())
        norm_length = cfg.norm_length if cfg.norm_length is not None else longest
        if norm_length < longest:
            raise DatasetError(
                f"--norm_length={norm_length} is shorter than the longest episode ({longest} frames) of task "
                f"{names.get(int(task), task)!r}: raise it or leave it unset"
            )
        constants[int(task)] = TaskConstants(
            task=names.get(int(task), str(task)), norm_length=norm_length, c_fail=cfg.c_fail_coef * norm_length
        )
    return constants
