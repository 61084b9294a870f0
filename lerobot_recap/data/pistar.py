"""pistar/openpi interop: export an annotated LeRobot v3.0 dataset to the LeRobot v2.1 layout pistar reads.

pistar (an openpi fork) pins a LeRobot that reads the v2.1 layout only, and its relabel script treats every
parquet file as one episode. :func:`export_pistar` writes that layout from an annotated v3.0 dataset::

    meta/info.json             codebase_version v2.1, chunked per-episode paths, the features
    meta/episodes.jsonl        {"episode_index", "tasks", "length"} per episode
    meta/tasks.jsonl           {"task_index", "task"} per task
    meta/episodes_stats.jsonl  {"episode_index", "stats": {feature: {min, max, mean, std, count}}} per episode
    meta/recap.json            this project's RECAP metadata (constants, outcomes), kept for the way back
    data/chunk-{chunk:03d}/episode_{episode:06d}.parquet
    videos/chunk-{chunk:03d}/{video_key}/episode_{episode:06d}.mp4
    .lerobot-recap-export      an empty marker: the folder is an export of this project, so --overwrite may replace it

The source is checked first (:func:`lerobot_recap.data.validate.validate_recap_annotation`, the check label runs
too): its columns and ``meta/recap.json`` must describe one annotation. Rounds annotated separately and merged with
LeRobot's ``merge_datasets`` (which drops ``meta/recap.json``) are refused, naming the constants that disagree, and
nothing is written; annotating the merged dataset once fixes them.

The five RECAP columns keep their names; ``adv_ind`` becomes pistar's strings ``positive``/``negative``/``none``
(a ``string`` feature), the other four keep their dtypes (``intervention`` int64, the rest float32). Values are
exported exactly as annotated: this project's convention (per-task normalization L, failure penalty C_fail, see
``meta/recap.json``), not re-derived with pistar's per-episode formulas.

v2.1 readers index episodes by position, so episodes are renumbered 0..N-1 in dataset order (and ``index``
0..total-1); where that changes anything the mapping is recorded in ``meta/recap.json``'s history.

Videos: v3.0 packs many episodes into one mp4, v2.1 wants one mp4 per episode. Each episode's segment is cut out
by copying its packets (no re-encoding) when it starts on a keyframe, which is how LeRobot writes v3.0 files (episodes are encoded one by one and concatenated). Otherwise, or with
``reencode_videos``, the segment is decoded and re-encoded with PyAV using the encoder settings the dataset
recorded for that video (codec, pixel format, GOP, CRF, preset). Image datasets keep their images inside the
parquet files, as v2.1 does.

The way back: LeRobot's ``lerobot.scripts.convert_dataset_v21_to_v30`` turns the export into a v3.0 dataset again
(in place: ``--root`` is the export's own folder), and ``lerobot-recap-annotate`` reads its string ``adv_ind`` and
``reward`` columns like any pistar/limb dataset.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import (
    EXPORT_MARKER,
    TMP_MARKER,
    DatasetError,
    _move_into_place,
    _sigterm_as_exception,
    check_output_root,
    data_files,
    episode_files,
    read_info,
    read_parquet,
    resolve_dataset_root,
    write_parquet,
)
from lerobot_recap.data.metadata import RecapMetadata, save_recap_metadata, write_json_atomic
from lerobot_recap.data.validate import validate_recap_annotation

if TYPE_CHECKING:
    from lerobot.datasets.utils import DatasetInfo

logger = logging.getLogger(__name__)

V21 = "v2.1"
V21_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V21_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
V21_STATS = ("min", "max", "mean", "std", "count")
"""The per-episode statistics a v2.1 ``episodes_stats.jsonl`` holds."""

PISTAR_FEATURES: dict[str, dict[str, Any]] = {
    C.INTERVENTION: {"dtype": "int64", "shape": [1], "names": ["intervention_flag"]},
    C.REWARD: {"dtype": "float32", "shape": [1], "names": None},
    C.REWARD_LABEL: {"dtype": "float32", "shape": [1], "names": None},
    C.VALUE_LABEL: {"dtype": "float32", "shape": [1], "names": None},
    C.ADV_IND: {"dtype": "string", "shape": [1], "names": None},
}
"""The five columns as pistar declares them in ``info.json`` (``adv_ind`` as a string)."""



@dataclass
class ExportPistarConfig:
    """lerobot-recap-export-pistar: write an annotated LeRobot v3.0 dataset in the v2.1 layout pistar/openpi read."""

    repo_id: str | None = None
    """Annotated source dataset repo id; read from the local LeRobot cache unless --root is given."""
    root: Path | None = None
    """Annotated source dataset root (the output of lerobot-recap-annotate; never modified)."""
    output_root: Path | None = None
    """Root of the v2.1 export; defaults to the source root with a `_pistar` suffix."""
    overwrite: bool = False
    """Replace an existing output root, if an earlier export wrote it (its .lerobot-recap-export marker says so) or it is empty."""
    reencode_videos: bool = False
    """Re-encode every video segment with PyAV instead of copying its packets (copying is used when possible)."""


@dataclass
class ExportSummary:
    """What the export wrote."""

    output_root: Path
    n_episodes: int
    n_frames: int
    episode_map: dict[int, int]
    """Source episode index -> exported episode index."""
    videos_copied: int = 0
    videos_reencoded: int = 0
    adv_ind_counts: dict[str, int] = field(default_factory=dict)


def export_pistar(cfg: ExportPistarConfig, progress: bool = True) -> ExportSummary:
    """Export ``cfg.root`` (annotated, v3.0) to ``cfg.output_root`` in the v2.1 layout, atomically."""
    source_root = resolve_dataset_root(cfg.repo_id, cfg.root)
    info = read_info(source_root)
    # Before anything is written: the columns and meta/recap.json must describe one annotation (a merge of rounds
    # annotated separately is refused here, not exported with two conventions).
    metadata = validate_recap_annotation(source_root, info)
    output_root = Path(cfg.output_root) if cfg.output_root else source_root.with_name(source_root.name + "_pistar")
    check_output_root(source_root, output_root, cfg.overwrite)  # --overwrite replaces only what is_replaceable_output allows

    episodes = _read_episodes_meta(source_root)
    episode_map = {int(ep): new for new, ep in enumerate(episodes["episode_index"])}
    tmp_root = output_root.parent / f".{output_root.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with _sigterm_as_exception():
        try:
            tmp_root.mkdir(parents=True)
            summary = _write_export(source_root, tmp_root, info, episodes, episode_map, cfg, progress, metadata)
            (tmp_root / EXPORT_MARKER).touch()  # marks the folder as ours: a later --overwrite may replace it
            _move_into_place(tmp_root, output_root)
        except BaseException:
            shutil.rmtree(tmp_root, ignore_errors=True)
            raise
    summary.output_root = output_root
    return summary


def _read_episodes_meta(root: Path) -> dict[str, list]:
    """The v3.0 per-episode rows (``meta/episodes``), as columns, sorted by dataset position."""
    import pyarrow as pa

    files = episode_files(root)
    if not files:
        raise DatasetError(f"{root} has no meta/episodes/chunk-*/file-*.parquet: it is not a complete v3.0 dataset")
    table = pa.concat_tables([read_parquet(f) for f in files], promote_options="default")
    table = table.sort_by("dataset_from_index")
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _feature_kind(feature: dict[str, Any]) -> str:
    return "visual" if feature["dtype"] in ("image", "video") else ("string" if feature["dtype"] == "string" else "numeric")


def _write_export(
    source_root: Path,
    tmp_root: Path,
    info: DatasetInfo,
    episodes: dict[str, list],
    episode_map: dict[int, int],
    cfg: ExportPistarConfig,
    progress: bool,
    metadata: RecapMetadata,
) -> ExportSummary:
    from lerobot.datasets.feature_utils import get_hf_features_from_features
    from tqdm import tqdm

    chunks_size = info.chunks_size
    features = {name: {k: v for k, v in ft.items() if k != "fps"} for name, ft in info.features.items()}
    features.update({name: dict(ft) for name, ft in PISTAR_FEATURES.items()})  # adv_ind: int64 code -> string
    # LeRobot compares shapes as tuples (`shape == (1,)` makes a scalar column); JSON gives lists.
    schema = get_hf_features_from_features({n: {**ft, "shape": tuple(ft["shape"])} for n, ft in features.items()}).arrow_schema
    parquet_columns = [name for name, ft in features.items() if ft["dtype"] != "video"]
    numeric = [name for name in parquet_columns if _feature_kind(features[name]) == "numeric"]
    visual = [name for name, ft in features.items() if _feature_kind(ft) == "visual"]
    source_stats = {ep: i for i, ep in enumerate(episodes["episode_index"])}

    episodes_jsonl, stats_jsonl = [], []
    adv_counts: dict[str, int] = {}
    n_frames = 0
    for src in tqdm(data_files(source_root), desc="writing v2.1 episodes", disable=not progress, unit="file"):
        table = read_parquet(src)
        episode_index = table.column("episode_index").to_numpy()
        bounds = recap_math.episode_bounds(episode_index)  # also refuses an episode split within the file
        for start, end in zip(bounds.starts.tolist(), bounds.ends.tolist(), strict=True):
            source_ep = int(episode_index[start])
            if source_ep not in episode_map:
                raise DatasetError(f"{src} holds episode {source_ep}, which meta/episodes does not list")
            new_ep = episode_map[source_ep]
            part = table.slice(start, end - start)
            part, columns = _to_pistar_columns(part, new_ep, n_frames)
            for name, count in zip(*np.unique(columns[C.ADV_IND], return_counts=True), strict=True):
                adv_counts[str(name)] = adv_counts.get(str(name), 0) + int(count)
            path = tmp_root / V21_DATA_PATH.format(episode_chunk=new_ep // chunks_size, episode_index=new_ep)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(part.select(parquet_columns).cast(schema), path)

            row = source_stats[source_ep]
            episodes_jsonl.append({"episode_index": new_ep, "tasks": list(episodes["tasks"][row]), "length": end - start})
            stats = {name: _v21_stats(columns[name]) for name in numeric}
            for name in visual:  # image statistics come from the source's per-episode stats (3, 1, 1) per stat
                keys = [f"stats/{name}/{stat}" for stat in V21_STATS]
                if all(key in episodes for key in keys):
                    stats[name] = {stat: episodes[key][row] for stat, key in zip(V21_STATS, keys, strict=True)}
            stats_jsonl.append({"episode_index": new_ep, "stats": stats})
            n_frames += end - start
    if n_frames != info.total_frames or len(episodes_jsonl) != len(episode_map):
        raise DatasetError(
            f"{source_root}: the data files hold {n_frames} frames of {len(episodes_jsonl)} episodes but info.json / "
            f"meta/episodes declare {info.total_frames} frames of {len(episode_map)} episodes"
        )
    episodes_jsonl.sort(key=lambda row: row["episode_index"])
    stats_jsonl.sort(key=lambda row: row["episode_index"])

    video_keys = [name for name, ft in features.items() if ft["dtype"] == "video"]
    copied = reencoded = 0
    for key in video_keys:
        for row, source_ep in enumerate(tqdm(episodes["episode_index"], desc=f"cutting {key}", disable=not progress)):
            new_ep = episode_map[int(source_ep)]
            src = source_root / info.video_path.format(
                video_key=key,
                chunk_index=episodes[f"videos/{key}/chunk_index"][row],
                file_index=episodes[f"videos/{key}/file_index"][row],
            )
            dst = tmp_root / V21_VIDEO_PATH.format(episode_chunk=new_ep // chunks_size, video_key=key, episode_index=new_ep)
            was_copied = cut_video_segment(
                src,
                dst,
                start_s=episodes[f"videos/{key}/from_timestamp"][row],
                end_s=episodes[f"videos/{key}/to_timestamp"][row],
                fps=info.fps,
                n_frames=episodes_jsonl[new_ep]["length"],
                reencode=cfg.reencode_videos,
                video_info=info.features[key].get("info"),
            )
            copied += was_copied
            reencoded += not was_copied
            if not was_copied:
                features[key].setdefault("info", {})["video.codec"] = _video_codec(dst)

    _write_meta(source_root, tmp_root, info, features, episodes_jsonl, stats_jsonl, video_keys, chunks_size)
    metadata.episodes = {episode_map[ep]: value for ep, value in metadata.episodes.items() if ep in episode_map}
    renumbered = {str(old): new for old, new in episode_map.items() if old != new}
    metadata.add_history(
        "export_pistar", source=str(source_root), layout=V21, **({"episode_index_map": renumbered} if renumbered else {})
    )
    save_recap_metadata(tmp_root, metadata)
    return ExportSummary(
        output_root=tmp_root,
        n_episodes=len(episodes_jsonl),
        n_frames=n_frames,
        episode_map=episode_map,
        videos_copied=copied,
        videos_reencoded=reencoded,
        adv_ind_counts=adv_counts,
    )


def _to_pistar_columns(part, new_episode: int, first_index: int) -> tuple[Any, dict[str, np.ndarray]]:
    """Renumber one episode's rows and turn ``adv_ind`` codes into pistar's strings; also return numpy columns."""
    import pyarrow as pa

    from lerobot_recap.data.dataset_io import column_to_numpy

    n = part.num_rows
    codes = column_to_numpy(part.column(C.ADV_IND)).reshape(-1)
    unknown = sorted(set(np.unique(codes).tolist()) - set(C.ADV_IND_STRINGS))
    if unknown:
        raise DatasetError(f"adv_ind holds codes {unknown} that are not {sorted(C.ADV_IND_STRINGS)}: re-annotate the dataset")
    lookup = np.array([C.ADV_IND_STRINGS[C.ADV_NEGATIVE], C.ADV_IND_STRINGS[C.ADV_NONE], C.ADV_IND_STRINGS[C.ADV_POSITIVE]])
    strings = lookup[codes.astype(np.int64) + 1]
    replaced = {
        "episode_index": pa.array(np.full(n, new_episode, dtype=np.int64)),
        "index": pa.array(np.arange(first_index, first_index + n, dtype=np.int64)),
        C.ADV_IND: pa.array(strings.tolist(), type=pa.string()),
    }
    for name, values in replaced.items():
        part = part.set_column(part.column_names.index(name), name, values)
    columns = {  # image columns (structs of bytes) have no numeric statistics
        name: (strings if name == C.ADV_IND else column_to_numpy(part.column(name)))
        for name in part.column_names
        if not pa.types.is_struct(part.schema.field(name).type)
    }
    return part, columns


def _v21_stats(values: np.ndarray) -> dict[str, list]:
    """min, max, mean, std and count of one episode's column, as v2.1's ``episodes_stats.jsonl`` stores them."""
    values = values.reshape(values.shape[0], -1)
    as_float = values.astype(np.float64)
    return {
        "min": values.min(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
        "mean": as_float.mean(axis=0).tolist(),
        "std": as_float.std(axis=0).tolist(),
        "count": [int(values.shape[0])],
    }


def _write_meta(
    source_root: Path,
    tmp_root: Path,
    info: DatasetInfo,
    features: dict[str, Any],
    episodes_jsonl: list[dict],
    stats_jsonl: list[dict],
    video_keys: list[str],
    chunks_size: int,
) -> None:
    import pyarrow.parquet as pq

    n_episodes = len(episodes_jsonl)
    tasks = pq.read_table(source_root / "meta" / "tasks.parquet").to_pandas()
    task_rows = sorted(
        ({"task_index": int(idx), "task": str(task)} for task, idx in zip(tasks.index, tasks["task_index"], strict=True)),
        key=lambda row: row["task_index"],
    )
    v21_info = {
        "codebase_version": V21,
        "robot_type": info.robot_type,
        "total_episodes": n_episodes,
        "total_frames": sum(row["length"] for row in episodes_jsonl),
        "total_tasks": len(task_rows),
        "total_videos": n_episodes * len(video_keys),
        "total_chunks": (n_episodes - 1) // chunks_size + 1 if n_episodes else 0,
        "chunks_size": chunks_size,
        "fps": info.fps,
        "splits": {"train": f"0:{n_episodes}"},
        "data_path": V21_DATA_PATH,
        "video_path": V21_VIDEO_PATH if video_keys else None,
        "features": features,
    }
    write_json_atomic(tmp_root / "meta" / "info.json", v21_info)
    _write_jsonl(tmp_root / "meta" / "episodes.jsonl", episodes_jsonl)
    _write_jsonl(tmp_root / "meta" / "tasks.jsonl", task_rows)
    _write_jsonl(tmp_root / "meta" / "episodes_stats.jsonl", stats_jsonl)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def cut_video_segment(
    src: Path,
    dst: Path,
    start_s: float,
    end_s: float,
    fps: float,
    n_frames: int,
    reencode: bool = False,
    video_info: dict[str, Any] | None = None,
) -> bool:
    """Write the frames of ``src`` in [start_s, end_s) to ``dst`` with timestamps starting at 0.

    Copies the segment's packets when they start on a keyframe and number ``n_frames`` (returns True), as in every
    segment of a video LeRobot wrote. Otherwise, or with ``reencode``, decodes the segment and
    re-encodes it (returns False) with the encoder settings the dataset recorded for the video (``video_info``, the
    feature's ``info`` in ``info.json``: codec, pixel format, GOP, CRF, preset), LeRobot's defaults where absent.
    Frames are matched to the segment with half a frame of tolerance. Raises if the segment does not hold
    ``n_frames`` frames.
    """
    import av

    dst.parent.mkdir(parents=True, exist_ok=True)
    half_frame = 0.5 / fps
    start, end = start_s - half_frame, end_s - half_frame
    if not reencode:
        with av.open(str(src)) as container:
            stream = container.streams.video[0]
            packets = _segment_packets(container, stream, start, end)
            if packets and packets[0].is_keyframe and len(packets) == n_frames:
                _write_packets(stream, packets, dst)
                return True
        logger.info("%s: segment [%.3f, %.3f) does not start on a keyframe, re-encoding it", src, start_s, end_s)
    written = _reencode_segment(src, dst, start, end, fps, video_info)
    if written != n_frames:
        raise DatasetError(f"{src}: the segment [{start_s:.3f}, {end_s:.3f}) s holds {written} frames, expected {n_frames}")
    return False


def _segment_packets(container: Any, stream: Any, start: float, end: float) -> list:
    """The packets shown in [start, end), in the order the demuxer returns them (stops at the first shown later)."""
    container.seek(int(max(start, 0.0) / stream.time_base), stream=stream, backward=True)
    packets = []
    for packet in container.demux(stream):
        if packet.pts is None:  # the demuxer's flush packet
            continue
        shown_at = float(packet.pts * stream.time_base)
        if shown_at >= end:
            break
        if shown_at >= start:
            packets.append(packet)
    return packets


def _write_packets(stream: Any, packets: list, dst: Path) -> None:
    """Mux ``packets`` (one stream, decode order) into ``dst``, shifted so that the first frame shown is at t=0."""
    import av

    offset = min(packet.pts for packet in packets)
    with av.open(str(dst), mode="w", options={"movflags": "faststart"}) as out:
        out_stream = out.add_stream_from_template(template=stream, opaque=True)
        out_stream.time_base = stream.time_base
        for packet in packets:
            packet.pts -= offset
            packet.dts = (packet.dts - offset) if packet.dts is not None else None
            packet.stream = out_stream
            out.mux(packet)


def _reencode_segment(src: Path, dst: Path, start: float, end: float, fps: float, video_info: dict[str, Any] | None) -> int:
    """Decode the frames of ``src`` shown in [start, end) and encode them into ``dst`` as the dataset encodes videos.

    The encoder is LeRobot's ``VideoEncoderConfig`` rebuilt from the feature's recorded ``info`` (its codec, pixel
    format, GOP, CRF and preset), not FFmpeg's built-in defaults for the codec, which differ from what LeRobot
    writes (libsvtav1's are preset 8, a 161-frame GOP and CRF 35 where LeRobot records preset 12, GOP 2 and CRF 30).
    Returns the number of frames written.
    """
    import av
    from lerobot.configs.video import encoder_config_from_video_info

    try:
        encoder = encoder_config_from_video_info(video_info)
    except ValueError as err:  # e.g. a hardware encoder the recording machine had and this one lacks
        raise DatasetError(f"{src}: cannot re-encode a segment with the dataset's recorded encoder settings ({err})") from err
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        container.seek(int(max(start - 1.0, 0.0) / stream.time_base), stream=stream, backward=True)
        written = 0
        with av.open(str(dst), mode="w", options={"movflags": "faststart"}) as out:
            out_stream = out.add_stream(
                encoder.vcodec, rate=Fraction(fps).limit_denominator(1001), options=encoder.get_codec_options(as_strings=True)
            )
            out_stream.width, out_stream.height = stream.codec_context.width, stream.codec_context.height
            out_stream.pix_fmt = encoder.pix_fmt
            out_stream.time_base = Fraction(1, int(round(fps)))
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base)
                if t < start:
                    continue
                if t >= end:
                    break
                image = frame.reformat(format=encoder.pix_fmt)
                image.pts = written
                image.time_base = out_stream.time_base
                for packet in out_stream.encode(image):
                    out.mux(packet)
                written += 1
            for packet in out_stream.encode():
                out.mux(packet)
    return written


def _video_codec(path: Path) -> str:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.codec.canonical_name
