"""The pipeline's report: stage metrics, success rates with Wilson intervals, training curves and plots.

Everything here reads what the stages wrote (dataset metadata, training logs, `lerobot-eval`'s `eval_info.json`):
no figure is typed in by hand.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lerobot_recap.pipeline.plan import RECAP, SFT, TrainingRun, iteration_of, training_runs, variant_of

_TRAIN_LINE = re.compile(r"step:(?P<step>[\d.]+[KMB]?) .*?loss:(?P<loss>[-\d.e]+)")
_SUFFIX = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def stage_table(results) -> str:
    """The live stage table: stage, wall time, key metric and the command that reruns it."""
    lines = ["| stage | wall time | key metric | command |", "|---|---|---|---|"]
    for r in results:
        time_text = f"{r.seconds:.0f} s" + (" (earlier run)" if r.skipped else "")
        lines.append(f"| {r.name} | {time_text} | {r.metric} | `{shlex.join(r.command)}` |")
    return "\n".join(lines)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sound at 0 and n successes, unlike the normal interval)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 and n successes the bounds are exactly 0 and 1; say so rather than trust the rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def success_summary(successes: list[bool]) -> dict[str, Any]:
    n, k = len(successes), int(sum(bool(s) for s in successes))
    low, high = wilson_interval(k, n)
    return {"episodes": n, "successes": k, "rate": k / n if n else float("nan"), "ci95": [low, high]}


def mean_summary(values: list[float], z: float = 1.96) -> dict[str, Any]:
    """Mean with a normal-approximation 95% interval (clipped to [0, 1]), for per-episode progress in [0, 1]."""
    n = len(values)
    if n == 0:
        return {"episodes": 0, "mean": float("nan"), "ci95": [0.0, 1.0]}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(var / n)
    return {"episodes": n, "mean": mean, "ci95": [max(0.0, mean - half), min(1.0, mean + half)]}


def read_progress(eval_dir: Path) -> list[float]:
    """Per-episode summed reward from a `lerobot-eval` output dir: sub-task progress in [0, 1] on recap_handover."""
    info = json.loads((Path(eval_dir) / "eval_info.json").read_text())
    values: list[float] = []
    for task in info.get("per_task", []):
        values += [float(v) for v in task["metrics"]["sum_rewards"]]
    return values


def read_successes(eval_dir: Path) -> list[bool]:
    """Per-episode success flags from a `lerobot-eval` output dir (every task of its eval_info.json)."""
    info = json.loads((Path(eval_dir) / "eval_info.json").read_text())
    flags: list[bool] = []
    for task in info.get("per_task", []):
        flags += [bool(s) for s in task["metrics"]["successes"]]
    return flags


def eval_metric(successes: list[bool]) -> str:
    s = success_summary(successes)
    return f"success {s['successes']}/{s['episodes']} = {s['rate']:.0%} (95% CI {s['ci95'][0]:.0%}-{s['ci95'][1]:.0%})"


def training_curve(log_path: Path, log_freq: int | None = None) -> list[tuple[int, float]]:
    """(step, loss) pairs from a stock lerobot-train log.

    lerobot-train prints steps rounded (``step:2K`` at step 1500); with ``log_freq`` the exact step of the i-th
    logged line, ``(i + 1) * log_freq``, is used instead.
    """
    points = []
    for i, match in enumerate(_TRAIN_LINE.finditer(Path(log_path).read_text(errors="replace"))):
        raw = match["step"]
        suffix = raw[-1] if raw[-1] in "KMB" else ""
        step = int(round(float(raw.rstrip("KMB")) * _SUFFIX[suffix])) if log_freq is None else (i + 1) * log_freq
        points.append((step, float(match["loss"])))
    return points


def train_metric(log_path: Path, log_freq: int | None = None) -> str:
    curve = training_curve(log_path, log_freq)
    if not curve:
        return "no loss logged"
    return f"loss {curve[0][1]:.3f} (step {curve[0][0]}) -> {curve[-1][1]:.3f} (step {curve[-1][0]})"


def demo_episodes(annotated: Path) -> list[int]:
    """Episode indices whose source is a demonstration (stage 2 trains on these)."""
    from lerobot_recap.data.contract import Source
    from lerobot_recap.data.metadata import load_recap_metadata

    episodes = load_recap_metadata(annotated).episodes
    return sorted(int(i) for i, e in episodes.items() if e.source == Source.DEMO)


def data_mix(annotated: Path) -> dict[str, dict[str, int]]:
    from lerobot_recap.data.metadata import load_recap_metadata

    meta = load_recap_metadata(annotated)
    return {
        "outcomes": dict(Counter(e.outcome.value for e in meta.episodes.values())),
        "sources": dict(Counter(e.source.value for e in meta.episodes.values() if e.source)),
    }


def data_mix_metric(annotated: Path) -> str:
    mix = data_mix(annotated)
    return ", ".join(f"{k} {v}" for k, v in {**mix["sources"], **mix["outcomes"]}.items())


def episode_count(root: Path) -> int:
    """Episodes of a LeRobot dataset, from its meta/info.json."""
    return int(json.loads((Path(root) / "meta" / "info.json").read_text())["total_episodes"])


def collect_summary(collected: Path) -> dict[str, Any]:
    """What lerobot-recap-collect recorded in a round: its summary (episodes, successes, corrections, frames...)."""
    from lerobot_recap.envs.collect import COLLECT_META_PATH

    return json.loads((Path(collected) / COLLECT_META_PATH).read_text())["summary"]


def collect_metric(collected: Path) -> str:
    s = collect_summary(collected)
    corrected = s["sources"].get("correction", 0)
    human = s["human_frames"] / s["frames"] if s["frames"] else 0.0
    return (
        f"{s['episodes']} episodes, success {s['success_rate']:.0%} with corrections; {corrected} corrected "
        f"({s['corrections']} takeovers, {human:.0%} of frames), {s['dropped']} dropped, {s['timeouts']} timed out"
    )


def label_metric(labeled: Path) -> str:
    from lerobot_recap.data.metadata import load_recap_metadata

    labels = load_recap_metadata(labeled).labels or {}
    rate = labels.get("positive_rates", {}).get("autonomous", float("nan"))
    metrics = labels.get("value_metrics", {})
    split = "held-out" if metrics.get("held_out") else "all"
    judged = metrics.get("held_out") or metrics.get("all", {})
    spearman = judged.get("spearman", float("nan"))
    auc = judged.get("final_quarter_auc", float("nan"))
    return f"positive rate (autonomous) {rate:.2f}; value ({split}) Spearman {spearman:.2f}, final-quarter AUC {auc:.2f}"


def evaluation_table(evaluation: dict[str, dict[str, Any]]) -> str:
    if not evaluation:
        return "No simulated evaluation (no --eval_env)."
    lines = [
        "| policy | success rate | 95% CI | per seed | mean progress (summed reward) | 95% CI | episodes |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, s in evaluation.items():
        title = s.get("title", variant)
        p = s.get("progress") or mean_summary([])
        per_seed = " / ".join(f"{rate:.0%}" for rate in s.get("per_seed", {}).values())
        lines.append(
            f"| {title} | {s['rate']:.1%} | {s['ci95'][0]:.1%} - {s['ci95'][1]:.1%} | {per_seed} | {p['mean']:.2f} | "
            f"{p['ci95'][0]:.2f} - {p['ci95'][1]:.2f} | {s['episodes']} |"
        )
    return "\n".join(lines)


def recap_verdict(evaluation: dict[str, dict[str, Any]]) -> str | None:
    """One line: the newest RECAP policy against the stage-2 policy it started from, and whether the 95% intervals
    are apart (None without both rows)."""
    recap_keys = [key for key in evaluation if variant_of(key) == RECAP]
    if SFT.name not in evaluation or not recap_keys:
        return None
    key = max(recap_keys, key=iteration_of)
    recap, sft = evaluation[key], evaluation[SFT.name]
    gain = 100 * (recap["rate"] - sft["rate"])
    if recap["ci95"][0] > sft["ci95"][1]:
        verdict = "better than stage 2, the 95% intervals apart"
    elif recap["ci95"][1] < sft["ci95"][0]:
        verdict = "worse than stage 2, the 95% intervals apart"
    else:
        verdict = "not distinguishable from stage 2: the 95% intervals overlap"
    return (f"RECAP after {iteration_of(key)} iteration(s): {recap['rate']:.1%} against stage 2's {sft['rate']:.1%} "
            f"({gain:+.1f} points), {verdict}.")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(runs: list[TrainingRun], logs: Path, path: Path) -> Path | None:
    """Loss curves of every training run; the fine-tunes are drawn from where the stage-2 run they start from ends."""
    curves = {run: training_curve(logs / f"{run.name}.log", run.log_freq) for run in runs}
    curves = {run: curve for run, curve in curves.items() if curve}
    if not curves:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for run, curve in curves.items():
        axis = axes[1] if run.model == "recap_value" else axes[0]
        steps, losses = zip(*curve, strict=True)
        variant = variant_of(run.name)
        axis.plot([s + run.start_step for s in steps], losses, label=run.name, color=variant.colour if variant else None,
                  alpha=1.0 if "_seed" not in run.name and "_it" not in run.name else 0.5)
    axes[0].set_title("pi06_recap flow-matching loss")
    axes[1].set_title("recap_value cross-entropy")
    for axis in axes:
        axis.set_xlabel("step")
        axis.set_ylabel("loss")
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_success_rates(evaluation: dict[str, dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = list(evaluation)
    colors = [variant_of(n).colour if variant_of(n) else "#555555" for n in names]
    panels = (
        ("success rate (95% Wilson CI)", [evaluation[n]["rate"] for n in names], [evaluation[n]["ci95"] for n in names]),
        (
            "mean sub-task progress (95% CI)",
            [(evaluation[n].get("progress") or mean_summary([]))["mean"] for n in names],
            [(evaluation[n].get("progress") or mean_summary([]))["ci95"] for n in names],
        ),
    )
    for axis, (label, values, intervals) in zip(axes, panels, strict=True):
        errors = [[v - ci[0] for v, ci in zip(values, intervals, strict=True)],
                  [ci[1] - v for v, ci in zip(values, intervals, strict=True)]]
        axis.bar(names, values, yerr=errors, capsize=6, color=colors)
        axis.set_ylim(0, 1)
        axis.set_ylabel(label)
    # Each seed's rate: the spread between training runs that the pooled intervals leave out.
    seed_rates = [list(evaluation[n].get("per_seed", {}).values()) for n in names]
    if any(len(rates) > 1 for rates in seed_rates):
        for i, rates in enumerate(seed_rates):
            axes[0].scatter([i] * len(rates), rates, color="black", s=14, zorder=3, label="per seed" if i == 0 else None)
        axes[0].legend(loc="upper right")
    fig.suptitle(f"lerobot-eval, {evaluation[names[0]]['episodes']} episodes per policy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def policy_title(key: str) -> str:
    """A report row's title: its variant's, with the RECAP iteration after the first."""
    variant, iteration = variant_of(key), iteration_of(key)
    if variant is None:
        return key
    return variant.title if iteration == 1 else f"{variant.title}, iteration {iteration}"


def plot_iterations(evaluation: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Success per RECAP iteration: stage 2 at 0, each iteration's RECAP policy after it, baselines at iteration 1."""
    if SFT.name not in evaluation and not any(variant_of(k) for k in evaluation):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    lines: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for key, s in evaluation.items():
        variant = variant_of(key)
        if variant is None:
            continue
        lines.setdefault(variant.name, []).append((0 if variant.name == SFT.name else iteration_of(key), s))
    sft = lines.get(SFT.name)
    baselines = [name for name in lines if name not in (SFT.name, RECAP.name)]
    for name, points in lines.items():
        if name == RECAP.name and sft:  # RECAP's line starts from the stage-2 policy it improves on
            points = sft + points
        points.sort(key=lambda p: p[0])
        # Baselines exist at iteration 1 only: spread them a little so their intervals do not hide each other.
        shift = 0.06 * (baselines.index(name) + 1) if name in baselines else 0.0
        xs = [x + (shift if x > 0 else 0.0) for x, _ in points]
        rates = [s["rate"] for _, s in points]
        errors = [[s["rate"] - s["ci95"][0] for _, s in points], [s["ci95"][1] - s["rate"] for _, s in points]]
        colour = variant_of(name).colour
        ax.errorbar(xs, rates, yerr=errors, marker="o", capsize=5, color=colour, label=name,
                    linestyle="-" if len(xs) > 1 else "none", zorder=2 if name == SFT.name else 1)
    iterations = max((x for points in lines.values() for x, _ in points), default=1)
    ax.set_xticks(range(0, iterations + 1), ["stage 2"] + [f"iteration {k}" for k in range(1, iterations + 1)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_title("Success per RECAP iteration (lerobot-eval)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    cfg,
    results,
    evaluations: dict[str, list[bool]],
    progress: dict[str, list[float]],
    annotated: Path,
    labeled: Path,
    per_seed: dict[str, dict[int, float]] | None = None,
    rounds: list[Path] | None = None,
) -> dict[str, Any]:
    """Write report.md, report.json and the plots into cfg.output_dir; returns the JSON summary.

    ``evaluations`` pools every seed's episodes per policy; ``per_seed`` holds each seed's success rate;
    ``annotated`` and ``labeled`` are the last iteration's data, ``rounds`` the collected rounds in order.
    """
    from lerobot_recap.data.metadata import load_recap_metadata

    out = Path(cfg.output_dir)
    evaluation = {
        key: {
            "title": policy_title(key),
            **success_summary(flags),
            "progress": mean_summary(progress.get(key, [])),
            "per_seed": (per_seed or {}).get(key, {}),
        }
        for key, flags in evaluations.items()
    }
    labels = load_recap_metadata(labeled).labels or {}
    runs = training_runs(cfg)
    logs = out / "logs"
    plots = {"training_curves": plot_training_curves(runs, logs, out / "training_curves.png")}
    if evaluation:
        plots["success_rates"] = plot_success_rates(evaluation, out / "success_rates.png")
        plots["iterations"] = plot_iterations(evaluation, out / "success_per_iteration.png")
    label_plots = sorted(str(p) for p in (labeled.parent / f"{labeled.name}_plots").glob("*.png"))
    summary = {
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "stages": [asdict(r) for r in results],
        "data_mix": data_mix(annotated),
        "rounds": {Path(r).name: collect_summary(r) for r in rounds or []},
        "value_metrics": labels.get("value_metrics", {}),
        "labels": {k: labels.get(k) for k in ("positive_rates", "thresholds", "n_steps", "positive_fraction")},
        "training_curves": {
            run.name: training_curve(logs / f"{run.name}.log", run.log_freq)
            for run in runs
            if (logs / f"{run.name}.log").exists()
        },
        "evaluation": evaluation,
        "plots": {k: str(v) for k, v in plots.items() if v} | {"labels": label_plots},
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "report.md").write_text(_markdown(cfg, results, summary))
    return summary


def rounds_table(rounds: dict[str, dict[str, Any]]) -> str:
    """One row per collected round: how the collecting policy did and how much the operator corrected."""
    lines = [
        "| round | episodes | success (with corrections) | corrected episodes | takeovers | human frames | dropped | timed out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in rounds.items():
        human = s["human_frames"] / s["frames"] if s["frames"] else 0.0
        lines.append(
            f"| {name} | {s['episodes']} | {s['success_rate']:.0%} | {s['sources'].get('correction', 0)} | "
            f"{s['corrections']} | {human:.0%} | {s['dropped']} | {s['timeouts']} |"
        )
    return "\n".join(lines)


def _markdown(cfg, results, summary: dict[str, Any]) -> str:
    mix = summary["data_mix"]
    lines = [
        "# lerobot-recap pipeline report",
        "",
        "## Stages",
        "",
        stage_table(results),
        "",
        "## Data mix",
        "",
        "| | " + " | ".join(mix["sources"]) + " | " + " | ".join(mix["outcomes"]) + " |",
        "|---|" + "---|" * (len(mix["sources"]) + len(mix["outcomes"])),
        "| episodes | " + " | ".join(str(v) for v in mix["sources"].values()) + " | "
        + " | ".join(str(v) for v in mix["outcomes"].values()) + " |",
        "",
        *(["## Collected rounds (stage 0 in simulation: the policy drives, the scripted operator corrects)", "",
            rounds_table(summary["rounds"]), ""] if summary["rounds"] else []),
        "## Value model and labels",
        "",
        "```json",
        json.dumps({"value_metrics": summary["value_metrics"], "labels": summary["labels"]}, indent=2, default=str),
        "```",
        "",
        *[f"![{Path(p).stem}]({_relative(p, cfg.output_dir)})" for p in summary["plots"].get("labels", [])],
        "",
        "## Training",
        "",
    ]
    if summary["plots"].get("training_curves"):
        lines.append(f"![training curves]({_relative(summary['plots']['training_curves'], cfg.output_dir)})")
    lines += [
        "",
        "## Evaluation (stock lerobot-eval, conditioned positive)",
        "",
        evaluation_table(summary["evaluation"]),
        "",
    ]
    if summary["evaluation"]:
        verdict = recap_verdict(summary["evaluation"])
        lines += [f"**{verdict}**", ""] if verdict else []
        lines += [
            f"Seeds {cfg.eval_seeds}, {cfg.eval_episodes} episodes each. The fine-tunes of iteration 1 start from the "
            f"stage-2 checkpoint and train for {cfg.finetune_steps} steps on the same data (the demonstrations and "
            "the rounds that policy collected), differing only in how they use the labels; each later iteration "
            f"fine-tunes RECAP from the previous one ({_replicates(cfg)}). Success intervals are 95% Wilson score "
            "intervals over the pooled episodes, so they leave out the spread between training runs that the per-seed "
            "column shows; progress is the episode's summed reward (a quarter per sub-task: left grasp, right grasp, "
            "hand-over done, placed) with a normal-approximation 95% interval.",
            "",
            f"![success rates]({_relative(summary['plots']['success_rates'], cfg.output_dir)})",
        ]
        if summary["plots"].get("iterations"):
            lines += ["", f"![success per iteration]({_relative(summary['plots']['iterations'], cfg.output_dir)})"]
    lines += ["", "Rerun any stage by hand with its command above, e.g.:", "", "```",
              shlex.join(results[-1].command) if results else "", "```", ""]
    return "\n".join(lines)


def _replicates(cfg) -> str:
    seeds = list(cfg.finetune_seeds)
    if len(seeds) > 1:
        return f"each fine-tune trained once per seed, training seeds {seeds}, and evaluated on its seed"
    return f"one training run each, training seed {seeds[0]}"


def _relative(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
