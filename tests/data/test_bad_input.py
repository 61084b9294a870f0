"""Bad input never costs data (issue 14): what a hostile but realistic user does to annotate and label.

Each case is written the way a user hits it: real LeRobot v3.0 datasets built through LeRobot's API, and the CLIs
run as subprocesses where the user would see the answer on a terminal (one line on stderr, exit code 2, nothing
written, nothing of theirs deleted). The subprocesses run two at a time in one module fixture, since most of their
time is LeRobot's import.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.data import contract as C
from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset, read_outcome_file
from lerobot_recap.data.dataset_io import (
    EXPORT_MARKER,
    TMP_MARKER,
    DatasetError,
    check_output_root,
    is_replaceable_output,
    read_frame_columns,
    write_dataset_copy,
)
from lerobot_recap.data.label import LabelConfig, label_dataset, resolve_device
from lerobot_recap.data.metadata import load_recap_metadata, record_episode_outcomes
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, SyntheticEpisode, make_synthetic_dataset
from tests.conftest import cli_env, tree_digest

ANNOTATE = ("lerobot_recap.scripts.lerobot_recap_annotate", "lerobot-recap-annotate")
LABEL = ("lerobot_recap.scripts.lerobot_recap_label", "lerobot-recap-label")

EPISODES = [
    SyntheticEpisode(length=8, task="pick up the cube", outcome=C.Outcome.SUCCESS, human=np.ones(8, dtype=np.int64)),
    SyntheticEpisode(length=5, task="place the object", outcome=C.Outcome.FAILURE, human=np.zeros(5, dtype=np.int64)),
    SyntheticEpisode(
        length=11, task="pick up the cube", outcome=C.Outcome.SUCCESS, human=np.r_[np.zeros(4), np.ones(7)].astype(np.int64)
    ),
    SyntheticEpisode(length=9, task="place the object", outcome=C.Outcome.FAILURE, human=np.zeros(9, dtype=np.int64)),
]


def make_recording(root: Path, record_outcomes: bool = True) -> Path:
    make_synthetic_dataset(root, SyntheticDatasetSpec(episodes=EPISODES, record_outcomes=record_outcomes), repo_id=f"local/{root.name}")
    return root


def data_file(root: Path) -> Path:
    return next((root / "data").rglob("*.parquet"))


def dead_pid() -> int:
    """The pid of a process that has exited (a run killed with kill -9 leaves exactly that behind)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def user_folder(path: Path) -> Path:
    """A folder of the user's own things: what `--output_root=~/data --overwrite=true` must never delete."""
    (path / "notes").mkdir(parents=True)
    (path / "notes" / "calibration.txt").write_text("arm offsets\n")
    (path / "thesis.tex").write_text("\\section{Results}\n")
    return path


# --- the CLI as the user runs it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    cli: tuple[str, str]
    prepare: Callable[[Path, Path], list[str]]
    """(case folder, clean recording) -> the command-line arguments."""
    reason: str
    """What the one line on stderr must say (``{case}`` is the case folder)."""


def _corrupt_copy(base: Path, recording: Path, corrupt: Callable[[Path], None]) -> Path:
    copy = base / "recording"
    shutil.copytree(recording, copy)
    corrupt(copy)
    return copy


