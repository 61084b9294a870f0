"""One check of a dataset's RECAP annotation, shared by every command that reads it (export, label).

An annotated dataset is its five columns *and* ``meta/recap.json``: the convention's version, the constants of
every task (``L``, ``C_fail``) and the outcome of every episode. The two must agree, or a consumer mixes
conventions without a word. The usual way they stop agreeing: two rounds annotated separately (their ``L`` and
``C_fail`` differ) merged with LeRobot's ``merge_datasets`` / ``lerobot-edit-dataset --operation.type=merge``, which
concatenates the columns and drops ``meta/recap.json``. Failure episodes then end at ``-C_fail/(L+C_fail)`` of
their own round (``-0.5`` in one, ``-0.667`` in the other) and nothing says which constants hold.

:func:`validate_recap_annotation` refuses such a dataset with one line naming the problem and the fix: annotate the
merged dataset once (``lerobot-recap-annotate`` reads the outcomes of annotated rounds from their ``reward`` column
and gives every episode one convention). It checks, in order:

* the five columns are there, ``adv_ind`` as this project's integer codes (not pistar's strings);
* the columns follow one set of constants per task (read back from ``reward_label``: the step cost ``-1/D`` and the
  failure penalty ``-C_fail/D`` of every episode), whatever ``meta/recap.json`` says;
* ``meta/recap.json`` exists, is readable and records the convention this version writes (``recap-v1``, a positive
  ``c_fail_coef``);
* every task of the data has constants, under the task's name, with ``L`` no shorter than its longest episode and
  ``C_fail = c_fail_coef * L``;
* every episode of the data has a record with a known outcome, and no record names an episode the data lacks;
* ``reward``, ``reward_label`` and ``value_label`` equal what the recorded constants and outcomes give.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import DatasetError, read_frame_columns, read_info, read_parquet
from lerobot_recap.data.metadata import RECAP_META_PATH, RecapMetadata

if TYPE_CHECKING:
    from lerobot.datasets.utils import DatasetInfo

REANNOTATE = (
    "run lerobot-recap-annotate once on this dataset (it reads the outcomes of annotated rounds from the reward "
    "column) and use its output"
)
"""The fix every refusal of a merged annotation names."""

MOVE_ASIDE = (
    f"move meta/recap.json aside (it does not describe these columns, and annotate would read its outcomes) and {REANNOTATE}"
)
"""The fix when ``meta/recap.json`` exists but belongs to other data (copied from a round, edited by hand)."""

VALUE_TOLERANCE = 1e-5
"""How far a stored (float32) reward column may lie from what the recorded constants give."""

_FRAME_COLUMNS = ("episode_index", "task_index", C.REWARD, C.REWARD_LABEL, C.VALUE_LABEL)


def validate_recap_annotation(root: str | Path, info: DatasetInfo | None = None) -> RecapMetadata:
    """Check that the dataset at ``root`` is annotated consistently and return its ``meta/recap.json``.

    Raises :class:`~lerobot_recap.data.dataset_io.DatasetError` with a one-line reason and the fix otherwise (see the
    module docstring for what is checked). ``info`` is the dataset's ``info.json`` if the caller has read it.
    Reads five scalar columns of every data file; writes nothing.
    """
    root = Path(root)
    info = info if info is not None else read_info(root)
    check_recap_columns(root, info)

    frames = {k: np.asarray(v).reshape(v.shape[0], -1)[:, 0] for k, v in read_frame_columns(root, _FRAME_COLUMNS).items()}
    try:
        bounds = recap_math.episode_bounds(frames["episode_index"])
    except ValueError as err:
        raise DatasetError(f"{root}: {err}: the data files are not a valid LeRobot v3.0 dataset") from err
    episode_task = frames["task_index"][bounds.starts].astype(np.int64)
    task_names = _task_names(root)
    has_metadata = (root / RECAP_META_PATH).exists()

    disagreement = _constants_disagreement(frames, bounds, episode_task, task_names)
    if disagreement is not None:
        if has_metadata:
            raise DatasetError(f"{root} mixes annotations: {disagreement}: {MOVE_ASIDE}")
        raise DatasetError(
            f"{root} mixes annotations and has no meta/recap.json (LeRobot's merge and edit tools do not carry it): "
            f"{disagreement}: {REANNOTATE}"
        )

    if not has_metadata:
        raise DatasetError(
            f"{root} has the RECAP columns but no {RECAP_META_PATH} (LeRobot's merge and edit tools do not carry it), "
            f"so the constants and outcomes its values follow are unknown: {REANNOTATE}"
        )
    metadata = _read_metadata(root / RECAP_META_PATH)
    try:
        metadata.check_convention()
    except ValueError as err:
        raise DatasetError(f"{root}: {err}") from err
    coef = metadata.c_fail_coef
    if not isinstance(coef, (int, float)) or not math.isfinite(coef) or coef <= 0:
        raise DatasetError(f"{root / RECAP_META_PATH} records c_fail_coef={coef!r}, not a positive number: {MOVE_ASIDE}")

    _check_tasks(root, metadata, bounds, episode_task, task_names)
    _check_episodes(root, metadata, bounds)
    _check_values(root, metadata, frames, bounds, episode_task, task_names)
    return metadata


def _read_metadata(path: Path) -> RecapMetadata:
    """``meta/recap.json``; a file that is not JSON, not an object or not of the expected shape is refused."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"a JSON {type(raw).__name__}, not an object")
        return RecapMetadata.from_dict(raw)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as err:  # JSONDecodeError is a ValueError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatasetError(f"{path} cannot be read ({reason}): restore it, or move it aside and {REANNOTATE}") from err


