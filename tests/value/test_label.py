"""lerobot-recap-label end to end on a real annotated dataset with a tiny value checkpoint, and its bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data import recap_math
from lerobot_recap.data.dataset_io import DatasetError, read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.data.label import LabelConfig, label_dataset
from lerobot_recap.policies.recap_value.inference_recap_value import file_sha256
from tests.conftest import tree_digest
from tests.data.stats_check import assert_stats_describe_columns
from tests.value.conftest import build_annotated

COLUMNS = ["index", "episode_index", "task_index", C.INTERVENTION, C.REWARD_LABEL, C.VALUE_LABEL, C.ADV_IND, C.ADVANTAGE, C.VALUE]


def _label(root, out, checkpoint=None, **kwargs):
    kwargs.setdefault("num_workers", 0)
    kwargs.setdefault("batch_size", 16)
    kwargs.setdefault("progress", False)
    return label_dataset(LabelConfig(root=root, value_path=str(checkpoint) if checkpoint else None, output_root=out, **kwargs))


def _flat(columns):
    return {k: v.reshape(v.shape[0], -1)[:, 0] if v.ndim > 1 else v for k, v in columns.items()}


@pytest.fixture(scope="module")
def labeled(annotated_root, tiny_checkpoint, tmp_path_factory):
    before = tree_digest(annotated_root)
    out = tmp_path_factory.mktemp("label") / "labeled"
    summary = _label(annotated_root, out, tiny_checkpoint)
    assert tree_digest(annotated_root) == before, "the source dataset changed"
    return out, summary


def test_label_writes_columns_provenance_and_plots(labeled, tiny_checkpoint):
    out, summary = labeled
    frames = _flat(read_frame_columns(out, COLUMNS))
    bounds = recap_math.episode_bounds(frames["episode_index"])
    # The stored advantage is the N=50 advantage of the stored values.
    expected = recap_math.n_step_advantages(frames[C.REWARD_LABEL], frames[C.VALUE], bounds, 50)
    np.testing.assert_allclose(frames[C.ADVANTAGE], expected, atol=1e-5)
    assert np.all((frames[C.VALUE] >= -1) & (frames[C.VALUE] <= 0))
    human = frames[C.INTERVENTION] > 0
    assert np.all(frames[C.ADV_IND][human] == C.ADV_POSITIVE)
    for task, threshold in summary.thresholds.items():
        auto = (frames["task_index"] == task) & ~human
        np.testing.assert_array_equal(
            frames[C.ADV_IND][auto], np.where(frames[C.ADVANTAGE][auto] >= np.float32(threshold), 1, -1)
        )

    labels = load_recap_metadata(out).labels
    assert labels["value_model"]["sha256"] == file_sha256(tiny_checkpoint / "model.safetensors")
    assert labels["n_steps"] == 50 and labels["quantile"] == pytest.approx(0.7)
    assert set(labels["thresholds"]) == {str(t) for t in np.unique(frames["task_index"][~human])}
    assert labels["counts"]["positive"] == int((frames[C.ADV_IND] == 1).sum())
    assert {"all", "held_out"} <= set(labels["value_metrics"])
    assert load_recap_metadata(out).history[-1]["step"] == "label"

    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["features"][C.ADVANTAGE]["dtype"] == "float32"
    assert_stats_describe_columns(out, [C.ADV_IND, C.ADVANTAGE, C.VALUE])
    assert load_recap_metadata(out).repo_id == "raw_recap_labeled"  # LeRobot's info.json keeps no repo id

    names = sorted(p.name for p in summary.plots)
    assert names == ["advantage_histogram.png", "episode_curves.png", "episode_positive_rate.png", "value_vs_progress.png"]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in summary.plots)
    assert summary.inference.frames == len(frames["index"])


def test_labeled_dataset_loads_in_lerobot(labeled):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out, _ = labeled
    item = LeRobotDataset("local/labeled", root=out)[0]
    assert {C.ADV_IND, C.ADVANTAGE, C.VALUE} <= set(item)


def test_threshold_only_relabel_equals_full_relabel(labeled, tmp_path):
    out, summary = labeled
    again = _label(out, tmp_path / "again", threshold_only=True, plots=False)
    a = _flat(read_frame_columns(out, COLUMNS))
    b = _flat(read_frame_columns(tmp_path / "again", COLUMNS))
    np.testing.assert_array_equal(a[C.ADV_IND], b[C.ADV_IND])
    assert again.thresholds == pytest.approx(summary.thresholds)
    assert load_recap_metadata(tmp_path / "again").labels["value_model"]["sha256"] == summary.provenance["value_model"]["sha256"]

    wider = _label(out, tmp_path / "wider", threshold_only=True, positive_fraction=0.6, plots=False)
    c = _flat(read_frame_columns(tmp_path / "wider", COLUMNS))
    np.testing.assert_array_equal(c[C.ADVANTAGE], a[C.ADVANTAGE])
    assert wider.provenance["positive_rates"]["autonomous"] > summary.provenance["positive_rates"]["autonomous"]


def test_monte_carlo_option(annotated_root, tiny_checkpoint, tmp_path):
    summary = _label(annotated_root, tmp_path / "mc", tiny_checkpoint, monte_carlo=True, plots=False)
    frames = _flat(read_frame_columns(tmp_path / "mc", COLUMNS))
    bounds = recap_math.episode_bounds(frames["episode_index"])
    returns = recap_math.reverse_cumsum(frames[C.REWARD_LABEL], bounds)
    np.testing.assert_allclose(frames[C.ADVANTAGE], returns - frames[C.VALUE], atol=1e-5)
    assert summary.provenance["monte_carlo"] is True and summary.provenance["n_steps"] is None


def test_dataset_without_recap_columns_says_run_annotate(annotated_root, tiny_checkpoint, tmp_path):
    raw = annotated_root.parent / "raw"
    with pytest.raises(DatasetError, match="lerobot-recap-annotate"):
        _label(raw, tmp_path / "out", tiny_checkpoint)
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_another_convention_is_refused(annotated_root, tiny_checkpoint, tmp_path):
    other = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, other)
    config = json.loads((other / "config.json").read_text())
    config["convention_version"] = "recap-v0"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(DatasetError, match="convention"):
        _label(annotated_root, tmp_path / "out", other)
    assert not (tmp_path / "out").exists()


def test_camera_keys_the_checkpoint_lacks(tiny_checkpoint, tmp_path):
    wrist_only = build_annotated(tmp_path / "wrist", cameras=("wrist",))
    with pytest.raises(DatasetError, match="observation.images.top"):
        _label(wrist_only, tmp_path / "out", tiny_checkpoint)
    assert not (tmp_path / "out").exists()


def test_unwritable_output_and_existing_output(annotated_root, tiny_checkpoint, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(DatasetError, match="output"):
        _label(annotated_root, blocker / "out", tiny_checkpoint)
    (tmp_path / "exists").mkdir()
    with pytest.raises(DatasetError, match="overwrite"):
        _label(annotated_root, tmp_path / "exists", tiny_checkpoint)
    with pytest.raises(DatasetError, match="overlaps"):
        _label(annotated_root, annotated_root / "inside", tiny_checkpoint)


def test_threshold_only_needs_stored_advantages(annotated_root, tmp_path):
    with pytest.raises(DatasetError, match="value_path"):
        _label(annotated_root, tmp_path / "out", threshold_only=True)


def test_missing_value_path_and_bad_options(annotated_root, tmp_path):
    with pytest.raises(DatasetError, match="value_path"):
        _label(annotated_root, tmp_path / "out")
    with pytest.raises(DatasetError, match="positive_fraction"):
        _label(annotated_root, tmp_path / "out", "x", positive_fraction=0.0)
    with pytest.raises(DatasetError, match="does not exist"):
        _label(annotated_root, tmp_path / "out", tmp_path / "nowhere")


def test_value_is_written_as_the_progress_lerobot_rabc_reads(labeled):
    """The labeled root carries sarm_progress.parquet: 1 + V per frame, loaded by LeRobot's own RA-BC weighter."""
    import pandas as pd
    import torch
    from lerobot.rewards.sarm.rabc import RABCWeights

    out, _ = labeled
    frames = _flat(read_frame_columns(out, ["index", "episode_index", "frame_index", C.VALUE]))
    progress = pd.read_parquet(out / "sarm_progress.parquet")
    np.testing.assert_array_equal(progress["index"].to_numpy(), frames["index"])
    np.testing.assert_array_equal(progress["episode_index"].to_numpy(), frames["episode_index"])
    np.testing.assert_array_equal(progress["frame_index"].to_numpy(), frames["frame_index"])
    np.testing.assert_allclose(progress["progress_sparse"].to_numpy(), 1.0 + frames[C.VALUE], atol=1e-6)

    chunk = 5
    weighter = RABCWeights(progress_path=out / "sarm_progress.parquet", chunk_size=chunk, device=torch.device("cpu"))
    index = torch.as_tensor(frames["index"][:8])
    weights, _ = weighter.compute_batch_weights({"index": index})
    assert weights.shape == (8,) and torch.isfinite(weights).all()
    # A frame whose value drops over the chunk gets no weight, as RA-BC treats negative progress.
    deltas = [weighter._compute_delta(int(i)) for i in index]
    assert all(w == 0 for w, d in zip(weights.tolist(), deltas, strict=True) if d < 0)


def test_rabc_progress_can_be_left_out(annotated_root, tiny_checkpoint, tmp_path):
    out = tmp_path / "labeled"
    _label(annotated_root, out, tiny_checkpoint, rabc_progress=False, plots=False)
    assert not (out / "sarm_progress.parquet").exists()


def test_episode_curves_draw_the_policy_episodes_first():
    from lerobot_recap.data.label_plots import episodes_to_draw
    from lerobot_recap.data.metadata import EpisodeInfo, RecapMetadata

    # Six episodes of 4 frames: two demos (all human), then a corrected one, a failure, a success, a failure.
    human = np.array([1] * 8 + [0, 1, 1, 0] + [0] * 12, dtype=bool)
    starts, ends = np.arange(0, 24, 4), np.arange(4, 28, 4)
    outcomes = ["success", "success", "success", "failure", "success", "failure"]
    meta = RecapMetadata(episodes={i: EpisodeInfo(outcome=C.Outcome(o)) for i, o in enumerate(outcomes)})
    assert episodes_to_draw(starts, ends, np.arange(6), human, meta, 4) == [2, 3, 4, 0]
    assert episodes_to_draw(starts, ends, np.arange(6), human, meta, 10) == [2, 3, 4, 0, 5, 1]