def _truncate_data(root: Path) -> None:
    path = data_file(root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a copy interrupted half-way, a full disk


def _scramble_data(root: Path) -> None:
    # Overwrite the footer (the schema and page index, just before the trailing length and magic bytes) with junk:
    # the size and magic are intact, so pyarrow opens the file and fails decoding it.
    path = data_file(root)
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[-8 - footer : -8] = bytes(range(256)) * (footer // 256) + bytes(footer % 256)
    path.write_bytes(bytes(data))


def _break_info_json(root: Path) -> None:
    path = root / "meta" / "info.json"
    path.write_text(path.read_text()[:200])  # cut mid-write


def _info_json_without_features(root: Path) -> None:
    path = root / "meta" / "info.json"
    info = json.loads(path.read_text())
    del info["features"], info["fps"]
    path.write_text(json.dumps(info, indent=4))


def _conflicting_outcomes(base: Path) -> Path:
    path = base / "outcomes.csv"
    path.write_text("episode_index,outcome\n0,success\n1,failure\n2,success\n3,failure\n1,success\n")
    return path


def _args(recording: Path, base: Path, *extra: str) -> list[str]:
    return [f"--root={recording}", f"--output_root={base / 'out'}", *extra]


# `--c_fail_coef=0` and label's `--num_workers=-1` run in tests/data/test_cli_errors.py. Four cases run by default
# (a subprocess costs about 15 s of CPU, mostly LeRobot's import); the others are marked slow.
CLI_CASES: dict[str, CliCase] = {
    "overwrite_a_folder_of_other_things": CliCase(
        ANNOTATE,
        lambda base, rec: [f"--root={rec}", f"--output_root={user_folder(base / 'home')}", "--overwrite=true"],
        "the output root {case}/home already exists and holds files that lerobot-recap did not write",
    ),
    "overwrite_a_plain_file": CliCase(
        ANNOTATE,
        lambda base, rec: [f"--root={rec}", f"--output_root={base / 'report.pdf'}", "--overwrite=true"],
        "the output root {case}/report.pdf already exists and is a file, not a dataset written by lerobot-recap",
    ),
    "c_fail_coef_nan": CliCase(ANNOTATE, lambda base, rec: _args(rec, base, "--c_fail_coef=nan"), "--c_fail_coef must be a finite number, got nan"),
    "c_fail_coef_inf": CliCase(ANNOTATE, lambda base, rec: _args(rec, base, "--c_fail_coef=inf"), "--c_fail_coef must be a finite number, got inf"),
    "norm_length_zero": CliCase(ANNOTATE, lambda base, rec: _args(rec, base, "--norm_length=0"), "--norm_length must be >= 1, got 0"),
    "unknown_outcome_maybe": CliCase(
        ANNOTATE, lambda base, rec: _args(rec, base, "--unknown_outcome=maybe"), "--unknown_outcome must be one of"
    ),
    "truncated_parquet": CliCase(
        ANNOTATE,
        lambda base, rec: _args(_corrupt_copy(base, rec, _truncate_data), base),
        "{case}/recording/data/chunk-000/file-000.parquet cannot be read as parquet",
    ),
    "scrambled_parquet": CliCase(
        ANNOTATE,
        lambda base, rec: _args(_corrupt_copy(base, rec, _scramble_data), base),
        "{case}/recording/data/chunk-000/file-000.parquet cannot be read as parquet",
    ),
    "info_json_cut_mid_write": CliCase(
        ANNOTATE,
        lambda base, rec: _args(_corrupt_copy(base, rec, _break_info_json), base),
        "{case}/recording/meta/info.json is not valid JSON",
    ),
    "info_json_without_features": CliCase(
        ANNOTATE,
        lambda base, rec: _args(_corrupt_copy(base, rec, _info_json_without_features), base),
        "{case}/recording/meta/info.json is not a valid LeRobot info.json",
    ),
    "outcomes_csv_contradicts_itself": CliCase(
        ANNOTATE,
        lambda base, rec: _args(rec, base, f"--outcomes={_conflicting_outcomes(base)}"),
        "gives episode 1 two different outcomes, failure and success",
    ),
    "label_positive_fraction_nan": CliCase(
        LABEL, lambda base, rec: _args(rec, base, "--value_path=ckpt", "--positive_fraction=nan"),
        "--positive_fraction must be a finite number, got nan",
    ),
}

DEFAULT_CLI_CASES = (
    "overwrite_a_folder_of_other_things",
    "c_fail_coef_nan",
    "truncated_parquet",
    "outcomes_csv_contradicts_itself",
)
SLOW_CLI_CASES = tuple(name for name in CLI_CASES if name not in DEFAULT_CLI_CASES)

CliRun = tuple[subprocess.CompletedProcess, Path, dict[str, str]]


def run_cli_cases(names: tuple[str, ...], base: Path) -> dict[str, CliRun]:
    """Run each case's CLI on a fresh copy of a recording under ``base``, two processes at a time."""
    recording = make_recording(base / "recording")

    def run(name: str) -> CliRun:
        case, folder = CLI_CASES[name], base / name
        folder.mkdir()
        if name == "overwrite_a_plain_file":
            (folder / "report.pdf").write_bytes(b"%PDF-1.7 the user's report")
        args = case.prepare(folder, recording)
        before = tree_digest(folder)
        result = subprocess.run(
            [sys.executable, "-m", case.cli[0], *args], env=cli_env(), capture_output=True, text=True, timeout=600, cwd=folder
        )
        return result, folder, before

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names), strict=True))


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, CliRun]:
    return run_cli_cases(DEFAULT_CLI_CASES, tmp_path_factory.mktemp("bad_input"))


