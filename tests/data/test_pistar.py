"""pistar interop: import what limb's `convert-lerobot --pistar` writes, export to the v2.1 layout, round trips."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.dataset_io import EXPORT_MARKER, DatasetError, read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.data.pistar import ExportPistarConfig, cut_video_segment, export_pistar
from lerobot_recap.data.synthetic import random_episodes
from tests.conftest import cli_env, tree_digest

LIMB_EPISODES = [  # (task, success, intervention flags): a demo, a corrected success, a failed rollout, a correction
    ("hand the cup over", True, np.ones(9, dtype=np.int64)),
    ("hand the cup over", True, np.r_[np.zeros(4), np.ones(3), np.zeros(5)].astype(np.int64)),
    ("place the vial", False, np.zeros(7, dtype=np.int64)),
    ("place the vial", False, np.r_[np.zeros(2), np.ones(4)].astype(np.int64)),
]


def limb_pistar_columns(success: bool, intervention: np.ndarray) -> dict[str, np.ndarray]:
    """The five columns as limb's `convert-lerobot --pistar` derives them (reference/pistar.md section 1)."""
    T = intervention.size
    t = np.arange(T)
    reward = np.zeros(T, dtype=np.float32)
    reward_label = np.full(T, -1.0 / T, dtype=np.float32)
    reward_label[-1] = 0.0  # limb: terminal 0 regardless of outcome
    if success:
        reward[-1] = 1.0
        value_label = (-(T - 1 - t) / T).astype(np.float32)
    else:
        value_label = np.full(T, -1.0, dtype=np.float32)
    adv_ind = np.where(intervention == 1, "positive", "none")
    return {
        C.INTERVENTION: intervention,
        C.REWARD: reward,
        C.REWARD_LABEL: reward_label,
        C.VALUE_LABEL: value_label,
        C.ADV_IND: adv_ind,
    }


