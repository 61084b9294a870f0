"""Export and label read one annotation: rounds annotated apart and merged with LeRobot are refused, then fixed.

As a user hits it: two DAgger rounds annotated with different ``--c_fail_coef``, merged with LeRobot's
``merge_datasets`` (what ``lerobot-edit-dataset --operation.type=merge`` runs), which drops ``meta/recap.json``.
``lerobot-recap-export-pistar`` used to write both conventions into one export (failures ending at -0.5 and -0.667)
without a word; now it and :func:`validate_recap_annotation` refuse the merge naming the constants that disagree,
and annotating the merged dataset once gives it one convention that exports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.dataset_io import EXPORT_MARKER, DatasetError, read_frame_columns
from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.data.pistar import ExportPistarConfig, export_pistar
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, SyntheticEpisode, make_synthetic_dataset
from lerobot_recap.data.validate import validate_recap_annotation
from tests.conftest import cli_env, tree_digest
from tests.data.test_cli_errors import EXPORT, BadInput, check_refusal

PICK, PLACE = "pick up the cube", "place the object"


def _episode(length: int, task: str, success: bool, human: int = 0) -> SyntheticEpisode:
    flags = np.zeros(length, dtype=np.int64)
    flags[:human] = 1
    return SyntheticEpisode(length=length, task=task, outcome=C.Outcome.SUCCESS if success else C.Outcome.FAILURE, human=flags)


# Each round: a demo, a corrected success and a failed rollout per task; the longest episode of a task differs
# between rounds (so L does too, as it would in practice).
ROUND_1 = [_episode(9, PICK, True, human=9), _episode(7, PICK, False), _episode(6, PLACE, True, 2), _episode(5, PLACE, False)]
ROUND_2 = [_episode(8, PICK, True, human=3), _episode(10, PICK, False), _episode(6, PLACE, False), _episode(7, PLACE, True, 7)]


def _record_and_annotate(base: Path, name: str, episodes: list[SyntheticEpisode], **annotate) -> Path:
    make_synthetic_dataset(base / name, SyntheticDatasetSpec(episodes=episodes), repo_id=f"local/{name}")
    cfg = AnnotateConfig(root=base / name, output_root=base / f"{name}_recap", **annotate)
    return annotate_dataset(cfg, progress=False).output_root


def _merge(roots: list[Path], output: Path) -> Path:
    """What `lerobot-edit-dataset --operation.type=merge --operation.roots=[...]` does."""
    from lerobot.datasets.dataset_tools import merge_datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    merge_datasets(
        [LeRobotDataset(f"local/{root.name}", root=root) for root in roots], output_repo_id=f"local/{output.name}", output_dir=output
    )
    return output


@pytest.fixture(scope="module")
def rounds(tmp_path_factory) -> dict[str, Path]:
    """Round 1 annotated with C_fail = L, round 2 with C_fail = 2L, and their LeRobot merge."""
    base = tmp_path_factory.mktemp("rounds")
    r1 = _record_and_annotate(base, "round1", ROUND_1)
    r2 = _record_and_annotate(base, "round2", ROUND_2, c_fail_coef=2.0)
    return {"base": base, "r1": r1, "r2": r2, "merged": _merge([r1, r2], base / "merged")}


def _failure_ends(root: Path) -> set[float]:
    cols = read_frame_columns(root, ["episode_index", C.REWARD, C.VALUE_LABEL])
    episode, reward, value = (cols[k].reshape(-1) for k in ("episode_index", C.REWARD, C.VALUE_LABEL))
    last = np.r_[np.flatnonzero(episode[1:] != episode[:-1]), episode.size - 1]
    return {round(float(v), 3) for v, r in zip(value[last], reward[last], strict=True) if r < 0.5}


def test_the_merge_is_what_the_user_reported(rounds):
    """LeRobot's merge keeps both rounds' columns and drops meta/recap.json: two conventions, no record of either."""
    merged = rounds["merged"]
    assert not (merged / "meta/recap.json").exists()
    assert _failure_ends(rounds["r1"]) == {-0.5} and _failure_ends(rounds["r2"]) == {-0.667}
    assert _failure_ends(merged) == {-0.5, -0.667}


def test_the_validation_refuses_the_merge_naming_the_disagreement(rounds):
    with pytest.raises(DatasetError) as refused:
        validate_recap_annotation(rounds["merged"])
    message = str(refused.value)
    assert "\n" not in message
    assert f"task {PICK!r}" in message
    assert "failure penalty C_fail/L 1 (episodes 1) vs 2 (episodes 5)" in message, message
    assert "no meta/recap.json" in message and "run lerobot-recap-annotate once on this dataset" in message


def test_export_cli_refuses_the_merge_in_one_line_and_writes_nothing(rounds):
    merged, out = rounds["merged"], rounds["base"] / "merged_pistar"
    before = tree_digest(merged)
    result = subprocess.run(
        [sys.executable, "-m", EXPORT[0], f"--root={merged}", f"--output_root={out}"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    case = BadInput(EXPORT, (), "annotated with different constants, failure penalty C_fail/L 1 (episodes 1) vs 2 (episodes 5)")
    check_refusal(case, (result, {"out": out}))
    assert "run lerobot-recap-annotate once on this dataset" in result.stderr
    assert tree_digest(merged) == before
    assert not list(out.parent.glob(f".{out.name}*")), "no temp directory either"


def test_a_copied_recap_json_does_not_make_the_merge_pass(rounds, tmp_path):
    """The tempting workaround, copying one round's meta/recap.json into the merge, is refused for the same reason."""
    merged = tmp_path / "merged"
    shutil.copytree(rounds["merged"], merged)
    shutil.copy2(rounds["r1"] / "meta/recap.json", merged / "meta/recap.json")
    with pytest.raises(DatasetError, match=r"mixes annotations: the episodes of task .*C_fail/L 1 \(episodes 1\) vs 2") as refused:
        validate_recap_annotation(merged)
    assert "no meta/recap.json" not in str(refused.value)
    with pytest.raises(DatasetError, match="different constants"):
        export_pistar(ExportPistarConfig(root=merged, output_root=tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


def test_rounds_with_the_same_c_fail_but_their_own_l_are_refused_too(rounds, tmp_path):
    """Same --c_fail_coef, but L is each round's longest episode: the normalizers differ."""
    r2 = _record_and_annotate(tmp_path, "round2_same_coef", ROUND_2)
    merged = _merge([rounds["r1"], r2], tmp_path / "merged")
    with pytest.raises(DatasetError, match=rf"task {PICK!r} .*normalizer L\+C_fail 18 \(episodes 0, 1\) vs 20 \(episodes 4, 5\)"):
        validate_recap_annotation(merged)


def test_annotating_the_merge_once_gives_one_convention_that_exports(rounds, tmp_path):
    """The fix the refusal names: annotate the merged dataset; outcomes come back from the reward column."""
    fixed = annotate_dataset(AnnotateConfig(root=rounds["merged"], output_root=tmp_path / "merged_recap"), progress=False).output_root
    meta = validate_recap_annotation(fixed)
    outcomes = [e.outcome == C.Outcome.SUCCESS for e in (*ROUND_1, *ROUND_2)]
    assert [meta.episodes[i].outcome == C.Outcome.SUCCESS for i in range(8)] == outcomes
    assert {c.task: c.norm_length for c in meta.tasks.values()} == {PICK: 10, PLACE: 7}
    assert _failure_ends(fixed) == {-0.5}
    human = read_frame_columns(fixed, [C.INTERVENTION])[C.INTERVENTION].reshape(-1)
    np.testing.assert_array_equal(human, np.concatenate([e.human for e in (*ROUND_1, *ROUND_2)]))

    summary = export_pistar(ExportPistarConfig(root=fixed, output_root=tmp_path / "pistar"), progress=False)
    assert summary.n_episodes == 8
    assert (summary.output_root / EXPORT_MARKER).is_file() and (summary.output_root / EXPORT_MARKER).stat().st_size == 0
    exported = load_recap_metadata(summary.output_root)
    assert exported.tasks == meta.tasks and len(exported.episodes) == 8


def test_a_correctly_annotated_round_passes(rounds):
    meta = validate_recap_annotation(rounds["r2"])
    recorded = load_recap_metadata(rounds["r2"])
    assert meta.tasks == recorded.tasks and meta.episodes == recorded.episodes and meta.c_fail_coef == 2.0


def _edit_recap(root: Path, edit) -> None:
    path = root / "meta/recap.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set_coef(data: dict, coef: float) -> None:
    data["convention"]["c_fail_coef"] = coef
    for task in data["tasks"].values():
        task["c_fail"] = coef * task["norm_length"]


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda d: d["episodes"].pop("3"), r"has no record of episodes 3 of the 4 the data holds"),
        (lambda d: d["episodes"].update({"4": {"outcome": "failure"}}), r"records episodes 4 that the data does not hold"),
        (lambda d: d["episodes"]["1"].update(outcome="unknown"), r"records no outcome for episodes 1: .*--outcomes"),
        (lambda d: d["tasks"].pop("0"), r"records no constants for task"),
        (lambda d: d["tasks"]["0"].update(c_fail=3.0), r"records C_fail=3 for task .*not c_fail_coef \* L"),
        (lambda d: d["tasks"]["0"].update(norm_length=4, c_fail=8.0), r"records L=4 for task .*shorter than its longest episode"),
        (lambda d: d["convention"].update(version="recap-v0"), r"annotated with convention 'recap-v0'"),
        (lambda d: d["convention"].update(c_fail_coef=-1), r"c_fail_coef=-1, not a positive number"),
        (
            lambda d: _set_coef(d, 1.0),
            (
                rf"value_label of episode 0 \(success, task {PICK!r}\) is -0.2333 at frame 0 of 8, where the constants "
                r"of meta/recap.json \(L=10, C_fail=10\) and its outcome give -0.35 .*run lerobot-recap-annotate once"
            ),
        ),
        (lambda d: d["episodes"]["1"].update(outcome="success"), r"reward of episode 1 \(success, .* is 0 at frame 9 of 10"),
    ],
    ids=["missing_episode", "extra_episode", "unknown_outcome", "missing_task", "c_fail_not_coef_l", "l_too_short",
         "old_convention", "bad_coef", "constants_of_another_round", "outcome_of_another_round"],
)
def test_a_recap_json_that_does_not_match_the_columns_is_refused(rounds, tmp_path, edit, reason):
    root = tmp_path / "round2"
    shutil.copytree(rounds["r2"], root)
    _edit_recap(root, edit)
    with pytest.raises(DatasetError, match=reason) as refused:
        validate_recap_annotation(root)
    assert "\n" not in str(refused.value)