@pytest.fixture(scope="module")
def slow_cli_runs(tmp_path_factory) -> dict[str, CliRun]:
    return run_cli_cases(SLOW_CLI_CASES, tmp_path_factory.mktemp("bad_input_slow"))


@pytest.mark.parametrize("name", DEFAULT_CLI_CASES)
def test_bad_input_is_one_line_exit_2_and_nothing_changes(cli_runs, name):
    check_cli_refusal(CLI_CASES[name], cli_runs[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_CLI_CASES)
def test_more_bad_input_is_one_line_exit_2_and_nothing_changes(slow_cli_runs, name):
    check_cli_refusal(CLI_CASES[name], slow_cli_runs[name])


def check_cli_refusal(case: CliCase, run: CliRun) -> None:
    result, folder, before = run
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"{case.cli[1]}: error: "), lines[0]
    assert case.reason.format(case=folder) in lines[0], lines[0]
    assert tree_digest(folder) == before, "a refused run neither writes nor deletes anything"
    assert not list(folder.glob(f".*{TMP_MARKER}*")), "and leaves no hidden temp folder behind"


# --- 1. --overwrite replaces only what this project wrote ------------------------------------------------------------


def test_overwrite_replaces_what_lerobot_recap_wrote_and_nothing_else(tmp_path):
    recording = make_recording(tmp_path / "recording")
    earlier = annotate_dataset(AnnotateConfig(root=recording, output_root=tmp_path / "round1_recap"), progress=False).output_root
    (earlier / "meta" / "notes.txt").write_text("an earlier run's output: ours to replace")
    assert is_replaceable_output(earlier)
    annotate_dataset(AnnotateConfig(root=recording, output_root=earlier, overwrite=True, c_fail_coef=0.5), progress=False)
    assert load_recap_metadata(earlier).c_fail_coef == 0.5 and not (earlier / "meta" / "notes.txt").exists()

    export = tmp_path / "round1_pistar"  # an earlier pistar export carries the marker
    (export / "data").mkdir(parents=True)
    (export / EXPORT_MARKER).touch()
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (export, empty):
        assert is_replaceable_output(target)
        annotate_dataset(AnnotateConfig(root=recording, output_root=target, overwrite=True), progress=False)
        assert load_recap_metadata(target).is_annotated

    # A raw recording has a meta/recap.json too (the recorder's outcomes): it is data, never ours to replace.
    other = make_recording(tmp_path / "round2")
    assert not is_replaceable_output(other) and not is_replaceable_output(user_folder(tmp_path / "home"))
    before = tree_digest(other)
    with pytest.raises(DatasetError, match=r"round2 already exists and holds files that lerobot-recap did not write"):
        annotate_dataset(AnnotateConfig(root=recording, output_root=other, overwrite=True), progress=False)
    assert tree_digest(other) == before
    link = tmp_path / "link"
    link.symlink_to(earlier, target_is_directory=True)
    assert not is_replaceable_output(link)
    assert not is_replaceable_output(tmp_path / "home" / "thesis.tex")
    assert is_replaceable_output(tmp_path / "nothing_here_yet")


def test_a_failed_overwrite_keeps_the_earlier_output(tmp_path):
    """The old output is deleted only once its replacement is complete: a run that fails keeps it whole."""
    recording = make_recording(tmp_path / "recording")
    out = annotate_dataset(AnnotateConfig(root=recording, output_root=tmp_path / "out"), progress=False).output_root
    before = tree_digest(out)
    bad = tmp_path / "outcomes.json"
    bad.write_text('{"0": "success", "0": "failure"}')  # a JSON object with a repeated key contradicts itself too
    with pytest.raises(DatasetError, match="gives episode 0 two different outcomes"):
        annotate_dataset(AnnotateConfig(root=recording, output_root=out, overwrite=True, outcomes=bad), progress=False)
    # A failure in the middle of the rewrite (a NaN in one data file), after the output was checked replaceable.
    nan = tmp_path / "nan"
    shutil.copytree(recording, nan)
    _set_cell(nan, "observation.state", row=9, value=float("nan"))
    with pytest.raises(DatasetError, match=r"observation.state holds NaN/inf values in episodes \[1\]"):
        annotate_dataset(AnnotateConfig(root=nan, output_root=out, overwrite=True), progress=False)
    assert tree_digest(out) == before
    assert not list(tmp_path.glob(f".*{TMP_MARKER}*"))