def make_limb_pistar_dataset(root: Path, legacy_value_name: bool = False) -> Path:
    """A v3.0 dataset written through LeRobot's API with the five columns named and encoded as limb writes them."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    value_name = "value_lable" if legacy_value_name else C.VALUE_LABEL
    features = {
        "observation.state": {"dtype": "float32", "shape": (14,), "names": [f"joint_{i}" for i in range(14)]},
        "action": {"dtype": "float32", "shape": (14,), "names": [f"joint_{i}" for i in range(14)]},
        "observation.images.head_camera": {"dtype": "image", "shape": (8, 8, 3), "names": ["height", "width", "channels"]},
        C.INTERVENTION: {"dtype": "int64", "shape": (1,), "names": ["intervention_flag"]},
        C.REWARD: {"dtype": "float32", "shape": (1,), "names": None},
        C.REWARD_LABEL: {"dtype": "float32", "shape": (1,), "names": None},
        value_name: {"dtype": "float32", "shape": (1,), "names": None},
        C.ADV_IND: {"dtype": "string", "shape": (1,), "names": None},
    }
    dataset = LeRobotDataset.create(repo_id="local/limb", fps=30, root=root, features=features, image_writer_threads=0)
    rng = np.random.default_rng(0)
    for task, success, intervention in LIMB_EPISODES:
        columns = limb_pistar_columns(success, intervention)
        for t in range(intervention.size):
            frame = {
                "observation.state": rng.standard_normal(14).astype(np.float32),
                "action": rng.standard_normal(14).astype(np.float32),
                "observation.images.head_camera": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
                "task": task,
                C.ADV_IND: str(columns[C.ADV_IND][t]),
            }
            for name in (C.INTERVENTION, C.REWARD, C.REWARD_LABEL):
                frame[name] = np.array([columns[name][t]], dtype=features[name]["dtype"])
            frame[value_name] = np.array([columns[C.VALUE_LABEL][t]], dtype=np.float32)
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    return root


def _annotated(make_dataset, tmp_path, name: str = "src", **kwargs) -> Path:
    source = make_dataset(name, **kwargs)
    return annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / f"{name}_recap"), progress=False).output_root


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- import: what limb's --pistar writes


@pytest.mark.parametrize("legacy_value_name", [False, True])
def test_annotate_reads_a_limb_pistar_dataset(tmp_path, legacy_value_name):
    source = make_limb_pistar_dataset(tmp_path / "limb", legacy_value_name=legacy_value_name)
    assert not (source / "meta/recap.json").exists(), "limb writes no recap.json: outcomes come from `reward`"
    before = tree_digest(source)
    summary = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out"), progress=False)
    assert tree_digest(source) == before
    out = summary.output_root

    meta = load_recap_metadata(out)
    outcomes = [meta.episodes[i].outcome for i in range(len(LIMB_EPISODES))]
    assert outcomes == [C.Outcome.SUCCESS if success else C.Outcome.FAILURE for _, success, _ in LIMB_EPISODES]
    assert [meta.episodes[i].source for i in range(4)] == [
        C.Source.DEMO, C.Source.CORRECTION, C.Source.ROLLOUT, C.Source.CORRECTION
    ]
    cols = read_frame_columns(out, ["episode_index", *C.RECAP_COLUMNS])
    human = np.concatenate([flags for _, _, flags in LIMB_EPISODES])
    np.testing.assert_array_equal(cols[C.INTERVENTION], human)
    np.testing.assert_array_equal(cols[C.ADV_IND], np.where(human == 1, C.ADV_POSITIVE, C.ADV_NONE))
    assert cols[C.ADV_IND].dtype == np.int64
    for ep, (_, success, flags) in enumerate(LIMB_EPISODES):
        sel = cols["episode_index"] == ep
        reward, value = cols[C.REWARD][sel], cols[C.VALUE_LABEL][sel].astype(np.float64)
        assert reward.sum() == (1 if success else 0) and (reward[-1] == 1) == success
        np.testing.assert_allclose(value, np.cumsum(cols[C.REWARD_LABEL][sel][::-1])[::-1], atol=1e-5)
        assert value.min() >= -1 and (value[-1] == 0) == success
    # This project's convention replaces limb's: failures end below 0 (limb ends them at -1 with a 0 terminal reward).
    info = json.loads((out / "meta/info.json").read_text())
    assert info["features"][C.ADV_IND]["dtype"] == "int64"
    assert "value_lable" not in info["features"] and "value_lable" not in pq.read_schema(next((out / "data").rglob("*.parquet"))).names
    stats = json.loads((out / "meta/stats.json").read_text())
    assert stats[C.ADV_IND]["count"] == [human.size]


def test_a_v21_dataset_is_refused_with_the_converter_named(make_dataset, tmp_path):
    """pistar's own collectors write v2.1: annotate points to LeRobot's converter and writes nothing."""
    annotated = _annotated(make_dataset, tmp_path)
    exported = export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "v21"), progress=False).output_root
    # LeRobot 0.6's converter takes the dataset folder itself as --root (0.4's took its parent).
    converter = f"convert_dataset_v21_to_v30 --repo-id=local/v21 --root={exported} --push-to-hub=false"
    with pytest.raises(DatasetError, match=r"v2\.1 dataset.*" + re.escape(converter)):
        annotate_dataset(AnnotateConfig(root=exported, output_root=tmp_path / "again"), progress=False)
    assert not (tmp_path / "again").exists()


# ---------------------------------------------------------------- export: the v2.1 layout pistar reads


def test_export_writes_one_parquet_per_episode_with_the_annotated_values(make_dataset, tmp_path):
    annotated = _annotated(make_dataset, tmp_path, episodes=random_episodes(7, seed=4))
    before = tree_digest(annotated)
    summary = export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "pistar"), progress=False)
    assert tree_digest(annotated) == before, "the annotated source stays byte-for-byte unchanged"
    out = summary.output_root
    source = read_frame_columns(annotated, ["episode_index", "frame_index", "task_index", "observation.state", *C.RECAP_COLUMNS])
    source_info = json.loads((annotated / "meta/info.json").read_text())

    info = json.loads((out / "meta/info.json").read_text())
    episodes = _read_jsonl(out / "meta/episodes.jsonl")
    tasks = {row["task_index"]: row["task"] for row in _read_jsonl(out / "meta/tasks.jsonl")}
    stats = {row["episode_index"]: row["stats"] for row in _read_jsonl(out / "meta/episodes_stats.jsonl")}
    assert info["codebase_version"] == "v2.1"
    assert info["total_episodes"] == len(episodes) == 7 and info["splits"] == {"train": "0:7"}
    assert info["total_frames"] == source_info["total_frames"] == sum(row["length"] for row in episodes)
    assert info["total_tasks"] == len(tasks) == 2 and info["total_chunks"] == 1 and info["video_path"] is None
    assert {name: info["features"][name]["dtype"] for name in C.RECAP_COLUMNS} == {
        C.INTERVENTION: "int64", C.REWARD: "float32", C.REWARD_LABEL: "float32", C.VALUE_LABEL: "float32", C.ADV_IND: "string"
    }
    assert info["features"]["observation.images.top"]["dtype"] == "image"
    source_tasks = pq.read_table(annotated / "meta/tasks.parquet").to_pandas()
    assert tasks == {int(i): t for t, i in zip(source_tasks.index, source_tasks["task_index"], strict=True)}

    parquet_files = sorted((out / "data").rglob("*.parquet"))
    assert [p.relative_to(out).as_posix() for p in parquet_files] == [
        info["data_path"].format(episode_chunk=0, episode_index=ep) for ep in range(7)
    ]
    index = 0
    for ep, row in enumerate(episodes):
        assert row["episode_index"] == ep
        table = pq.read_table(out / info["data_path"].format(episode_chunk=0, episode_index=ep))
        assert set(table.column_names) == {n for n, ft in info["features"].items() if ft["dtype"] != "video"}
        frames = table.to_pydict()
        sel = source["episode_index"] == ep
        assert row["length"] == table.num_rows == sel.sum()
        assert row["tasks"] == [tasks[int(source["task_index"][sel][0])]]
        assert frames["episode_index"] == [ep] * row["length"]
        assert frames["index"] == list(range(index, index + row["length"]))
        np.testing.assert_array_equal(frames["frame_index"], source["frame_index"][sel])
        np.testing.assert_array_equal(np.asarray(frames["observation.state"], dtype=np.float32), source["observation.state"][sel])
        for name in (C.INTERVENTION, C.REWARD, C.REWARD_LABEL, C.VALUE_LABEL):
            np.testing.assert_array_equal(np.asarray(frames[name]), source[name][sel], err_msg=f"{name}, episode {ep}")
        assert frames[C.ADV_IND] == [C.adv_ind_to_string(code) for code in source[C.ADV_IND][sel]]
        assert all(isinstance(image["bytes"], bytes) for image in frames["observation.images.top"])
        assert stats[ep][C.VALUE_LABEL]["count"] == [row["length"]]
        assert stats[ep][C.VALUE_LABEL]["min"] == [float(source[C.VALUE_LABEL][sel].min())]
        assert stats[ep]["index"]["max"] == [index + row["length"] - 1]
        assert np.asarray(stats[ep]["observation.images.top"]["mean"]).shape == (3, 1, 1)
        assert C.ADV_IND not in stats[ep], "v2.1 keeps no statistics of string columns"
        index += row["length"]
    assert summary.adv_ind_counts == {
        C.adv_ind_to_string(code): int(n) for code, n in zip(*np.unique(source[C.ADV_IND], return_counts=True), strict=True)
    }
    assert (out / EXPORT_MARKER).is_file(), "the marker that lets a later --overwrite replace the export"
    exported_meta = load_recap_metadata(out)
    assert exported_meta.history[-1]["step"] == "export_pistar"
    assert exported_meta.episodes == load_recap_metadata(annotated).episodes
    # HF `datasets` reads an exported episode with the features that info.json declares.
    from datasets import Dataset

    episode = Dataset.from_parquet(str(parquet_files[0]))
    assert episode.features[C.ADV_IND].dtype == "string"
    assert episode.features[C.INTERVENTION].dtype == "int64"


def test_export_cuts_one_video_per_episode_without_reencoding(make_dataset, tmp_path):
    import av

    annotated = _annotated(make_dataset, tmp_path, episodes=random_episodes(3, seed=5), use_videos=True, image_size=(32, 32))
    summary = export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "pistar"), progress=False)
    assert (summary.videos_copied, summary.videos_reencoded) == (3, 0)
    out = summary.output_root
    info = json.loads((out / "meta/info.json").read_text())
    assert info["total_videos"] == 3
    episodes = _read_jsonl(out / "meta/episodes.jsonl")
    source_video = next((annotated / "videos").rglob("*.mp4"))
    with av.open(str(source_video)) as container:
        source_packets = [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    exported_packets = []
    for row in episodes:
        path = out / info["video_path"].format(episode_chunk=0, video_key="observation.images.top", episode_index=row["episode_index"])
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            assert len(frames) == row["length"]
            assert float(frames[0].pts * stream.time_base) == 0.0, "each episode's video starts at t=0"
        with av.open(str(path)) as container:
            exported_packets += [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    assert exported_packets == source_packets, "the segments are the source's packets, not a re-encode"

    # Forced re-encoding (the fallback for segments that do not start on a keyframe) keeps every frame, and encodes
    # as the dataset recorded its videos (LeRobot's codec, GOP 2), not with the codec's FFmpeg defaults.
    recorded = json.loads((annotated / "meta/info.json").read_text())["features"]["observation.images.top"]["info"]
    assert (recorded["video.codec"], recorded["video.g"]) == ("av1", 2)
    forced = export_pistar(
        ExportPistarConfig(root=annotated, output_root=tmp_path / "reencoded", reencode_videos=True), progress=False
    )
    assert (forced.videos_copied, forced.videos_reencoded) == (0, 3)
    for row in episodes:
        path = forced.output_root / info["video_path"].format(
            episode_chunk=0, video_key="observation.images.top", episode_index=row["episode_index"]
        )
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.codec.canonical_name == "av1"
            keyframes = [p.is_keyframe for p in container.demux(stream) if p.size]
        assert keyframes == [i % 2 == 0 for i in range(row["length"])], "one keyframe every 2 frames, as recorded"
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
        assert len(frames) == row["length"] and frames[0].shape == (32, 32, 3)


def test_a_segment_with_the_wrong_frame_count_is_refused(make_dataset, tmp_path):
    annotated = _annotated(make_dataset, tmp_path, episodes=random_episodes(2, seed=6), use_videos=True, image_size=(32, 32))
    video = next((annotated / "videos").rglob("*.mp4"))
    with pytest.raises(DatasetError, match="holds .* frames, expected 99"):
        cut_video_segment(video, tmp_path / "x.mp4", start_s=0.0, end_s=0.5, fps=30, n_frames=99)


def test_export_round_trips_through_lerobots_v21_to_v30_converter(make_dataset, tmp_path):
    """annotate -> export (v2.1) -> LeRobot's converter (v3.0) -> annotate gives the same five columns."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.scripts.convert_dataset_v21_to_v30 import convert_dataset

    annotated = _annotated(make_dataset, tmp_path, episodes=random_episodes(5, seed=7), use_videos=True, image_size=(32, 32))
    exported = export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "pistar"), progress=False).output_root
    converted = tmp_path / "rt"
    shutil.copytree(exported, converted)
    # In place, as the converter command that annotate prints for a v2.1 dataset says (--root is the dataset folder).
    convert_dataset(repo_id="local/rt", root=str(converted), push_to_hub=False)
    assert json.loads((converted / "meta/info.json").read_text())["codebase_version"] == "v3.0"
    assert json.loads((tmp_path / "rt_old/meta/info.json").read_text())["codebase_version"] == "v2.1"

    dataset = LeRobotDataset("local/rt", root=converted, video_backend="pyav")
    original = LeRobotDataset("local/src", root=annotated, video_backend="pyav")
    assert dataset.meta.total_episodes == 5 and len(dataset) == len(original)
    for i in (0, len(dataset) // 2, len(dataset) - 1):
        assert dataset[i][C.ADV_IND] == C.adv_ind_to_string(int(original[i][C.ADV_IND]))
        assert dataset[i]["task"] == original[i]["task"]
        assert (dataset[i]["observation.images.top"] == original[i]["observation.images.top"]).all()

    again = annotate_dataset(AnnotateConfig(root=converted, output_root=tmp_path / "again"), progress=False).output_root
    first, second = (read_frame_columns(root, ["episode_index", *C.RECAP_COLUMNS]) for root in (annotated, again))
    for name in first:
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)
    assert load_recap_metadata(again).episodes == load_recap_metadata(annotated).episodes