def check_recap_columns(root: Path, info: DatasetInfo) -> None:
    """Refuse a dataset that lacks one of the five columns or stores ``adv_ind`` as pistar's strings."""
    missing = [name for name in C.RECAP_COLUMNS if name not in info.features]
    if missing:
        raise DatasetError(f"{root} lacks the RECAP columns {missing}: run lerobot-recap-annotate on it first")
    dtype = info.features[C.ADV_IND]["dtype"]
    if dtype != C.RECAP_FEATURES[C.ADV_IND]["dtype"]:
        raise DatasetError(
            f"{root} stores adv_ind as {dtype!r} (a pistar/limb dataset, not one annotated by this project): run "
            "lerobot-recap-annotate on it first and use the annotated copy"
        )


def _task_names(root: Path) -> dict[int, str]:
    path = root / "meta" / "tasks.parquet"
    if not path.exists():
        return {}
    tasks = read_parquet(path).to_pandas()
    return {int(idx): str(task) for task, idx in zip(tasks.index, tasks["task_index"], strict=True)}


def _task_label(task: int, task_names: dict[int, str]) -> str:
    return repr(task_names[task]) if task in task_names else f"#{task}"


def _episode_list(episodes: list[int], limit: int = 6) -> str:
    shown = ", ".join(str(ep) for ep in episodes[:limit])
    return f"{shown}, ... ({len(episodes)} episodes)" if len(episodes) > limit else shown


def _constants_disagreement(
    frames: dict[str, np.ndarray], bounds: recap_math.EpisodeBounds, episode_task: np.ndarray, task_names: dict[int, str]
) -> str | None:
    """Whether the episodes of one task follow different constants, read back from their ``reward_label``.

    Every frame but the last costs ``-1/D`` (``D = L + C_fail``); a failure's last frame costs ``-C_fail/D``, so
    ``C_fail/L = r/(1-r)`` with ``r`` that cost. Two rounds annotated separately differ in one or the other (``L``
    is each round's longest episode by default). Returns a description of the first disagreement, or None.
    """
    reward_label = frames[C.REWARD_LABEL].astype(np.float64)
    reward = frames[C.REWARD].astype(np.float64)
    last = bounds.ends - 1
    step = reward_label[bounds.starts]
    normalizer = np.where((bounds.lengths > 1) & (step < 0), -1.0 / np.where(step < 0, step, -1.0), np.nan)
    failed = reward[last] < 0.5
    penalty = -reward_label[last]
    coef = np.where(failed & (penalty > 0) & (penalty < 1), penalty / np.where(penalty < 1, 1.0 - penalty, 1.0), np.nan)
    for task in np.unique(episode_task).tolist():
        in_task = episode_task == task
        for values, what in (
            (coef, "failure penalty C_fail/L"),
            (normalizer, "normalizer L+C_fail"),
        ):
            groups = _group_close(bounds.ids[in_task].tolist(), values[in_task].tolist())
            if len(groups) > 1:
                parts = [f"{value:.6g} (episodes {_episode_list(eps)})" for value, eps in groups]
                return (
                    f"the episodes of task {_task_label(task, task_names)} were annotated with different constants, "
                    f"{what} " + " vs ".join(parts) + " (rounds annotated separately, then merged?)"
                )
    return None


CONSTANT_TOLERANCE = 1e-4
"""Relative difference above which two episodes' constants differ: float32 storage moves them by about 1e-7."""


def _group_close(episodes: list[int], values: list[float]) -> list[tuple[float, list[int]]]:
    """Episodes grouped by value (NaN left out), values within ``CONSTANT_TOLERANCE`` of a group's first together."""
    pairs = sorted((value, int(ep)) for ep, value in zip(episodes, values, strict=True) if math.isfinite(value))
    groups: list[tuple[float, list[int]]] = []
    for value, ep in pairs:
        if groups and value - groups[-1][0] <= CONSTANT_TOLERANCE * max(1.0, abs(groups[-1][0])):
            groups[-1][1].append(ep)
        else:
            groups.append((value, [ep]))
    return [(value, sorted(eps)) for value, eps in groups]


