"""lerobot-recap-pipeline's evaluation plan: seeds, replicated fine-tunes, and the per-seed column of the report."""

from __future__ import annotations

import pytest

from lerobot_recap.scripts.lerobot_recap_pipeline import PipelineConfig, finetune_name, finetune_seed_of
from lerobot_recap.scripts.pipeline_report import evaluation_table, success_summary


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
    from lerobot_recap.scripts.pipeline_report import plot_success_rates

    evaluation = {
        name: {**success_summary([True] * k + [False] * (6 - k)), "per_seed": {1000: k / 6, 2000: (k - 1) / 6}}
        for name, k in (("sft", 5), ("bc", 2), ("recorded", 3), ("recap", 4))
    }
    path = plot_success_rates(evaluation, tmp_path / "rates.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
