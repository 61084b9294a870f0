"""lerobot-recap-annotate on real LeRobot v3.0 datasets: the five columns, copy-on-write, atomicity, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.dataset_io import DatasetError, read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, random_episodes
from tests.conftest import cli_env, tree_digest
from tests.data.stats_check import assert_stats_describe_columns


def _columns(root: Path) -> dict[str, np.ndarray]:
    return read_frame_columns(root, ["episode_index", "task_index", *C.RECAP_COLUMNS])


def _check_invariants(root: Path) -> None:
    cols = _columns(root)
    meta = load_recap_metadata(root)
    assert meta.convention_version == C.CONVENTION_VERSION
    for ep in np.unique(cols["episode_index"]):
        sel = cols["episode_index"] == ep
        r, v = cols[C.REWARD_LABEL][sel].astype(np.float64), cols[C.VALUE_LABEL][sel].astype(np.float64)
        np.testing.assert_allclose(v, np.cumsum(r[::-1])[::-1], atol=1e-5)
        assert v.min() >= -1 and v.max() <= 0
        outcome = meta.episodes[int(ep)].outcome
        if outcome == C.Outcome.SUCCESS:
            assert v[-1] == 0 and cols[C.REWARD][sel][-1] == 1
        else:
            assert cols[C.REWARD][sel].sum() == 0 and v[-1] < 0
        human = cols[C.INTERVENTION][sel]
        expected = np.where(human == 1, C.ADV_POSITIVE, C.ADV_NONE)
        assert np.array_equal(cols[C.ADV_IND][sel], expected)


def test_annotate_writes_the_five_columns_into_a_copy(make_dataset, demo_episodes, tmp_path):
    source = make_dataset("src", episodes=demo_episodes)
    before = tree_digest(source)
    summary = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out"), progress=False)
    assert tree_digest(source) == before, "the source dataset must stay byte-for-byte unchanged"
    _check_invariants(summary.output_root)
    cols = _columns(summary.output_root)
    np.testing.assert_array_equal(cols[C.INTERVENTION], np.concatenate([e.human for e in demo_episodes]))
    meta = load_recap_metadata(summary.output_root)
    assert [meta.episodes[i].source for i in range(3)] == [C.Source.DEMO, C.Source.ROLLOUT, C.Source.CORRECTION]
    # L per task is the task's longest episode; C_fail = L with the default coefficient.
    tasks = {c.task: c for c in meta.tasks.values()}
    assert tasks["pick up the cube"].norm_length == 11 and tasks["place the object"].norm_length == 5
    assert tasks["pick up the cube"].c_fail == 11.0
    # info.json and stats.json describe the new columns.
    info = json.loads((summary.output_root / "meta/info.json").read_text())
    stats = json.loads((summary.output_root / "meta/stats.json").read_text())
    for name in C.RECAP_COLUMNS:
        assert info["features"][name]["dtype"] == C.RECAP_FEATURES[name]["dtype"]
        assert stats[name]["count"] == [24]
    assert stats[C.VALUE_LABEL]["max"] == [0.0]


def test_annotate_writes_stats_of_every_column_it_writes(make_dataset, tmp_path):
    """stats.json and the per-episode stats of meta/episodes describe the five columns (and a stripped state)."""
    source = make_dataset("dim", episodes=random_episodes(7, seed=9), intervention_as="state_dim")
    out = annotate_dataset(
        AnnotateConfig(root=source, output_root=tmp_path / "out", intervention="observation.state:intervention"),
        progress=False,
    ).output_root
    assert_stats_describe_columns(out, [*C.RECAP_COLUMNS, "observation.state"])


def test_info_json_is_a_lerobot_dataset_info_and_the_repo_id_is_in_recap_json(make_dataset, demo_episodes, tmp_path):
    """LeRobot 0.6 reads info.json as a DatasetInfo, which drops (and warns about) unknown keys: annotate adds none."""
    import copy
    import dataclasses

    from lerobot.datasets.utils import DatasetInfo

    source = make_dataset("src", episodes=demo_episodes)
    out = annotate_dataset(
        AnnotateConfig(root=source, output_root=tmp_path / "out", output_repo_id="me/round1_recap"), progress=False
    ).output_root
    info = json.loads((out / "meta/info.json").read_text())
    assert set(info) <= {f.name for f in dataclasses.fields(DatasetInfo)}
    assert DatasetInfo.from_dict(copy.deepcopy(info)).to_dict() == info
    assert load_recap_metadata(out).repo_id == "me/round1_recap"
    # Without --output_repo_id: the source's repo id with a suffix, recorded for the next transform to build on.
    again = annotate_dataset(AnnotateConfig(root=out, output_root=tmp_path / "again"), progress=False).output_root
    assert load_recap_metadata(again).repo_id == "me/round1_recap_recap"


def test_annotated_dataset_loads_in_lerobot_and_batches(make_dataset, demo_episodes, tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    source = make_dataset("src", episodes=demo_episodes)
    out = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out"), progress=False).output_root
    dataset = LeRobotDataset("local/out", root=out)
    item = dataset[9]  # episode 1, frame 1: a failed rollout
    assert item[C.INTERVENTION].item() == 0 and item[C.ADV_IND].item() == C.ADV_NONE
    assert item[C.VALUE_LABEL].item() < -0.5
    loader = __import__("torch").utils.data.DataLoader(dataset, batch_size=24)
    batch = next(iter(loader))
    assert batch[C.ADV_IND].shape == (24,)


def test_video_dataset_links_videos_without_reencoding(make_dataset, tmp_path):
    source = make_dataset("vid", episodes=random_episodes(4, seed=3), use_videos=True, image_size=(32, 32))
    out = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out"), progress=False).output_root
    videos = sorted((source / "videos").rglob("*.mp4"))
    assert videos
    for src in videos:
        dst = out / src.relative_to(source)
        assert os.stat(src).st_ino == os.stat(dst).st_ino, "videos are hard-linked, not re-encoded"
    _check_invariants(out)


def test_intervention_from_a_state_dimension_is_moved_to_its_column(make_dataset, demo_episodes, tmp_path):
    source = make_dataset("dim", episodes=demo_episodes, intervention_as="state_dim")
    out = annotate_dataset(
        AnnotateConfig(root=source, output_root=tmp_path / "out", intervention="observation.state:intervention"),
        progress=False,
    ).output_root
    info = json.loads((out / "meta/info.json").read_text())
    assert info["features"]["observation.state"]["shape"] == [6]
    assert C.INTERVENTION not in info["features"]["observation.state"]["names"]
    stats = json.loads((out / "meta/stats.json").read_text())
    assert len(stats["observation.state"]["mean"]) == 6
    cols = read_frame_columns(out, ["observation.state", C.INTERVENTION])
    assert cols["observation.state"].shape[1] == 6
    np.testing.assert_array_equal(cols[C.INTERVENTION], np.concatenate([e.human for e in demo_episodes]))
    # auto finds the same dimension.
    auto = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "auto"), progress=False).output_root
    np.testing.assert_array_equal(read_frame_columns(auto, [C.INTERVENTION])[C.INTERVENTION], cols[C.INTERVENTION])


def test_outcome_sources_and_precedence(make_dataset, demo_episodes, tmp_path):
    source = make_dataset("noout", episodes=demo_episodes, record_outcomes=False)
    with pytest.raises(DatasetError, match=r"3 episode\(s\) have no outcome: \[0, 1, 2\]"):
        annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "o1"), progress=False)
    assert not (tmp_path / "o1").exists()
    outcomes_csv = tmp_path / "outcomes.csv"
    outcomes_csv.write_text("episode_index,outcome\n0,success\n1,failure\n2,failure\n")
    out = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "o2", outcomes=outcomes_csv), progress=False)
    assert out.outcomes == {"success": 1, "failure": 2}
    outcomes_json = tmp_path / "outcomes.json"
    outcomes_json.write_text(json.dumps({"2": "success"}))
    out = annotate_dataset(
        AnnotateConfig(root=source, output_root=tmp_path / "o3", outcomes=outcomes_json, unknown_outcome="failure"),
        progress=False,
    )
    meta = load_recap_metadata(out.output_root)
    assert [meta.episodes[i].outcome.value for i in range(3)] == ["failure", "failure", "success"]
    out = annotate_dataset(
        AnnotateConfig(root=source, output_root=tmp_path / "o4", all_success=True, intervention="all_human"),
        progress=False,
    )
    assert out.outcomes == {"success": 3} and out.sources == {"demo": 3} and out.human_fraction == 1.0


def test_reannotating_replaces_columns_and_drops_stale_labels(make_dataset, demo_episodes, tmp_path):
    source = make_dataset("src", episodes=demo_episodes)
    first = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "a1"), progress=False).output_root
    second = annotate_dataset(
        AnnotateConfig(root=first, output_root=tmp_path / "a2", c_fail_coef=0.5), progress=False
    ).output_root
    info = json.loads((second / "meta/info.json").read_text())
    assert list(info["features"]).count(C.VALUE_LABEL) == 1
    assert load_recap_metadata(second).c_fail_coef == 0.5
    assert [h["step"] for h in load_recap_metadata(second).history] == ["annotate", "annotate"]
    _check_invariants(second)
    v1, v2 = _columns(first)[C.VALUE_LABEL], _columns(second)[C.VALUE_LABEL]
    assert not np.allclose(v1, v2)


def test_annotate_after_a_delete_and_merge_of_rounds(make_dataset, tmp_path):
    from lerobot.datasets.dataset_tools import delete_episodes, merge_datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    src = make_dataset("r1", episodes=random_episodes(5, seed=1))
    trimmed = tmp_path / "r1_trim"
    delete_episodes(LeRobotDataset("local/r1", root=src), [1, 3], output_dir=trimmed, repo_id="local/r1_trim")
    # LeRobot's delete re-indexes and does not carry recap.json: outcomes must be given again.
    with pytest.raises(DatasetError, match="no outcome"):
        annotate_dataset(AnnotateConfig(root=trimmed, output_root=tmp_path / "x"), progress=False)
    a1 = annotate_dataset(
        AnnotateConfig(root=trimmed, output_root=tmp_path / "a1", unknown_outcome="success"), progress=False
    ).output_root
    a2 = annotate_dataset(
        AnnotateConfig(root=make_dataset("r2", episodes=random_episodes(4, seed=2)), output_root=tmp_path / "a2"),
        progress=False,
    ).output_root
    merged = merge_datasets(
        [LeRobotDataset("local/a1", root=a1), LeRobotDataset("local/a2", root=a2)],
        output_repo_id="local/merged",
        output_dir=tmp_path / "merged",
    )
    cols = read_frame_columns(Path(merged.root), ["episode_index", *C.RECAP_COLUMNS])
    assert len(np.unique(cols["episode_index"])) == 3 + 4
    expected = np.concatenate([_columns(a1)[C.VALUE_LABEL], _columns(a2)[C.VALUE_LABEL]])
    np.testing.assert_allclose(cols[C.VALUE_LABEL], expected)


@pytest.mark.parametrize(
    "mutate, message",
    [
        ("missing_root", "does not exist"),
        ("v21", "convert_dataset_v21_to_v30"),
        ("bad_feature", "lacks"),
        ("nan", "NaN"),
        ("output_exists", "already exists"),
        ("output_inside_source", "overlaps"),
        ("bad_outcome_file", "outcome 'maybe'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(make_dataset, demo_episodes, tmp_path, mutate, message):
    source = make_dataset("src", episodes=demo_episodes)
    cfg = AnnotateConfig(root=source, output_root=tmp_path / "out")
    if mutate == "missing_root":
        cfg.root = tmp_path / "nope"
    elif mutate == "v21":
        info_path = source / "meta/info.json"
        info = json.loads(info_path.read_text())
        info["codebase_version"] = "v2.1"
        info_path.write_text(json.dumps(info))
    elif mutate == "bad_feature":
        cfg.intervention = "column:human_flag"
    elif mutate == "nan":
        spec = SyntheticDatasetSpec(episodes=demo_episodes, extra_features={})
        import lerobot_recap.data.synthetic as synth

        nan_root = tmp_path / "nan"
        ds = synth.make_synthetic_dataset(nan_root, spec, repo_id="local/nan")
        del ds
        import pyarrow.parquet as pq

        path = next((nan_root / "data").rglob("*.parquet"))
        table = pq.read_table(path)
        state = table.column("observation.state").to_pylist()
        state[9][0] = float("nan")
        import pyarrow as pa

        table = table.set_column(0, "observation.state", pa.array(state, type=table.schema.field(0).type))
        pq.write_table(table, path)
        cfg.root = nan_root
    elif mutate == "output_exists":
        cfg.output_root.mkdir()
    elif mutate == "output_inside_source":
        cfg.output_root = source / "annotated"
    elif mutate == "bad_outcome_file":
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"0": "maybe"}))
        cfg.outcomes = bad
    before = tree_digest(Path(cfg.root)) if Path(cfg.root).exists() else None
    with pytest.raises(DatasetError, match=message):
        annotate_dataset(cfg, progress=False)
    if before is not None:
        assert tree_digest(Path(cfg.root)) == before
    if mutate not in ("output_exists",):
        assert not (tmp_path / "out").exists()
    # NaN is found mid-rewrite (in the same pass that copies the data): the temp directory must be gone too.
    assert not list(tmp_path.glob(".out.recap-tmp-*"))


def test_overwrite_replaces_an_existing_output(make_dataset, demo_episodes, tmp_path):
    """An earlier annotate output is replaced whole (a folder of other things is refused: tests/data/test_bad_input.py)."""
    source = make_dataset("src", episodes=demo_episodes)
    out = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out"), progress=False).output_root
    (out / "stale.txt").write_text("old")
    annotate_dataset(AnnotateConfig(root=source, output_root=out, overwrite=True), progress=False)
    assert not (out / "stale.txt").exists()
    _check_invariants(out)


@pytest.mark.slow
def test_cli_killed_mid_write_leaves_source_intact_and_no_output(make_dataset, demo_episodes, tmp_path):
    source = make_dataset("src", episodes=demo_episodes)
    before = tree_digest(source)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_annotate", f"--root={source}", f"--output_root={out}"],
        env=cli_env(LEROBOT_RECAP_HANG_AFTER_WRITE="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    for line in proc.stdout:
        if "hanging mid-write" in line or time.time() > deadline:
            break
    temp_dirs = list(tmp_path.glob(".out.recap-tmp-*"))
    assert temp_dirs, "the writer works in a hidden temp directory beside the output"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert tree_digest(source) == before
    assert not out.exists()
    # The next run cleans the stale temp directory up and succeeds.
    result = subprocess.run(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_annotate", f"--root={source}", f"--output_root={out}"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list(tmp_path.glob(".out.recap-tmp-*"))
    _check_invariants(out)


@pytest.mark.slow
def test_cli_help_documents_every_field_and_errors_exit_2(make_dataset, demo_episodes, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_annotate", "--help"],
        env=cli_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0
    for field_name in AnnotateConfig.__dataclass_fields__:
        assert f"--{field_name}" in result.stdout
    assert "Failure penalty C_fail" in result.stdout
    # draccus drops a field's help when its docstring has `word: ` in it; every field must keep its line.
    assert result.stdout.count("(default:") == len(AnnotateConfig.__dataclass_fields__) + 1  # + --config_path
    result = subprocess.run(
        [sys.executable, "-m", "lerobot_recap.scripts.lerobot_recap_annotate", f"--root={tmp_path / 'missing'}"],
        env=cli_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stdout + result.stderr