def test_leftovers_of_killed_runs_are_named_and_removed_at_the_next_run(tmp_path, caplog):
    """kill -9 leaves `.<out>.recap-tmp-<pid>-*` folders: the next run into that folder finds all of them."""
    recording = make_recording(tmp_path / "recording")
    data = tmp_path / "data"
    data.mkdir()
    killed = dead_pid()
    stale_other = data / f".round1_labeled{TMP_MARKER}{killed}-0123abcd"  # another output's, not the one written now
    (stale_other / "data").mkdir(parents=True)
    stale_plots = data / f".round1_labeled_plots{TMP_MARKER}{killed}-4567cdef"
    stale_plots.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = data / f".round1_export{TMP_MARKER}{sleeper.pid}-89abcdef"  # a run still writing: hands off
        live.mkdir()
        with caplog.at_level(logging.INFO, logger="lerobot_recap.data.dataset_io"):
            annotate_dataset(AnnotateConfig(root=recording, output_root=data / "round1_recap"), progress=False)
        assert not stale_other.exists() and not stale_plots.exists()
        assert live.exists()
        text = caplog.text
        assert str(stale_other) in text and str(stale_plots) in text and f"process {killed} is gone" in text
        assert f"{live} belongs to a run still in progress (process {sleeper.pid})" in text
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_old_output_moved_aside_by_a_killed_run_is_restored(tmp_path):
    """A kill between "move the old output aside" and "rename the new one in" must not cost the old output."""
    recording = make_recording(tmp_path / "recording")
    out = annotate_dataset(AnnotateConfig(root=recording, output_root=tmp_path / "out"), progress=False).output_root
    before = tree_digest(out)
    aside = tmp_path / f".out{TMP_MARKER}{dead_pid()}-old-0123abcd"
    os.rename(out, aside)
    with pytest.raises(DatasetError, match="out already exists: pass --overwrite=true"):
        check_output_root(recording, out, overwrite=False)
    assert tree_digest(out) == before and not aside.exists()
    # An aside of something that was not ours (an older version moved a plain file aside) is never deleted.
    (tmp_path / f".report.pdf{TMP_MARKER}{dead_pid()}-old").write_text("the user's report")
    (tmp_path / "report.pdf").write_text("what replaced it")
    check_output_root(recording, tmp_path / "another", overwrite=False)
    assert [p.read_text() for p in tmp_path.glob(f".report.pdf{TMP_MARKER}*-old")] == ["the user's report"]


# --- 2. NaN and inf never reach a dataset ----------------------------------------------------------------------------


