"""Resuming lerobot-recap-pipeline: a finished stage is kept only while its earlier result still holds."""

from __future__ import annotations

import sys

from lerobot_recap.pipeline.runner import Pipeline, PipelineConfig


def _stage(pipeline: Pipeline, name: str, tag: str) -> None:
    """A real subprocess stage that appends its name to a file, so we can see which stages ran."""
    log = pipeline.cfg.output_dir / "ran.txt"
    command = [sys.executable, "-c", f"open({str(log)!r}, 'a').write({name!r} + ' ')", tag]
    pipeline.run(name, command, metric=lambda: f"metric of {name}")


def _ran(tmp_path) -> list[str]:
    path = tmp_path / "ran.txt"
    ran = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return ran


def _run_all(tmp_path, tags: dict[str, str], names=("first", "second", "third"), **overrides) -> list[str]:
    pipeline = Pipeline(PipelineConfig(output_dir=tmp_path, **overrides))
    for name in names:
        _stage(pipeline, name, tags.get(name, "v1"))
    return _ran(tmp_path)


def test_a_rerun_with_the_same_commands_skips_every_finished_stage(tmp_path):
    assert _run_all(tmp_path, {}) == ["first", "second", "third"]
    assert _run_all(tmp_path, {}) == []


def test_a_changed_command_reruns_that_stage_and_the_stages_after_it(tmp_path):
    _run_all(tmp_path, {})
    assert _run_all(tmp_path, {"second": "v2"}) == ["second", "third"]
    assert _run_all(tmp_path, {"second": "v2"}) == []  # the new commands are now the recorded ones


def test_force_stages_reruns_the_named_stage_and_what_follows(tmp_path):
    _run_all(tmp_path, {})
    assert _run_all(tmp_path, {}, force_stages=["first"]) == ["first", "second", "third"]
    assert _run_all(tmp_path, {}, force_stages=["third"]) == ["third"]


def test_a_rerun_training_stage_starts_from_an_empty_output_folder(tmp_path):
    # lerobot-train refuses an existing output_dir without --resume; an unfinished run's folder must not block the rerun.
    output = tmp_path / "sft"
    (output / "checkpoints").mkdir(parents=True)
    (output / "checkpoints" / "half_written.safetensors").write_bytes(b"\0" * 16)
    command = [sys.executable, "-c", f"import os; os.mkdir({str(output)!r}); open(os.path.join({str(output)!r}, 'done'), 'w')"]
    Pipeline(PipelineConfig(output_dir=tmp_path)).run("sft", command, metric=lambda: "trained", writes=output)
    assert sorted(p.name for p in output.iterdir()) == ["done"]


def test_a_new_stage_runs_without_invalidating_the_finished_ones_after_it(tmp_path):
    # --full adds fine-tunes for new seeds between stages that already ran: those keep their results.
    _run_all(tmp_path, {})
    assert _run_all(tmp_path, {}, names=("first", "first_seed2000", "second", "third")) == ["first_seed2000"]