def _check_tasks(
    root: Path,
    metadata: RecapMetadata,
    bounds: recap_math.EpisodeBounds,
    episode_task: np.ndarray,
    task_names: dict[int, str],
) -> None:
    path = root / RECAP_META_PATH
    for task in np.unique(episode_task).tolist():
        episodes = bounds.ids[episode_task == task].tolist()
        label = _task_label(task, task_names)
        constants = metadata.tasks.get(task)
        if constants is None:
            raise DatasetError(
                f"{path} records no constants for task {label}, which episodes {_episode_list(episodes)} use: {MOVE_ASIDE}"
            )
        if task in task_names and constants.task != task_names[task]:
            raise DatasetError(
                f"{path} records task {task} as {constants.task!r} but meta/tasks.parquet names it {task_names[task]!r} "
                f"(the task indices changed after annotation, e.g. in a merge): {MOVE_ASIDE}"
            )
        longest = int(bounds.lengths[episode_task == task].max())
        if constants.norm_length < longest:
            raise DatasetError(
                f"{path} records L={constants.norm_length} for task {label}, shorter than its longest episode "
                f"({longest} frames; episodes were added after annotation): {MOVE_ASIDE}"
            )
        expected = metadata.c_fail_coef * constants.norm_length
        if not math.isclose(constants.c_fail, expected, rel_tol=1e-6, abs_tol=1e-9):
            raise DatasetError(
                f"{path} records C_fail={constants.c_fail:g} for task {label}, not c_fail_coef * L = "
                f"{metadata.c_fail_coef:g} * {constants.norm_length} = {expected:g} (an edited or mixed file): {MOVE_ASIDE}"
            )


def _check_episodes(root: Path, metadata: RecapMetadata, bounds: recap_math.EpisodeBounds) -> None:
    path = root / RECAP_META_PATH
    in_data = set(bounds.ids.tolist())
    recorded = set(metadata.episodes)
    missing = sorted(in_data - recorded)
    if missing:
        raise DatasetError(
            f"{path} has no record of episodes {_episode_list(missing)} of the {len(in_data)} the data holds (it "
            f"records {len(recorded)}: episodes were added after annotation, e.g. in a merge): {MOVE_ASIDE}"
        )
    extra = sorted(recorded - in_data)
    if extra:
        raise DatasetError(
            f"{path} records episodes {_episode_list(extra)} that the data does not hold (episodes were deleted or "
            f"renumbered after annotation): {MOVE_ASIDE}"
        )
    unknown = sorted(ep for ep in in_data if metadata.episodes[ep].outcome == C.Outcome.UNKNOWN)
    if unknown:
        raise DatasetError(
            f"{path} records no outcome for episodes {_episode_list(unknown)}: run lerobot-recap-annotate with "
            "--outcomes=<file.json|csv> (or --unknown_outcome=success|failure) and use its output"
        )


def _check_values(
    root: Path,
    metadata: RecapMetadata,
    frames: dict[str, np.ndarray],
    bounds: recap_math.EpisodeBounds,
    episode_task: np.ndarray,
    task_names: dict[int, str],
) -> None:
    """``reward``, ``reward_label`` and ``value_label`` must be what the recorded constants and outcomes give."""
    success = np.array([metadata.episodes[int(ep)].outcome == C.Outcome.SUCCESS for ep in bounds.ids], dtype=bool)
    norm_length = np.array([metadata.tasks[int(t)].norm_length for t in episode_task], dtype=np.float64)
    c_fail = np.array([metadata.tasks[int(t)].c_fail for t in episode_task], dtype=np.float64)
    expected = recap_math.compute_rewards(bounds, success, norm_length, c_fail / norm_length)
    position = bounds.frame_episode_position()
    for name in (C.REWARD, C.VALUE_LABEL, C.REWARD_LABEL):  # the outcome first, then the value model's target
        stored = frames[name].astype(np.float64)
        wanted = getattr(expected, name)
        wrong = np.flatnonzero(np.abs(stored - wanted) > VALUE_TOLERANCE * (1.0 + np.abs(wanted)))
        if wrong.size == 0:
            continue
        frame = int(wrong[0])
        row = int(position[frame])
        ep, task = int(bounds.ids[row]), int(episode_task[row])
        outcome = "success" if success[row] else "failure"
        at = int(frame - bounds.starts[row])
        raise DatasetError(
            f"{root}: {name} of episode {ep} ({outcome}, task {_task_label(task, task_names)}) is {stored[frame]:.4g} at "
            f"frame {at} of {int(bounds.lengths[row])}, where the constants of {RECAP_META_PATH} (L="
            f"{int(norm_length[row])}, C_fail={c_fail[row]:g}) and its outcome give {wanted[frame]:.4g} (the columns "
            f"and the file come from different annotations): {MOVE_ASIDE}"
        )
