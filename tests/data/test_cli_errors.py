"""Every data-side CLI answers bad input with one line on stderr and exit code 2, no traceback, nothing written.

The CLIs run as subprocesses, exactly as a user runs them (`python -m <module>` is what the console scripts call);
the processes run in parallel since most of their time is LeRobot's import. One case per CLI runs by default, the
others are marked slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env
from tests.data.rollout_recording import SENTRY_EPISODES, make_rollout_dagger_recording

ANNOTATE = ("lerobot_recap.scripts.lerobot_recap_annotate", "lerobot-recap-annotate")
LABEL = ("lerobot_recap.scripts.lerobot_recap_label", "lerobot-recap-label")
EXPORT = ("lerobot_recap.scripts.lerobot_recap_export_pistar", "lerobot-recap-export-pistar")
GENERATE = ("lerobot_recap.envs.generate", "lerobot-recap-generate")


@dataclass(frozen=True)
class BadInput:
    cli: tuple[str, str]
    args: tuple[str, ...]
    reason: str
    """What the one line must say."""


CASES = {  # one per CLI
    "annotate_c_fail_coef_zero": BadInput(ANNOTATE, ("--root={data}", "--output_root={out}", "--c_fail_coef=0"), "--c_fail_coef must be > 0, got 0.0"),
    "annotate_rollout_without_outcomes": BadInput(
        ANNOTATE, ("--root={data}", "--output_root={out}"), "3 episode(s) have no outcome: [0, 1, 2]. lerobot-rollout's DAgger"
    ),
    "label_negative_num_workers": BadInput(LABEL, ("--root={data}", "--value_path=ckpt", "--num_workers=-1"), "--num_workers must be >= 0"),
    "export_missing_root": BadInput(EXPORT, ("--root={missing}", "--output_root={out}"), "dataset root {missing} does not exist"),
    "generate_negative_count": BadInput(GENERATE, ("--n_demos=-1", "--output_dir={out}"), "--n_demos must be >= 0 (got -1)"),
}

SLOW_CASES = {
    "annotate_missing_root": BadInput(ANNOTATE, ("--root={missing}", "--output_root={out}"), "dataset root {missing} does not exist"),
    "annotate_unreadable_outcomes": BadInput(
        ANNOTATE, ("--root={data}", "--output_root={out}", "--outcomes={missing}.json"), "outcome file {missing}.json does not exist"
    ),
    "label_missing_root": BadInput(LABEL, ("--root={missing}", "--value_path=ckpt", "--output_root={out}"), "dataset root {missing} does not exist"),
    "label_not_annotated": BadInput(LABEL, ("--root={data}", "--value_path=ckpt", "--output_root={out}"), "lacks the RECAP columns"),
    "label_bad_positive_fraction": BadInput(LABEL, ("--root={data}", "--value_path=ckpt", "--positive_fraction=1"), "--positive_fraction must lie in (0, 1)"),
    "export_not_annotated": BadInput(EXPORT, ("--root={data}", "--output_root={out}"), "run lerobot-recap-annotate on it first"),
    "generate_unknown_camera": BadInput(GENERATE, ("--cameras=[nadir]", "--output_dir={out}"), "--cameras must name one or more of"),
}


Run = tuple[subprocess.CompletedProcess, dict[str, Path]]


def run_all(cases: dict[str, BadInput], base: Path) -> dict[str, Run]:
    """Run every case's CLI on the rollout recording under ``base``, a few processes at a time."""
    data = make_rollout_dagger_recording(base / "rollout_towel", SENTRY_EPISODES)

    def run(name: str) -> Run:
        case = cases[name]
        paths = {"data": data, "missing": base / f"{name}_missing", "out": base / f"{name}_out"}
        args = [arg.format(**paths) for arg in case.args]
        result = subprocess.run(
            [sys.executable, "-m", case.cli[0], *args], env=cli_env(), capture_output=True, text=True, timeout=600, cwd=base
        )
        return result, paths

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        return dict(zip(cases, pool.map(run, cases), strict=True))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    return run_all(CASES, tmp_path_factory.mktemp("cli_errors"))


@pytest.fixture(scope="module")
def slow_runs(tmp_path_factory) -> dict[str, Run]:
    return run_all(SLOW_CASES, tmp_path_factory.mktemp("cli_errors_slow"))


def check_refusal(case: BadInput, run: Run) -> None:
    result, paths = run
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"{case.cli[1]}: error: "), lines[0]
    assert case.reason.format(**paths) in lines[0]
    assert not paths["out"].exists(), "a refused input writes nothing"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_code_2(runs, name):
    check_refusal(CASES[name], runs[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_CASES))
def test_more_bad_input_is_one_line_and_exit_code_2(slow_runs, name):
    check_refusal(SLOW_CASES[name], slow_runs[name])


def test_the_source_of_the_refused_runs_is_untouched(runs):
    """The annotate and label refusals above read the recording; it is still exactly what rollout wrote."""
    from lerobot_recap.data.dataset_io import read_frame_columns

    data = runs["annotate_rollout_without_outcomes"][1]["data"]
    assert not (data / "meta" / "recap.json").exists()
    flags = read_frame_columns(data, ["intervention"])["intervention"]
    np.testing.assert_array_equal(flags, np.concatenate([f for _, f in SENTRY_EPISODES]))