# ---------------------------------------------------------------- bad input and atomicity


def test_export_refuses_bad_input_and_leaves_nothing_behind(make_dataset, tmp_path):
    plain = make_dataset("plain")
    with pytest.raises(DatasetError, match="lacks the RECAP column.*run lerobot-recap-annotate"):
        export_pistar(ExportPistarConfig(root=plain, output_root=tmp_path / "o1"), progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        export_pistar(ExportPistarConfig(root=tmp_path / "missing", output_root=tmp_path / "o1"), progress=False)
    assert not (tmp_path / "o1").exists()
    limb = make_limb_pistar_dataset(tmp_path / "limb")
    with pytest.raises(DatasetError, match="stores adv_ind as 'string'.*run lerobot-recap-annotate"):
        export_pistar(ExportPistarConfig(root=limb, output_root=tmp_path / "o1"), progress=False)

    annotated = _annotated(make_dataset, tmp_path)
    (tmp_path / "taken").mkdir()
    with pytest.raises(DatasetError, match="already exists.*--overwrite"):
        export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "taken"), progress=False)
    export_pistar(ExportPistarConfig(root=annotated, output_root=tmp_path / "taken", overwrite=True), progress=False)
    assert (tmp_path / "taken/meta/episodes.jsonl").exists() and (tmp_path / "taken" / EXPORT_MARKER).is_file()
    # A merge of rounds annotated separately (LeRobot's merge drops meta/recap.json) is refused before any write;
    # tests/data/test_annotation_validation.py covers the merge itself.
    stripped = tmp_path / "stripped"
    shutil.copytree(annotated, stripped)
    (stripped / "meta/recap.json").unlink()
    with pytest.raises(DatasetError, match="no meta/recap.json.*run lerobot-recap-annotate once"):
        export_pistar(ExportPistarConfig(root=stripped, output_root=tmp_path / "o3"), progress=False)
    assert not (tmp_path / "o3").exists()

    # A failure mid-write (a bad adv_ind code in one data file) removes the temp directory; no output appears.
    broken = tmp_path / "broken"
    shutil.copytree(annotated, broken)
    path = next((broken / "data").rglob("*.parquet"))
    table = pq.read_table(path)
    codes = table.column(C.ADV_IND).to_numpy().copy()
    codes[-1] = 7
    table = table.set_column(table.column_names.index(C.ADV_IND), C.ADV_IND, __import__("pyarrow").array(codes))
    pq.write_table(table, path)
    with pytest.raises(DatasetError, match=r"adv_ind holds codes \[7\]"):
        export_pistar(ExportPistarConfig(root=broken, output_root=tmp_path / "o2"), progress=False)
    assert not (tmp_path / "o2").exists()
    assert not list(tmp_path.glob(".o2.recap-tmp-*"))


