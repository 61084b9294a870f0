"""Copy-on-write dataset I/O for RECAP transforms (annotate, label).

A transform never touches its source: it writes a new dataset root. :func:`write_dataset_copy` builds the new root
in a hidden temp directory beside the output, rewriting only what changes (the data parquet files, ``info.json``,
``stats.json`` and the per-episode stats), hard-linking the videos (never re-encoding them), then renames the temp
directory into place. A crash or a kill leaves the source byte-for-byte intact and no partial output root; a later
run writing into the same folder names and removes the stale temp directories (see :func:`remove_stale_temp_dirs`).
``--overwrite`` replaces only what this project wrote (:func:`is_replaceable_output`), and only once the new output
is complete.

``info.json`` is read and written through LeRobot's typed :class:`~lerobot.datasets.utils.DatasetInfo`
(``load_info`` / ``write_info``). Every column a transform sets gets the statistics LeRobot keeps for numeric
features, in ``stats.json`` and in the per-episode ``stats/<feature>/<stat>`` columns of ``meta/episodes``: min,
max, mean, std, count and the quantiles q01, q10, q50, q90, q99, as float64 (count as int64), exactly as LeRobot
0.6 lays them out. The quantiles are exact (numpy's linear interpolation), where LeRobot's own are histogram
estimates.

Frames are addressed in *dataset order*: the rows of the sorted ``data/chunk-*/file-*.parquet`` files, concatenated.
:func:`read_frame_columns` returns columns in that order, and ``set_columns`` arrays must follow it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import numbers
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data.metadata import RecapMetadata, save_recap_metadata, write_json_atomic

if TYPE_CHECKING:
    from lerobot.datasets.utils import DatasetInfo

logger = logging.getLogger(__name__)

TMP_MARKER = ".recap-tmp-"
"""Temp directories of a transform are named ``.<output name>.recap-tmp-<pid>-<suffix>`` beside the output."""
EXPORT_MARKER = ".lerobot-recap-export"
"""A file of this name at the root of a folder marks it as an export written by this project (lerobot-recap-export-pistar):
``--overwrite`` may replace it. The name is the contract between the writers and :func:`is_replaceable_output`."""
ASIDE_SUFFIX = "-old"
"""``.<name>.recap-tmp-<pid>-old-<hex>``: an existing output moved aside while its replacement is renamed in."""
TRANSFORM_STEPS = ("annotate", "label", "export_pistar", "export-pistar")
"""``history`` steps of ``meta/recap.json`` that only a transform of this project records."""
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}

V21_CONVERTER = "python -m lerobot.scripts.convert_dataset_v21_to_v30 --repo-id=local/{name} --root={root} --push-to-hub=false"
"""LeRobot's v2.1 -> v3.0 converter. ``--root`` is the dataset folder itself; it is converted in place and the v2.1
original is kept beside it as ``<name>_old``."""


class DatasetError(ValueError):
    """A dataset cannot be used as asked; the message names the problem and the fix."""


def check_number(
    option: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> float:
    """Refuse a numeric option that is not a finite number within [low, high] (an end excluded if ``*_open``).

    ``nan`` and ``inf`` parse as floats and slip through a plain ``value <= 0`` test (every comparison with NaN is
    False), so finiteness is checked first and the range then says exactly what is accepted.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DatasetError(f"{option} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise DatasetError(f"{option} must be {'>' if low_open else '>='} {low:g}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise DatasetError(f"{option} must be {'<' if high_open else '<='} {high:g}, got {value}")
    return float(value)


def check_integer(option: str, value: Any, low: int, high: int | None = None, hint: str = "") -> int:
    """Refuse an integer option that is not a whole number within [low, high]; ``hint`` follows a too-low message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DatasetError(f"{option} must be a whole number, got {value!r}")
    value = int(value)
    if value < low:
        raise DatasetError(f"{option} must be >= {low}, got {value}{f' ({hint})' if hint else ''}")
    if high is not None and value > high:
        raise DatasetError(f"{option} must be <= {high}, got {value}")
    return value


def resolve_dataset_root(repo_id: str | None, root: str | Path | None) -> Path:
    """The local root of a LeRobot v3.0 dataset given a root, or a repo id already in the local cache."""
    if root is not None:
        path = Path(root).expanduser()
        if not path.exists():
            raise DatasetError(f"dataset root {path} does not exist: check --root")
    elif repo_id is not None:
        from lerobot.utils.constants import HF_LEROBOT_HOME

        path = Path(HF_LEROBOT_HOME) / repo_id
        if not path.exists():
            raise DatasetError(
                f"dataset {repo_id!r} is not in the local cache ({path}): download it first "
                f"(`hf download {repo_id} --repo-type dataset --local-dir {path}`) or pass --root"
            )
    else:
        raise DatasetError("no dataset given: pass --repo_id (a dataset in the local cache) or --root")
    info_path = path / "meta" / "info.json"
    if not info_path.exists():
        raise DatasetError(f"{path} is not a LeRobot dataset (no meta/info.json)")
    version = read_info_json(path).get("codebase_version")
    if version is None:
        raise DatasetError(f"{info_path} is not a valid LeRobot info.json: it has no codebase_version")
    if version != "v3.0":
        raise DatasetError(
            f"{path} is a LeRobot {version} dataset; lerobot-recap reads v3.0 only. Convert it with "
            f"LeRobot's converter (in place; the v2.1 original is kept as {path.name}_old): "
            f"{V21_CONVERTER.format(name=path.name, root=path)}"
        )
    if not data_files(path):
        raise DatasetError(f"{path} has no data files under data/chunk-*/file-*.parquet")
    return path


def read_info_json(root: Path) -> dict[str, Any]:
    """``meta/info.json`` as a plain dict; a file that is not a JSON object is refused naming the file.

    A truncated write or a hand edit gone wrong would otherwise surface as a bare ``Expecting value: line 1 column 1``
    with no file name, or as an ``AttributeError`` traceback when the JSON is a list.
    """
    path = Path(root) / "meta" / "info.json"
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path} is not valid JSON ({err}): restore it from a backup or the dataset's Hub copy") from err
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must hold a JSON object, not {type(data).__name__}: restore it from a backup")
    return data


def read_info(root: Path) -> DatasetInfo:
    """``meta/info.json`` of a v3.0 dataset as LeRobot's typed ``DatasetInfo``; a broken file is a DatasetError."""
    from lerobot.datasets.utils import DatasetInfo

    path = Path(root) / "meta" / "info.json"
    raw = read_info_json(root)
    try:
        info = DatasetInfo.from_dict(raw)
    except (TypeError, KeyError, ValueError, AttributeError) as err:  # a field missing, of the wrong type or range
        raise DatasetError(f"{path} is not a valid LeRobot info.json: {err}") from err
    broken = [name for name, ft in info.features.items() if not isinstance(ft, dict) or not {"dtype", "shape"} <= set(ft)]
    if broken:
        raise DatasetError(f"{path} is not a valid LeRobot info.json: features {broken} lack a dtype or a shape")
    return info


def dataset_repo_id(root: Path) -> str | None:
    """The repo id a transform recorded for the dataset at ``root`` (``meta/recap.json``), if any.

    Datasets written by lerobot-recap 0.1 kept it as an extra ``repo_id`` key of ``info.json``, which LeRobot 0.6's
    ``DatasetInfo`` drops: it is still read from there.
    """
    from lerobot_recap.data.metadata import load_recap_metadata

    recorded = load_recap_metadata(root).repo_id
    if recorded:
        return recorded
    legacy = read_info_json(root).get("repo_id")
    return str(legacy) if legacy else None


def data_files(root: Path) -> list[Path]:
    """The data parquet files of a v3.0 dataset, in dataset order."""
    return sorted((Path(root) / "data").glob("chunk-*/file-*.parquet"))


def episode_files(root: Path) -> list[Path]:
    return sorted((Path(root) / "meta" / "episodes").glob("chunk-*/file-*.parquet"))


def column_to_numpy(column) -> np.ndarray:
    """An arrow column (scalar or fixed-size list) as a numpy array of shape (n,) or (n, d)."""
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
        return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        rows = column.to_pylist()
        return np.asarray(rows)
    return column.to_numpy(zero_copy_only=False)


def read_parquet(path: Path, columns: Sequence[str] | None = None):
    """One parquet file as an arrow table.

    ``pq.ParquetFile(path).read`` skips the dataset layer that ``pq.read_table`` goes through; on one file it reads
    the same table in about half the time, which matters for a pass over every data file.
    """
    import pyarrow.parquet as pq

    with unreadable_parquet_is_a_dataset_error(path), pq.ParquetFile(path) as parquet:
        return parquet.read(columns=list(columns) if columns is not None else None)


@contextlib.contextmanager
def unreadable_parquet_is_a_dataset_error(path: Path) -> Iterator[None]:
    """A truncated or corrupted parquet file is a DatasetError naming the file.

    pyarrow's own messages ("Parquet magic bytes not found in footer", "Couldn't deserialize thrift") do not say
    which of the dataset's files is broken.
    """
    import pyarrow as pa

    try:
        yield
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # not a broken file but a missing or unreadable one: pyarrow's message names it
    except (pa.ArrowException, OSError) as err:  # corrupt pages surface as a bare OSError("Corrupt snappy ...")
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatasetError(
            f"{path} cannot be read as parquet ({reason}): the file is truncated or corrupted; restore it from a "
            "backup or the dataset's Hub copy"
        ) from err


def write_parquet(table, path: Path) -> None:
    """Write a data table with snappy compression, dictionary-encoding only integer, boolean and string columns.

    pyarrow tries a dictionary for every column by default; float vectors and image bytes rarely repeat, so it
    builds one, gives up and writes them plain anyway. Skipping that attempt cuts the write time of a typical
    LeRobot data file by about 40% and gives slightly smaller files.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    dictionary = [
        f.name for f in table.schema if pa.types.is_integer(f.type) or pa.types.is_boolean(f.type) or pa.types.is_string(f.type)
    ]
    pq.write_table(table, path, compression="snappy", use_dictionary=dictionary)


def read_frame_columns(root: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read ``names`` from every data file, concatenated in dataset order."""
    import pyarrow.parquet as pq

    files = data_files(root)
    with unreadable_parquet_is_a_dataset_error(files[0]):
        available = set(pq.read_schema(files[0]).names)
    missing = [name for name in names if name not in available]
    if missing:
        raise DatasetError(f"the dataset at {root} has no column(s) {missing}")
    tables = [read_parquet(f, names) for f in files]
    return {name: np.concatenate([column_to_numpy(t.column(name)) for t in tables]) for name in names}


def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """LeRobot-style stats of a per-frame column: min, max, mean, std, count and q01..q99 per dimension.

    Every statistic is float64 and count is int64, as LeRobot writes them (a boolean or integer column included).
    """
    values = values.reshape(values.shape[0], -1)
    as_float = values.astype(np.float64)
    stats = {
        "min": as_float.min(axis=0),
        "max": as_float.max(axis=0),
        "mean": as_float.mean(axis=0),
        "std": as_float.std(axis=0),
        "count": np.array([values.shape[0]]),
    }
    quantiles = np.quantile(as_float, list(QUANTILES.values()), axis=0)
    stats.update({key: quantiles[i] for i, key in enumerate(QUANTILES)})
    return stats


def episode_stats(values: np.ndarray, episode_index: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
    """:func:`feature_stats` of each episode, vectorized over episodes (frames of an episode are contiguous).

    Quantiles use numpy's default linear interpolation on the values sorted within each episode.
    """
    ids, stats = episode_stats_arrays(values, episode_index)
    return {int(ep): {key: stats[key][i] for key in stats} for i, ep in enumerate(ids)}


def episode_stats_arrays(values: np.ndarray, episode_index: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`episode_stats` as arrays: the episode ids (dataset order) and, per statistic, one row per episode."""
    from lerobot_recap.data.recap_math import episode_bounds

    bounds = episode_bounds(episode_index)
    starts, lengths = bounds.starts, bounds.lengths
    raw = values.reshape(values.shape[0], -1)
    as_float = raw.astype(np.float64)
    means = np.add.reduceat(as_float, starts, axis=0) / lengths[:, None]
    deviations = as_float - np.repeat(means, lengths, axis=0)
    stds = np.sqrt(np.add.reduceat(deviations**2, starts, axis=0) / lengths[:, None])
    mins, maxs = np.minimum.reduceat(as_float, starts, axis=0), np.maximum.reduceat(as_float, starts, axis=0)
    ordered = np.empty_like(as_float)
    if len(starts) * 32 <= len(as_float):
        # Few long episodes: one small sort per episode is several times faster than a global two-key lexsort.
        for start, end in zip(starts.tolist(), bounds.ends.tolist(), strict=True):
            ordered[start:end] = np.sort(as_float[start:end], axis=0)
    else:
        position = bounds.frame_episode_position()
        for dim in range(as_float.shape[1]):
            ordered[:, dim] = as_float[np.lexsort((as_float[:, dim], position)), dim]
    quantiles = {}
    for key, q in QUANTILES.items():
        h = (lengths - 1) * q
        low = np.floor(h).astype(np.int64)
        high = np.ceil(h).astype(np.int64)
        below, above = ordered[starts + low], ordered[starts + high]
        quantiles[key] = below + (h - low)[:, None] * (above - below)
    stats = {"min": mins, "max": maxs, "mean": means, "std": stds, "count": lengths[:, None].astype(np.int64)}
    return bounds.ids, {**stats, **quantiles}


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """Turn SIGTERM into an exception while writing, so the temp directory is cleaned up (SIGKILL cannot be)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_dir_owner(path: Path) -> tuple[str, int, bool] | None:
    """(output name, pid, moved aside?) of a transform's ``.<name>.recap-tmp-<pid>-<suffix>`` entry, else None.

    The suffix is a random hex tag for a temp output, ``old`` or ``old-<hex>`` for an old output moved aside.
    """
    name, marker, rest = path.name.rpartition(TMP_MARKER)
    parts = rest.split("-")
    if not marker or not name.startswith(".") or len(name) < 2 or not parts[0].isdigit():
        return None
    return name[1:], int(parts[0]), len(parts) > 1 and parts[1] == ASIDE_SUFFIX.lstrip("-")


def remove_stale_temp_dirs(output_root: Path) -> list[Path]:
    """Name, and clean up, what interrupted runs left in the folder that will hold ``output_root``.

    Every ``.<name>.recap-tmp-<pid>-*`` entry of the folder is found, whatever output it was for: a ``kill -9`` of
    a run writing ``round1_recap`` is reported by the next run writing ``round1_labeled`` beside it. An entry whose
    process is still alive belongs to a run in progress and is left alone. A temp output of a dead process is
    removed. An old output that :func:`_move_into_place` had moved aside is renamed back if the run died before
    putting the new one in its place (so the interrupted run costs nothing), removed if it is ours to replace
    (:func:`is_replaceable_output`), and otherwise left where it is, named in a warning. Returns the entries found.
    """
    parent = Path(output_root).parent
    if not parent.is_dir():
        return []
    found = []
    for entry in sorted(parent.glob(f".*{TMP_MARKER}*")):
        owner = _temp_dir_owner(entry)
        if owner is None:
            continue
        name, pid, moved_aside = owner
        if pid == os.getpid():  # this run's own (label's staged plots while its dataset is written)
            continue
        found.append(entry)
        if _pid_alive(pid):
            logger.info("%s belongs to a run still in progress (process %d): left alone", entry, pid)
            continue
        target = parent / name
        if moved_aside and not target.exists() and not target.is_symlink():
            logger.warning("%s is the previous %s, moved aside by a run that was killed (process %d): restoring it", entry, target, pid)
            os.rename(entry, target)
        elif moved_aside and replace_refusal(entry) is not None:
            logger.warning("%s was moved aside by an interrupted run (process %d) and %s: left for you to check", entry, pid, replace_refusal(entry))
        else:
            logger.warning("removing %s, left behind by an interrupted run (process %d is gone)", entry, pid)
            _remove_path(entry)
    return found


def _remove_path(path: Path) -> None:
    """Delete a file, a link or a directory tree (a link is removed, never followed)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace_refusal(path: Path) -> str | None:
    """Why ``--overwrite`` must not replace ``path``, or None when it may (see :func:`is_replaceable_output`)."""
    path = Path(path)
    if path.is_symlink():
        return "is a symbolic link (replacing it would not replace what it points to): remove the link or name its target"
    if not path.exists():
        return None
    if not path.is_dir():
        return "is a file, not a dataset written by lerobot-recap"
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as err:
        return f"cannot be listed ({err.strerror or err})"
    if empty or (path / EXPORT_MARKER).is_file() or _records_a_transform(path):
        return None
    return (
        "holds files that lerobot-recap did not write (no meta/recap.json of an annotate/label run and no "
        f"{EXPORT_MARKER} export marker), so --overwrite will not delete it"
    )


def _records_a_transform(root: Path) -> bool:
    """Whether ``root/meta/recap.json`` is the record of one of this project's transforms.

    A recorder (recap_dagger, the simulated data generator) writes a ``meta/recap.json`` too, with outcomes only: that
    is a raw recording, the most precious data there is, and must never count as replaceable. A transform's record
    carries the RECAP convention (annotate; label and export keep it) or a transform step in its history.
    """
    path = root / "meta" / "recap.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):  # absent, unreadable or not JSON: not ours to delete
        return False
    if not isinstance(record, dict):
        return False
    convention = record.get("convention")
    if isinstance(convention, dict) and convention.get("version"):
        return True
    history = record.get("history")
    return isinstance(history, list) and any(isinstance(h, dict) and h.get("step") in TRANSFORM_STEPS for h in history)


def is_replaceable_output(path: str | Path) -> bool:
    """Whether ``--overwrite`` may replace ``path``: only what this project wrote, or nothing at all.

    True for a path that does not exist, an empty directory, a dataset root whose ``meta/recap.json`` records an
    annotate/label run, and a folder holding an :data:`EXPORT_MARKER` file (a pistar export). False for anything else:
    a plain file, a symbolic link, a raw recording, a folder of other things.
    """
    return replace_refusal(Path(path)) is None


def check_output_root(source_root: Path, output_root: Path, overwrite: bool) -> None:
    """Refuse an output that is the source, lies inside it (or around it), exists without ``overwrite``, or is not
    ours to replace (:func:`is_replaceable_output`). Leftovers of interrupted runs beside it are cleaned up first."""
    source, output = source_root.resolve(), output_root.resolve()
    if output == source or source in output.parents or output in source.parents:
        raise DatasetError(
            f"the output root {output_root} overlaps the source {source_root}: choose another --output_root "
            "(the source is never modified in place)"
        )
    # First: an old output that a killed run had moved aside is restored here, and then counts as existing.
    remove_stale_temp_dirs(output_root)
    if output_root.exists() or output_root.is_symlink():
        refusal = replace_refusal(output_root)
        if refusal is not None:
            raise DatasetError(f"the output root {output_root} already exists and {refusal}: choose another --output_root")
        if not overwrite:
            raise DatasetError(f"the output root {output_root} already exists: pass --overwrite=true to replace it")
    parent = output_root.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise DatasetError(f"cannot write to {parent}: choose a writable --output_root")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported
        shutil.copy2(src, dst)


def _copy_untouched(source_root: Path, tmp_root: Path, link_videos: bool) -> None:
    """Copy everything except the data and episode parquet files and the JSON metadata we rewrite."""
    rewritten = {Path("meta/info.json"), Path("meta/stats.json"), Path("meta/recap.json")}
    for src in source_root.rglob("*"):
        rel = src.relative_to(source_root)
        if src.is_dir() or rel in rewritten or rel.parts[0] == "data" or rel.parts[:2] == ("meta", "episodes"):
            if src.is_dir():
                (tmp_root / rel).mkdir(parents=True, exist_ok=True)
            continue
        if link_videos and rel.parts[0] == "videos":
            _link_or_copy(src, tmp_root / rel)
        else:
            (tmp_root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp_root / rel)


def _arrow_column(values: np.ndarray, arrow_type):
    """A numpy per-frame column as an arrow array of the dataset schema's type."""
    import pyarrow as pa

    if pa.types.is_fixed_size_list(arrow_type):
        flat = pa.array(np.ascontiguousarray(values).reshape(-1)).cast(arrow_type.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, arrow_type.list_size)
    return pa.array(np.ascontiguousarray(values).reshape(-1)).cast(arrow_type)


def _rewrite_data_files(
    source_root: Path,
    tmp_root: Path,
    features: dict[str, Any],
    set_columns: dict[str, np.ndarray],
    remove_columns: Sequence[str],
    progress: bool,
    check_finite: Sequence[str] = (),
) -> None:
    from lerobot.datasets.feature_utils import get_hf_features_from_features
    from tqdm import tqdm

    # LeRobot compares shapes as tuples (`shape == (1,)` makes a scalar column); JSON gives lists.
    as_loaded = {name: {**ft, "shape": tuple(ft["shape"])} for name, ft in features.items()}
    schema = get_hf_features_from_features(as_loaded).arrow_schema
    offset = 0
    files = data_files(source_root)
    for src in tqdm(files, desc="rewriting data files", disable=not progress, unit="file"):
        table = read_parquet(src)
        n = table.num_rows
        _check_finite(table, check_finite, src)
        drop = [c for c in (*remove_columns, *set_columns) if c in table.column_names]
        table = table.drop_columns(drop)
        for name, values in set_columns.items():
            table = table.append_column(name, _arrow_column(values[offset : offset + n], schema.field(name).type))
        table = table.select(schema.names).cast(schema)
        dst = tmp_root / src.relative_to(source_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, dst)
        offset += n
        _maybe_inject_fault()
    total = next(iter(set_columns.values())).shape[0] if set_columns else offset
    if total != offset:
        raise DatasetError(f"column arrays have {total} frames but the dataset has {offset}")


def require_finite(name: str, values: np.ndarray, episode_index: np.ndarray, hint: str = "") -> None:
    """Refuse a per-frame column holding NaN/inf, naming its episodes; ``hint`` says where it came from / what to do.

    Called on every column before anything is written: a NaN in ``value_label`` or ``advantage`` would otherwise
    land in the data, ``stats.json`` and every model trained on the copy, with no error anywhere.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating) or np.isfinite(values).all():
        return
    bad_frames = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    episodes = np.unique(np.asarray(episode_index).reshape(-1)[bad_frames]).tolist()
    more = " ..." if len(episodes) > 20 else ""
    raise DatasetError(
        f"{name} holds NaN/inf in {int(bad_frames.sum())} frame(s) of episodes {episodes[:20]}{more}"
        f"{': ' + hint if hint else ''}; nothing was written"
    )


def _check_finite(table, names: Sequence[str], path: Path) -> None:
    """Refuse NaN/inf in the float columns ``names`` of one data file, naming the episodes.

    Checked here, on the table the rewrite reads anyway, rather than in a separate read of the same columns: a
    failure raises mid-rewrite, and the caller removes the temp directory, so nothing is written.
    """
    for name in names:
        if name not in table.column_names:
            continue
        values = column_to_numpy(table.column(name))
        if np.isfinite(values).all():  # the common case, without the slower per-row reduction below
            continue
        bad_frames = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if bad_frames.any():
            episodes = table.column("episode_index").to_numpy()
            bad_episodes = np.unique(episodes[bad_frames]).tolist()
            raise DatasetError(
                f"{name} holds NaN/inf values in episodes {bad_episodes[:20]} ({path.name}): remove them with "
                "`lerobot-edit-dataset --operation.type=delete_episodes` and run again on the result"
            )


def _rewrite_episode_files(
    source_root: Path,
    tmp_root: Path,
    per_episode: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]],
    drop_features: Sequence[str],
) -> None:
    """Replace the per-episode ``stats/<feature>/<stat>`` columns of the changed features.

    ``per_episode`` maps a feature to :func:`episode_stats_arrays`' result. Each statistic becomes a list column
    (float64, counts int64), as LeRobot writes them.
    """
    import pyarrow.parquet as pq

    prefixes = tuple(f"stats/{name}/" for name in (*drop_features, *per_episode))
    for src in episode_files(source_root):
        # Read only the columns that are kept: the replaced stats are not worth decoding.
        with unreadable_parquet_is_a_dataset_error(src), pq.ParquetFile(src) as parquet:
            keep = [c for c in parquet.schema_arrow.names if not c.startswith(prefixes)]
            table = parquet.read(columns=keep)
        episodes = table.column("episode_index").to_numpy()
        for name, (ids, stats) in per_episode.items():
            order = np.argsort(ids)
            rows = order[np.clip(np.searchsorted(ids[order], episodes), 0, len(ids) - 1)]
            if len(ids) == 0 or not np.array_equal(ids[rows], episodes):
                missing = sorted(set(episodes.tolist()) - set(ids.tolist()))
                raise DatasetError(f"{src} lists episodes {missing[:20]} that have no frames in the data files")
            for stat in ("min", "max", "mean", "std", "count", *QUANTILES):
                table = table.append_column(f"stats/{name}/{stat}", _list_column(stats[stat][rows]))
        dst = tmp_root / src.relative_to(source_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dst)


def _list_column(rows: np.ndarray):
    """A (n, d) array as an arrow ``list<...>`` column of n rows of d values (int64 for integers, else float64)."""
    import pyarrow as pa

    rows = rows.astype(np.int64) if np.issubdtype(rows.dtype, np.integer) else rows.astype(np.float64)
    n, width = rows.shape
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(rows).reshape(-1)))


def _maybe_inject_fault() -> None:
    """Test hook: ``LEROBOT_RECAP_HANG_AFTER_WRITE=1`` hangs after the first data file so a test can kill us."""
    if os.environ.get("LEROBOT_RECAP_HANG_AFTER_WRITE") == "1":
        print("LEROBOT_RECAP_HANG_AFTER_WRITE: hanging mid-write", flush=True)
        threading.Event().wait()


def write_dataset_copy(
    source_root: str | Path,
    output_root: str | Path,
    set_columns: dict[str, tuple[np.ndarray, dict[str, Any]]],
    remove_columns: Sequence[str] = (),
    metadata: RecapMetadata | None = None,
    overwrite: bool = False,
    link_videos: bool = True,
    progress: bool = True,
    repo_id: str | None = None,
    episode_index: np.ndarray | None = None,
    check_finite: Sequence[str] = (),
    extra_files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write a copy of the dataset at ``source_root`` to ``output_root`` with columns set, replaced or removed.

    Args:
        set_columns: name -> (per-frame values in dataset order, LeRobot feature dict). Existing columns of that
            name are replaced (their shape may change, e.g. a stripped ``observation.state`` dimension).
        remove_columns: columns to drop (with their features and stats).
        metadata: the ``meta/recap.json`` to write into the copy (the source's is carried over if None).
        overwrite: replace an existing ``output_root``.
        link_videos: hard-link video files instead of copying them (they are never re-encoded either way).
        repo_id: recorded in the copy's ``meta/recap.json`` if given (LeRobot's ``info.json`` has no such field).
        episode_index: the per-frame episode index in dataset order, if the caller has read it already.
        check_finite: float columns that must hold no NaN/inf; checked during the rewrite (nothing is written if
            one does).
        extra_files: path relative to the copy's root -> a function that writes that file, called with its full
            path before the copy is moved into place (so the file appears atomically with the dataset).
    Returns:
        the output root.
    """
    from lerobot.datasets.io_utils import write_info

    source_root, output_root = Path(source_root), Path(output_root)
    check_output_root(source_root, output_root, overwrite)

    info = read_info(source_root)
    features = {k: v for k, v in info.features.items() if k not in remove_columns}
    unknown = [name for name in remove_columns if name not in info.features]
    if unknown:
        raise DatasetError(f"cannot remove {unknown}: the dataset has no such feature")
    for name, (values, feature) in set_columns.items():
        if values.shape[0] != info.total_frames:
            raise DatasetError(f"column {name!r} has {values.shape[0]} values for {info.total_frames} frames")
        features[name] = dict(feature)  # a copy: DatasetInfo turns its shape into a tuple in place
    info = dataclasses.replace(info, features=features)  # __post_init__ turns the new shapes into tuples
    if metadata is None:
        from lerobot_recap.data.metadata import load_recap_metadata

        metadata = load_recap_metadata(source_root)
    if repo_id is not None:
        metadata.repo_id = repo_id

    arrays = {name: values for name, (values, _) in set_columns.items()}
    if arrays and episode_index is None:
        episode_index = read_frame_columns(source_root, ["episode_index"])["episode_index"]
    for name, values in arrays.items():  # NaN would reach the data, stats.json and every model trained on it
        require_finite(name, values, episode_index)
    stats = json.loads((source_root / "meta" / "stats.json").read_text()) if (source_root / "meta/stats.json").exists() else {}
    for name in (*remove_columns, *arrays):
        stats.pop(name, None)

    tmp_root = output_root.parent / f".{output_root.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    # The statistics of the new columns depend only on their values: a worker thread computes them (numpy releases
    # the GIL while sorting) while the main thread rewrites the data files (pyarrow releases it too).
    with _sigterm_as_exception(), ThreadPoolExecutor(max_workers=1) as pool:
        new_stats = pool.submit(_column_stats, arrays, episode_index)
        try:
            tmp_root.mkdir(parents=True)
            _copy_untouched(source_root, tmp_root, link_videos)
            _rewrite_data_files(source_root, tmp_root, features, arrays, remove_columns, progress, check_finite)
            dataset_stats, per_episode = new_stats.result()
            stats.update(dataset_stats)
            _rewrite_episode_files(source_root, tmp_root, per_episode, remove_columns)
            write_info(info, tmp_root)
            write_json_atomic(tmp_root / "meta" / "stats.json", stats)
            save_recap_metadata(tmp_root, metadata)
            for relative, write in (extra_files or {}).items():
                target = tmp_root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                write(target)
            _move_into_place(tmp_root, output_root)
        except BaseException:
            shutil.rmtree(tmp_root, ignore_errors=True)
            raise
    return output_root


def _column_stats(
    arrays: dict[str, np.ndarray], episode_index: np.ndarray | None
) -> tuple[dict[str, dict[str, list]], dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]]:
    """``stats.json`` entries and per-episode stats of the columns being set."""
    dataset_stats, per_episode = {}, {}
    for name, values in arrays.items():
        dataset_stats[name] = {k: v.tolist() for k, v in feature_stats(values).items()}
        per_episode[name] = episode_stats_arrays(values, episode_index)
    return dataset_stats, per_episode


def _move_into_place(tmp_root: Path, output_root: Path) -> None:
    """Rename the finished temp root to ``output_root``; an existing output is moved aside first, then deleted.

    Called only once the new output is complete, so the old one is deleted only when its replacement is in place.
    The old output is checked once more (something may have been written there since :func:`check_output_root`):
    what is not ours to replace is refused, untouched (the caller then removes its temp directory). A kill between
    the two renames leaves the old output under its ``-old-<hex>`` name; the next run restores it.
    """
    if not output_root.exists() and not output_root.is_symlink():
        os.rename(tmp_root, output_root)
        return
    refusal = replace_refusal(output_root)
    if refusal is not None:
        raise DatasetError(f"the output root {output_root} appeared while writing and {refusal}: choose another --output_root")
    aside = output_root.parent / f".{output_root.name}{TMP_MARKER}{os.getpid()}{ASIDE_SUFFIX}-{uuid.uuid4().hex[:8]}"
    os.rename(output_root, aside)
    try:
        os.rename(tmp_root, output_root)
    except BaseException:
        os.rename(aside, output_root)
        raise
    _remove_path(aside)
