"""lerobot-recap-annotate on what LeRobot 0.6's `lerobot-rollout --strategy.type=dagger` records.

The recording's flag is a bool column, and it has no success/failure at all: the outcomes come from
`--outcomes=<file>` (see tests/data/rollout_recording.py for how the recording is made).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.dataset_io import DatasetError, read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from tests.conftest import tree_digest
from tests.data.rollout_recording import CORRECTION_EPISODES, SENTRY_EPISODES, make_rollout_dagger_recording
from tests.data.stats_check import assert_stats_describe_columns


@pytest.fixture
def sentry(tmp_path) -> Path:
    return make_rollout_dagger_recording(tmp_path / "rollout_towel", SENTRY_EPISODES)


def test_the_recording_has_rollouts_feature_spec_and_no_outcomes(sentry):
    info = json.loads((sentry / "meta/info.json").read_text())
    assert info["features"]["intervention"] == {"dtype": "bool", "shape": [1], "names": None}
    assert not (sentry / "meta/recap.json").exists()
    flags = read_frame_columns(sentry, ["intervention"])["intervention"]
    assert flags.dtype == bool
    np.testing.assert_array_equal(flags, np.concatenate([f for _, f in SENTRY_EPISODES]))


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_annotate_takes_the_flags_and_the_outcomes_file(sentry, tmp_path, kind):
    outcomes = {0: "success", 1: "failure", 2: "success"}
    if kind == "json":
        path = tmp_path / "outcomes.json"
        path.write_text(json.dumps({str(k): v for k, v in outcomes.items()}))
    else:
        path = tmp_path / "outcomes.csv"
        path.write_text("episode_index,outcome\n" + "".join(f"{k},{v}\n" for k, v in outcomes.items()))
    before = tree_digest(sentry)
    summary = annotate_dataset(AnnotateConfig(root=sentry, output_root=tmp_path / "out", outcomes=path), progress=False)
    assert tree_digest(sentry) == before
    out = summary.output_root

    flags = np.concatenate([f for _, f in SENTRY_EPISODES]).astype(np.int64)
    cols = read_frame_columns(out, ["episode_index", *C.RECAP_COLUMNS])
    assert cols[C.INTERVENTION].dtype == np.int64
    np.testing.assert_array_equal(cols[C.INTERVENTION], flags)
    np.testing.assert_array_equal(cols[C.ADV_IND], np.where(flags == 1, C.ADV_POSITIVE, C.ADV_NONE))
    meta = load_recap_metadata(out)
    assert {ep: e.outcome.value for ep, e in meta.episodes.items()} == outcomes
    assert [meta.episodes[ep].source for ep in range(3)] == [C.Source.CORRECTION, C.Source.ROLLOUT, C.Source.CORRECTION]
    for ep, (_, episode_flags) in enumerate(SENTRY_EPISODES):
        sel = cols["episode_index"] == ep
        value = cols[C.VALUE_LABEL][sel].astype(np.float64)
        np.testing.assert_allclose(value, np.cumsum(cols[C.REWARD_LABEL][sel][::-1])[::-1], atol=1e-6)
        assert (value[-1] == 0.0) == (outcomes[ep] == "success") and value.min() >= -1
        assert cols[C.REWARD][sel].sum() == (1.0 if outcomes[ep] == "success" else 0.0)
    # The contract's int64 flag replaces rollout's bool one, with its statistics.
    info = json.loads((out / "meta/info.json").read_text())
    assert info["features"][C.INTERVENTION] == {**C.RECAP_FEATURES[C.INTERVENTION], "shape": [1]}
    assert_stats_describe_columns(out, list(C.RECAP_COLUMNS))


def test_corrections_only_recording_annotates_as_human_episodes(tmp_path):
    source = make_rollout_dagger_recording(tmp_path / "rollout_corrections", CORRECTION_EPISODES)
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps({"0": "success", "1": "failure"}))
    out = annotate_dataset(AnnotateConfig(root=source, output_root=tmp_path / "out", outcomes=path), progress=False)
    assert out.human_fraction == 1.0 and out.outcomes == {"success": 1, "failure": 1}
    cols = read_frame_columns(out.output_root, [C.INTERVENTION, C.ADV_IND])
    assert set(cols[C.INTERVENTION].tolist()) == {1} and set(cols[C.ADV_IND].tolist()) == {C.ADV_POSITIVE}


def test_missing_outcomes_name_the_rollout_recording_and_the_fix(sentry, tmp_path):
    with pytest.raises(DatasetError) as raised:
        annotate_dataset(AnnotateConfig(root=sentry, output_root=tmp_path / "out"), progress=False)
    message = str(raised.value)
    assert "3 episode(s) have no outcome: [0, 1, 2]" in message
    assert "lerobot-rollout" in message and "--outcomes=" in message and "\n" not in message
    assert not (tmp_path / "out").exists()
    # An outcomes file that leaves an episode out is refused the same way (never silently a failure).
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"0": "success", "2": "failure"}))
    with pytest.raises(DatasetError, match=r"1 episode\(s\) have no outcome: \[1\]"):
        annotate_dataset(AnnotateConfig(root=sentry, output_root=tmp_path / "out", outcomes=partial), progress=False)
    assert not (tmp_path / "out").exists()