def _set_cell(root: Path, column: str, row: int, value: float) -> None:
    """Edit one value of a data file in place (what a buggy converter or a hand edit does)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = data_file(root)
    table = pq.read_table(path)
    cells = table.column(column).to_pylist()
    if isinstance(cells[row], list):
        cells[row][0] = value
    else:
        cells[row] = value
    index = table.schema.get_field_index(column)
    table = table.set_column(index, column, pa.array(cells, type=table.schema.field(index).type))
    pq.write_table(table, path)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"c_fail_coef": float("nan")}, "--c_fail_coef must be a finite number, got nan"),
        ({"c_fail_coef": float("-inf")}, "--c_fail_coef must be a finite number, got -inf"),
        ({"c_fail_coef": 1e6}, "--c_fail_coef must be <= 1000"),
        ({"norm_length": 10**12}, "--norm_length must be <= 1000000000"),
        ({"norm_length": 2.5}, "--norm_length must be a whole number"),
    ],
)
def test_annotate_options_must_be_finite_and_in_range(options, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AnnotateConfig(root=Path("any"), **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"positive_fraction": float("nan")}, "--positive_fraction must be a finite number"),
        ({"positive_fraction": float("inf")}, "--positive_fraction must be a finite number"),
        ({"n_steps": 0}, "--n_steps must be >= 1, got 0 (use --monte_carlo=true"),
        ({"n_steps": 10**30}, "--n_steps must be <= "),
        ({"batch_size": 0}, "--batch_size must be >= 1"),
        ({"num_workers": -1}, "--num_workers must be >= 0"),
        ({"num_workers": 10**6}, "--num_workers must be <= 256"),
        ({"max_plot_episodes": 10**5}, "--max_plot_episodes must be <= 100"),
    ],
)
def test_label_options_must_be_finite_and_in_range(options, message):
    with pytest.raises(DatasetError) as error:
        LabelConfig(root=Path("any"), value_path="ckpt", **options)
    assert message in str(error.value)


@pytest.fixture
def labeled(tmp_path) -> Path:
    """An annotated recording labeled by an earlier run (stored value and advantage columns, labels provenance)."""
    recording = make_recording(tmp_path / "recording")
    annotated = annotate_dataset(AnnotateConfig(root=recording, output_root=tmp_path / "annotated"), progress=False).output_root
    frames = read_frame_columns(annotated, ["episode_index", C.VALUE_LABEL])
    value = frames[C.VALUE_LABEL].reshape(-1).astype(np.float32) * np.float32(0.9)
    meta = load_recap_metadata(annotated)
    meta.labels = {"value_model": {"sha256": "0" * 64}, "n_steps": 50}
    meta.add_history("label", n_steps=50)
    write_dataset_copy(
        annotated,
        tmp_path / "labeled",
        set_columns={
            C.VALUE: (value, C.LABEL_FEATURES[C.VALUE]),
            C.ADVANTAGE: (np.linspace(-0.1, 0.1, value.size, dtype=np.float32), C.LABEL_FEATURES[C.ADVANTAGE]),
        },
        metadata=meta,
        progress=False,
    )
    return tmp_path / "labeled"


@pytest.mark.parametrize("column, hint", [(C.VALUE_LABEL, "lerobot-recap-annotate"), (C.ADVANTAGE, "--value_path")])
def test_label_refuses_nan_inputs_naming_the_episode(labeled, tmp_path, column, hint):
    _set_cell(labeled, column, row=10, value=float("nan"))  # frame 10 is in episode 1
    before = tree_digest(labeled)
    with pytest.raises(DatasetError, match=rf"{column} holds NaN/inf in 1 frame\(s\) of episodes \[1\]: .*{hint}"):
        label_dataset(LabelConfig(root=labeled, output_root=tmp_path / "relabeled", threshold_only=True, progress=False))
    assert tree_digest(labeled) == before
    assert not (tmp_path / "relabeled").exists() and not (tmp_path / "relabeled_plots").exists()
    assert not list(tmp_path.glob(f".*{TMP_MARKER}*"))


def test_a_computed_column_with_nan_is_never_written(labeled, tmp_path):
    values = np.zeros(33, dtype=np.float32)
    values[20] = np.inf
    with pytest.raises(DatasetError, match=r"advantage holds NaN/inf in 1 frame\(s\) of episodes \[2\]"):
        write_dataset_copy(labeled, tmp_path / "out", {C.ADVANTAGE: (values, C.LABEL_FEATURES[C.ADVANTAGE])}, progress=False)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(f".*{TMP_MARKER}*"))


def test_a_plotting_failure_writes_nothing(labeled, tmp_path, monkeypatch):
    """Plots are drawn before the dataset is written: a failure there leaves no labeled dataset without its plots."""
    import lerobot_recap.data.label_plots as label_plots

    def broken(plots_dir, *args, **kwargs):
        Path(plots_dir).mkdir(parents=True)
        (Path(plots_dir) / "advantage_histogram.png").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(label_plots, "write_label_plots", broken)
    with pytest.raises(DatasetError, match="drawing the label plots failed .*No space left on device.*--plots=false"):
        label_dataset(LabelConfig(root=labeled, output_root=tmp_path / "relabeled", threshold_only=True, progress=False))
    assert not (tmp_path / "relabeled").exists() and not (tmp_path / "relabeled_plots").exists()
    assert not list(tmp_path.glob(f".*{TMP_MARKER}*"))


def test_plots_replace_only_their_namesakes_in_an_existing_folder(labeled, tmp_path):
    plots_dir = tmp_path / "figures"
    plots_dir.mkdir()
    (plots_dir / "poster.png").write_bytes(b"the user's poster")
    (plots_dir / "advantage_histogram.png").write_bytes(b"last run's")
    summary = label_dataset(
        LabelConfig(root=labeled, output_root=tmp_path / "relabeled", threshold_only=True, plots_dir=plots_dir, progress=False)
    )
    assert (plots_dir / "poster.png").read_bytes() == b"the user's poster"
    assert sorted(p.name for p in summary.plots) == sorted(
        ["advantage_histogram.png", "episode_curves.png", "episode_positive_rate.png", "value_vs_progress.png"]
    )
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in summary.plots)
    assert not list(tmp_path.glob(f".*{TMP_MARKER}*"))


# --- 3. metadata gets the permissions of any new file ----------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_metadata_files_follow_the_umask(labeled, tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        annotated = annotate_dataset(
            AnnotateConfig(root=tmp_path / "recording", output_root=tmp_path / "annotated_again"), progress=False
        ).output_root
        relabeled = label_dataset(
            LabelConfig(root=labeled, output_root=tmp_path / "relabeled", threshold_only=True, plots=False, progress=False)
        ).output_root
    finally:
        os.umask(previous)
    for root in (annotated, relabeled):
        for name in ("info.json", "stats.json", "recap.json"):
            assert stat.S_IMODE((root / "meta" / name).stat().st_mode) == mode, f"{root.name}/meta/{name}"
    # The recorder's own write (record_episode_outcomes) goes through the same function.
    previous = os.umask(umask)
    try:
        record_episode_outcomes(annotated, {0: "success"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((annotated / "meta" / "recap.json").stat().st_mode) == mode


# --- 4. outcome files as users make them; a GPU that is not there ----------------------------------------------------


def test_outcomes_csv_saved_by_excel(tmp_path):
    """Excel writes a UTF-8 byte-order mark and CRLF line ends, sometimes padded cells, blank rows and 3.0 for 3."""
    path = tmp_path / "outcomes.csv"
    path.write_bytes("\ufeffepisode_index,outcome\r\n0,Success\r\n 1 , failure \r\n,\r\n2.0,success\r\n3,FAILURE\r\n".encode())
    assert read_outcome_file(path) == {0: C.Outcome.SUCCESS, 1: C.Outcome.FAILURE, 2: C.Outcome.SUCCESS, 3: C.Outcome.FAILURE}
    recording = make_recording(tmp_path / "recording", record_outcomes=False)
    out = annotate_dataset(AnnotateConfig(root=recording, output_root=tmp_path / "out", outcomes=path), progress=False)
    assert out.outcomes == {"success": 2, "failure": 2}


def test_outcome_files_that_repeat_an_episode(tmp_path):
    same = tmp_path / "same.csv"
    same.write_text("episode_index,outcome\n0,success\n1,failure\n0,success\n")
    assert read_outcome_file(same) == {0: C.Outcome.SUCCESS, 1: C.Outcome.FAILURE}
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("episode_index,outcome\n0,success\n1,failure\n01,success\n")
    with pytest.raises(DatasetError, match="gives episode 1 two different outcomes, failure and success"):
        read_outcome_file(conflict)
    bad_index = tmp_path / "bad_index.csv"
    bad_index.write_text("episode_index,outcome\nfirst,success\n")
    with pytest.raises(DatasetError, match="'first' is not an episode index"):
        read_outcome_file(bad_index)


def test_device_cuda_without_a_gpu_warns_and_runs_on_the_cpu(monkeypatch, caplog):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="lerobot_recap.data.label"):
        assert resolve_device("cuda") == "cpu"
        assert resolve_device("cuda:0") == "cpu"
    assert "no CUDA GPU is available here, so the value model runs on the CPU instead" in caplog.text
    assert resolve_device("cpu") == "cpu" and resolve_device(None) is None
    with pytest.raises(DatasetError, match="--device=gpu is not a device torch knows"):
        resolve_device("gpu")


@pytest.mark.slow
def test_label_cli_with_device_cuda_on_a_machine_without_a_gpu(tmp_path):
    """`lerobot-recap-label --device=cuda` where there is no GPU: a warning, then the same labels from the CPU."""
    import torch

    from tests.value.conftest import build_annotated, make_tiny_policy

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    annotated = build_annotated(tmp_path / "data")
    checkpoint = tmp_path / "value" / "pretrained_model"
    make_tiny_policy(annotated).save_pretrained(checkpoint)
    result = subprocess.run(
        [sys.executable, "-m", LABEL[0], f"--root={annotated}", f"--value_path={checkpoint}", "--device=cuda",
         f"--output_root={tmp_path / 'labeled'}", "--num_workers=0", "--batch_size=16", "--plots=false"],
        env=cli_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--device=cuda: no CUDA GPU is available here, so the value model runs on the CPU instead" in result.stderr
    assert load_recap_metadata(tmp_path / "labeled").labels["value_model"]["sha256"]