@pytest.mark.slow
def test_export_cli_help_and_run(make_dataset, tmp_path):
    script = [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_export_pistar"]
    result = subprocess.run([*script, "--help"], env=cli_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    for field_name in ExportPistarConfig.__dataclass_fields__:
        assert f"--{field_name}" in result.stdout
    assert result.stdout.count("(default:") == len(ExportPistarConfig.__dataclass_fields__) + 1, "every field has help"
    annotated = _annotated(make_dataset, tmp_path)
    out = tmp_path / "pistar"
    result = subprocess.run(
        [*script, f"--root={annotated}", f"--output_root={out}"], env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exported 6 episodes" in result.stdout + result.stderr
    assert json.loads((out / "meta/info.json").read_text())["codebase_version"] == "v2.1"
    result = subprocess.run(
        [*script, f"--root={annotated}", f"--output_root={out}"], env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and "already exists" in result.stdout + result.stderr


def test_export_renumbers_non_contiguous_episode_indices(make_dataset, tmp_path):
    """v2.1 readers index episodes by position: indices 0, 4, 9 become 0, 1, 2 and the mapping is recorded."""
    import pyarrow as pa

    annotated = _annotated(make_dataset, tmp_path, episodes=random_episodes(3, seed=8))
    gapped = tmp_path / "gapped"
    shutil.copytree(annotated, gapped)
    mapping = {0: 0, 1: 4, 2: 9}
    for path in [*(gapped / "data").rglob("*.parquet"), *(gapped / "meta/episodes").rglob("*.parquet")]:
        table = pq.read_table(path)
        column = table.column_names.index("episode_index")
        renumbered = [mapping[ep] for ep in table.column("episode_index").to_pylist()]
        table = table.set_column(column, "episode_index", pa.array(renumbered, type=pa.int64()))
        pq.write_table(table, path)
    recap = json.loads((gapped / "meta/recap.json").read_text())
    recap["episodes"] = {str(mapping[int(k)]): v for k, v in recap["episodes"].items()}
    (gapped / "meta/recap.json").write_text(json.dumps(recap))

    summary = export_pistar(ExportPistarConfig(root=gapped, output_root=tmp_path / "pistar"), progress=False)
    assert summary.episode_map == {0: 0, 4: 1, 9: 2}
    out = summary.output_root
    assert [row["episode_index"] for row in _read_jsonl(out / "meta/episodes.jsonl")] == [0, 1, 2]
    source = read_frame_columns(gapped, ["episode_index", C.VALUE_LABEL])
    for old, new in summary.episode_map.items():
        table = pq.read_table(out / f"data/chunk-000/episode_{new:06d}.parquet")
        assert set(table.column("episode_index").to_pylist()) == {new}
        np.testing.assert_array_equal(table.column(C.VALUE_LABEL).to_numpy(), source[C.VALUE_LABEL][source["episode_index"] == old])
    meta = load_recap_metadata(out)
    assert meta.history[-1]["episode_index_map"] == {"4": 1, "9": 2}
    assert meta.episodes == {new: load_recap_metadata(gapped).episodes[old] for old, new in summary.episode_map.items()}
