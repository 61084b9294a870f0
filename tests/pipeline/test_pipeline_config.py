"""lerobot-recap-pipeline's evaluation plan: seeds, replicated fine-tunes, and the per-seed column of the report."""

from __future__ import annotations

import pytest

from lerobot_recap.pipeline.runner import PipelineConfig
from lerobot_recap.pipeline.plan import finetune_name, finetune_seed_of
from lerobot_recap.pipeline.report import evaluation_table, success_summary


def test_full_repeats_each_fine_tune_once_per_eval_seed(tmp_path):
    cfg = PipelineConfig(output_dir=tmp_path, full=True)
    assert cfg.eval_episodes == 100 and cfg.eval_seeds == [1000, 2000, 3000]
    assert cfg.finetune_seeds == [1000, 2000, 3000]
    # The first seed keeps the default run's folders, so a default run's fine-tunes are reused by --full.
    assert [finetune_name(cfg, "recap", s) for s in cfg.finetune_seeds] == ["recap", "recap_seed2000", "recap_seed3000"]


def test_the_default_run_trains_each_fine_tune_once(tmp_path):
    cfg = PipelineConfig(output_dir=tmp_path)
    assert cfg.finetune_seeds == [1000] and cfg.eval_seeds == [1000]
    assert finetune_name(cfg, "bc", 1000) == "bc"


def test_fine_tune_seeds_must_pair_with_eval_seeds(tmp_path):
    with pytest.raises(ValueError, match="one per eval seed"):
        PipelineConfig(output_dir=tmp_path, eval_seeds=[1, 2, 3], finetune_seeds=[1, 2])
    one_run = PipelineConfig(output_dir=tmp_path, eval_seeds=[1, 2, 3], finetune_seeds=[7])
    assert [finetune_seed_of(one_run, i) for i in range(3)] == [7, 7, 7]  # one run, evaluated on three seeds
    paired = PipelineConfig(output_dir=tmp_path, eval_seeds=[1, 2, 3], finetune_seeds=[7, 8, 9])
    assert [finetune_seed_of(paired, i) for i in range(3)] == [7, 8, 9]


def test_evaluation_table_shows_each_seed_rate():
    summary = {**success_summary([True, False, True, True]), "title": "(c) RECAP", "per_seed": {1000: 0.5, 2000: 1.0}}
    row = evaluation_table({"recap": summary}).splitlines()[-1]
    assert "| 50% / 100% |" in row and "75.0%" in row


def test_success_plot_draws_each_seed_rate(tmp_path):
    from lerobot_recap.pipeline.report import plot_success_rates

    evaluation = {
        name: {**success_summary([True] * k + [False] * (6 - k)), "per_seed": {1000: k / 6, 2000: (k - 1) / 6}}
        for name, k in (("sft", 5), ("bc", 2), ("recorded", 3), ("recap", 4))
    }
    path = plot_success_rates(evaluation, tmp_path / "rates.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_training_run_gets_its_curve_seed_replicates_included(tmp_path):
    """The report draws what the plan trains: stage 2, each fine-tune for each training seed, the value model."""
    from lerobot_recap.pipeline.plan import training_runs
    from lerobot_recap.pipeline.report import plot_training_curves, training_curve

    cfg = PipelineConfig(output_dir=tmp_path, full=True, sft_steps=100, finetune_steps=40, value_steps=20)
    runs = training_runs(cfg)
    names = [run.name for run in runs]
    assert names[:2] == ["sft", "value"]
    assert {"bc", "bc_seed2000", "bc_seed3000", "rabc_seed2000", "recap_seed3000", "recorded_seed2000"} <= set(names)
    logs = tmp_path / "logs"
    logs.mkdir()
    for run in runs:
        lines = [f"step:{(i + 1) * run.log_freq} smpl:1 loss:{1.0 / (i + 1):.3f}" for i in range(run.steps // run.log_freq)]
        (logs / f"{run.name}.log").write_text("\n".join(lines) + "\n")
    replicate = next(run for run in runs if run.name == "recap_seed3000")
    assert replicate.start_step == 100 and training_curve(logs / "recap_seed3000.log", replicate.log_freq)[-1][0] == 40
    path = plot_training_curves(runs, logs, tmp_path / "curves.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_pipeline_and_its_report_share_one_plan_not_each_other():
    """No import circle: the report reads the plan, never the pipeline script."""
    import ast
    import inspect

    from lerobot_recap.pipeline import report as pipeline_report

    imported = {
        node.module for node in ast.walk(ast.parse(inspect.getsource(pipeline_report)))
        if isinstance(node, ast.ImportFrom)
    }
    assert not {"lerobot_recap.pipeline.runner", "lerobot_recap.scripts.lerobot_recap_pipeline"} & imported
    assert "lerobot_recap.pipeline.plan" in imported


def test_later_iterations_fine_tune_recap_from_the_previous_one(tmp_path):
    from lerobot_recap.pipeline.plan import iteration_of, training_runs, variant_of

    cfg = PipelineConfig(output_dir=tmp_path, iterations=3, sft_steps=100, finetune_steps=40)
    runs = {run.name: run for run in training_runs(cfg)}
    # Iteration 1 compares every variant; later ones only continue RECAP, each from where the one before ended.
    assert {"bc", "recorded", "rabc", "recap", "value", "recap_it2", "value_it2", "recap_it3", "value_it3"} == set(runs) - {"sft"}
    assert [runs[n].start_step for n in ("recap", "recap_it2", "recap_it3")] == [100, 140, 180]
    assert variant_of("recap_it2_seed2000").name == "recap" and iteration_of("recap_it2_seed2000") == 2
    assert variant_of("value_it2") is None and iteration_of("bc") == 1


def test_iterations_need_the_embedded_task(tmp_path):
    with pytest.raises(ValueError, match="lerobot-record"):
        PipelineConfig(output_dir=tmp_path, dataset_root=tmp_path / "robot_data", iterations=2)
    with pytest.raises(ValueError, match="--iterations must be >= 1"):
        PipelineConfig(output_dir=tmp_path, iterations=0)
    assert PipelineConfig(output_dir=tmp_path).collects
    assert not PipelineConfig(output_dir=tmp_path, dataset_root=tmp_path / "robot_data").collects


def test_baselines_never_see_the_indicator():
    from lerobot_recap.pipeline.plan import FINE_TUNES

    flags = {v.name: v.flags for v in FINE_TUNES}
    for baseline in ("bc", "rabc"):
        assert "--policy.indicator_dropout=1.0" in flags[baseline]
        assert "--policy.inference_advantage=none" in flags[baseline]
    assert "--sample_weighting.type=rabc" in flags["rabc"]
    assert flags["recap"] == () and flags["recorded"] == ()


def test_iteration_plot_and_titles(tmp_path):
    from lerobot_recap.pipeline.report import plot_iterations, policy_title

    evaluation = {
        name: success_summary([True] * k + [False] * (10 - k))
        for name, k in (("sft", 4), ("bc", 5), ("recorded", 5), ("rabc", 5), ("recap", 7), ("recap_it2", 8))
    }
    assert policy_title("recap_it2").endswith("iteration 2") and policy_title("recap") == policy_title("recap_it1")
    path = plot_iterations(evaluation, tmp_path / "iterations.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