def test_a_broken_recap_json_is_refused(rounds, tmp_path):
    root = tmp_path / "round2"
    shutil.copytree(rounds["r2"], root)
    (root / "meta/recap.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"meta/recap.json cannot be read .*run lerobot-recap-annotate once"):
        validate_recap_annotation(root)
    (root / "meta/recap.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match=r"meta/recap.json cannot be read"):
        validate_recap_annotation(root)
    (root / "meta/recap.json").unlink()
    with pytest.raises(DatasetError, match=r"has the RECAP columns but no meta/recap.json"):
        validate_recap_annotation(root)


def test_overwrite_replaces_an_export_and_nothing_else(rounds, tmp_path):
    """Every export carries the marker, so --overwrite may replace it; a folder of the user's is never replaced."""
    out = tmp_path / "pistar"
    export_pistar(ExportPistarConfig(root=rounds["r1"], output_root=out), progress=False)
    assert (out / EXPORT_MARKER).is_file()
    with pytest.raises(DatasetError, match="already exists: pass --overwrite=true"):
        export_pistar(ExportPistarConfig(root=rounds["r2"], output_root=out), progress=False)
    export_pistar(ExportPistarConfig(root=rounds["r2"], output_root=out, overwrite=True), progress=False)
    assert (out / EXPORT_MARKER).is_file() and load_recap_metadata(out).c_fail_coef == 2.0

    mine = tmp_path / "my_notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="already exists and holds files that lerobot-recap did not write"):
        export_pistar(ExportPistarConfig(root=rounds["r1"], output_root=mine, overwrite=True), progress=False)
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / EXPORT_MARKER).exists()
