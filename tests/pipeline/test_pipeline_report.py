"""The report's statistics and parsers: Wilson intervals (hypothesis), training-log and eval_info parsing."""

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from lerobot_recap.pipeline.report import (
    read_successes,
    recap_verdict,
    success_summary,
    training_curve,
    wilson_interval,
)


@given(st.integers(min_value=1, max_value=500), st.data())
def test_wilson_interval_contains_the_rate_and_stays_in_unit_range(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    if 0 < k < n:
        assert low > 0.0 and high < 1.0


def test_wilson_interval_matches_the_textbook_value():
    # 8 successes out of 20: the 95% Wilson interval is about [0.219, 0.613].
    low, high = wilson_interval(8, 20)
    assert math.isclose(low, 0.2188, abs_tol=5e-4) and math.isclose(high, 0.6134, abs_tol=5e-4)


@given(st.integers(min_value=1, max_value=200))
def test_interval_narrows_with_more_episodes(n):
    small = wilson_interval(n, 2 * n)
    large = wilson_interval(4 * n, 8 * n)
    assert large[1] - large[0] < small[1] - small[0]


def test_success_summary_counts():
    summary = success_summary([True, False, True, True])
    assert (summary["successes"], summary["episodes"], summary["rate"]) == (3, 4, 0.75)


def test_training_curve_reads_stock_lerobot_train_lines(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "INFO ... ot_train.py:435 step:50 smpl:800 ep:14 epch:0.27 loss:2.835 grdn:2.4 lr:1.0e-03\n"
        "Training: 10%|...\rINFO ... step:1K smpl:16K ep:280 epch:5.4 loss:0.512 grdn:1.1 lr:1.5e-05\n"
    )
    assert training_curve(log) == [(50, 2.835), (1000, 0.512)]


def test_read_successes_from_eval_info(tmp_path):
    info = {"per_task": [{"metrics": {"successes": [True, False]}}, {"metrics": {"successes": [False]}}]}
    (tmp_path / "eval_info.json").write_text(json.dumps(info))
    assert read_successes(tmp_path) == [True, False, False]


def test_training_curve_uses_exact_steps_when_the_log_interval_is_known(tmp_path):
    log = tmp_path / "train.log"
    # lerobot-train logs every 500 steps: at 500, 1000 and 1500 (which it prints rounded as 2K).
    log.write_text("step:500 smpl:8K loss:0.9\nstep:1K smpl:16K loss:0.7\nstep:2K smpl:24K loss:0.5\n")
    assert training_curve(log)[-1] == (2000, 0.5)
    assert training_curve(log, log_freq=500) == [(500, 0.9), (1000, 0.7), (1500, 0.5)]


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=200))
def test_mean_summary_interval_contains_the_mean(values):
    from lerobot_recap.pipeline.report import mean_summary

    summary = mean_summary(values)
    assert 0.0 <= summary["ci95"][0] <= summary["mean"] + 1e-12
    assert summary["mean"] - 1e-12 <= summary["ci95"][1] <= 1.0


def test_read_progress_from_eval_info(tmp_path):
    from lerobot_recap.pipeline.report import read_progress

    info = {"per_task": [{"metrics": {"sum_rewards": [0.25, 1.0], "successes": [False, True]}}]}
    (tmp_path / "eval_info.json").write_text(json.dumps(info))
    assert read_progress(tmp_path) == [0.25, 1.0]


def test_label_metric_reports_the_held_out_value_figures(tmp_path):
    from lerobot_recap.data.metadata import RecapMetadata, save_recap_metadata
    from lerobot_recap.pipeline.report import label_metric

    metadata = RecapMetadata()
    metadata.labels = {
        "positive_rates": {"autonomous": 0.3},
        "value_metrics": {
            "all": {"spearman": 0.9, "final_quarter_auc": 1.0},
            "held_out": {"spearman": 0.65, "final_quarter_auc": 0.875},
        },
    }
    save_recap_metadata(tmp_path, metadata)
    assert label_metric(tmp_path) == (
        "positive rate (autonomous) 0.30; value (held-out) Spearman 0.65, final-quarter AUC 0.88"
    )


def _row(successes: int, n: int = 300) -> dict:
    return success_summary([True] * successes + [False] * (n - successes))


def test_verdict_names_the_newest_recap_and_whether_the_intervals_are_apart():
    evaluation = {"sft": _row(118), "bc": _row(118), "recap": _row(121), "recap_it2": _row(180)}
    assert recap_verdict(evaluation) == (
        "RECAP after 2 iteration(s): 60.0% against stage 2's 39.3% (+20.7 points), better than stage 2, the 95% "
        "intervals apart."
    )
    assert "intervals overlap" in recap_verdict({"sft": _row(118), "recap": _row(121)})
    assert "worse than stage 2" in recap_verdict({"sft": _row(180), "recap": _row(60)})
    assert recap_verdict({"recap": _row(121)}) is None and recap_verdict({"sft": _row(1), "bc": _row(2)}) is None
