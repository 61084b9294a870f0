"""lerobot-recap-pipeline: run the RECAP stages through their stock entry points, with a stage table and a report.

With no arguments it runs the embedded default: it generates a small simulated hand-over dataset
(`lerobot-recap-generate`), annotates it (`lerobot-recap-annotate`), trains a tiny value model with stock
`lerobot-train --policy.type=recap_value`, and relabels the advantage indicator (`lerobot-recap-label`), on CPU.
Each stage is a subprocess whose command is printed so it can be rerun by hand; a finished stage is not rerun
(its marker lives in `<output_dir>/stages/`) unless `--force_stages` names it. The policy stages (SFT, stage-3 and
full-RECAP fine-tuning with `--policy.type=pi06_recap`) and the evaluation are not chained yet: the report lists
them as pending rather than pretending.
"""


import json
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

PENDING_STAGES = ("sft", "recorded_indicator", "full_recap", "eval")


@dataclass
class PipelineConfig:
    """lerobot-recap-pipeline: RECAP stages 1, 4 and 5 (plus data generation) through the stock CLIs."""

    output_dir: Path = Path("outputs/recap_pipeline")
    """Where datasets, checkpoints, stage markers and the report go."""
    dataset_root: Path | None = None
    """An existing LeRobot v3.0 dataset to run on (default: generate the embedded simulated task)."""
    n_demos: int = 8
    """Embedded default: scripted demonstrations to generate."""
    n_autonomous: int = 10
    """Embedded default: autonomous rollouts to generate."""
    n_corrected: int = 6
    """Embedded default: rollouts with operator corrections to generate."""
    value_steps: int = 200
    """Training steps of the value model."""
    value_size: str = "tiny"
    """Value model size: tiny (CPU, minutes) or full (SigLIP so400m + Gemma3-270M; needs a GPU and Hub weights)."""
    batch_size: int = 16
    """Batch size of value training and labeling."""
    n_steps: int = 50
    """Advantage lookahead N of the relabel stage."""
    positive_fraction: float = 0.3
    """Fraction of autonomous frames labeled positive, per task."""
    device: str = "cpu"
    """Torch device of training and labeling."""
    force_stages: list[str] = field(default_factory=list)
    """Stages to rerun even if finished (generate, annotate, value, label)."""


@dataclass
class StageResult:
    name: str
    command: list[str]
    seconds: float
    metric: str
    skipped: bool = False


def console_script(name: str) -> str:
    """A console script installed beside the running interpreter (the stock LeRobot CLIs, ours), else its bare name."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _run_stage(cfg: PipelineConfig, name: str, command: list[str], metric) -> StageResult:
    marker = cfg.output_dir / "stages" / f"{name}.json"
    if marker.exists() and name not in cfg.force_stages:
        data = json.loads(marker.read_text())
        logging.info("[%s] already done (%.0f s), skipping; --force_stages=[%s] reruns it", name, data["seconds"], name)
        return StageResult(name, command, data["seconds"], data["metric"], skipped=True)
    logging.info("[%s] %s", name, shlex.join(command))
    start = time.time()
    log_path = cfg.output_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seconds = time.time() - start
    if result.returncode != 0:
        tail = log_path.read_text()[-3000:]
        raise SystemExit(f"stage {name} failed (exit {result.returncode}); log: {log_path}\n{tail}")
    value = metric()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"seconds": seconds, "metric": value, "command": command}))
    logging.info("[%s] done in %.0f s: %s", name, seconds, value)
    return StageResult(name, command, seconds, value)


def _print_table(results: list[StageResult]) -> str:
    lines = ["| stage | wall time | key metric | command |", "|---|---|---|---|"]
    for r in results:
        time_text = f"{r.seconds:.0f} s" + (" (earlier run)" if r.skipped else "")
        lines.append(f"| {r.name} | {time_text} | {r.metric} | `{shlex.join(r.command)}` |")
    for name in PENDING_STAGES:
        lines.append(f"| {name} | - | pending: not chained by the pipeline yet | - |")
    table = "\n".join(lines)
    print(table, flush=True)
    return table


@parser.wrap()
def pipeline(cfg: PipelineConfig) -> dict:
    from lerobot_recap.data.metadata import load_recap_metadata

    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_MODE", "disabled")
    results: list[StageResult] = []
    source = cfg.dataset_root
    if source is None:
        source = cfg.output_dir / "data" / "handover"
        results.append(
            _run_stage(
                cfg,
                "generate",
                [console_script("lerobot-recap-generate"), f"--output_dir={source}", f"--n_demos={cfg.n_demos}",
                 f"--n_autonomous={cfg.n_autonomous}", f"--n_corrected={cfg.n_corrected}", "--overwrite=true"],
                lambda: f"{len(load_recap_metadata(source).episodes)} episodes",
            )
        )
    annotated = cfg.output_dir / "data" / "annotated"
    results.append(
        _run_stage(
            cfg,
            "annotate",
            [console_script("lerobot-recap-annotate"), f"--root={source}", f"--output_root={annotated}", "--overwrite=true"],
            lambda: json.dumps(_outcome_counts(annotated)),
        )
    )
    value_dir = cfg.output_dir / "value"
    results.append(
        _run_stage(
            cfg,
            "value",
            [console_script("lerobot-train"), "--policy.type=recap_value", f"--policy.size={cfg.value_size}",
             f"--policy.device={cfg.device}", "--dataset.repo_id=local/annotated", f"--dataset.root={annotated}",
             f"--output_dir={value_dir}", f"--steps={cfg.value_steps}", f"--batch_size={cfg.batch_size}",
             "--num_workers=0", f"--save_freq={cfg.value_steps}", "--log_freq=20", "--wandb.enable=false"]
            + (["--resume=false"] if not value_dir.exists() else []),
            lambda: "checkpoint at " + str(value_dir / "checkpoints" / "last" / "pretrained_model"),
        )
    )
    labeled = cfg.output_dir / "data" / "labeled"
    results.append(
        _run_stage(
            cfg,
            "label",
            [console_script("lerobot-recap-label"), f"--root={annotated}", f"--value_path={value_dir}",
             f"--output_root={labeled}", f"--n_steps={cfg.n_steps}", f"--positive_fraction={cfg.positive_fraction}",
             f"--batch_size={cfg.batch_size}", "--num_workers=0", f"--device={cfg.device}", "--overwrite=true"],
            lambda: _label_metric(labeled),
        )
    )
    table = _print_table(results)
    report = {
        "stages": [r.__dict__ for r in results],
        "pending": list(PENDING_STAGES),
        "labels": load_recap_metadata(labeled).labels,
        "annotation": _outcome_counts(annotated),
    }
    (cfg.output_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (cfg.output_dir / "report.md").write_text(
        "# lerobot-recap pipeline report\n\n" + table + "\n\nLabel provenance and plots: "
        f"`{labeled}/meta/recap.json`, `{labeled}_plots/`.\n"
    )
    logging.info("report written to %s", cfg.output_dir / "report.md")
    return report


def _label_metric(labeled: Path) -> str:
    from lerobot_recap.data.metadata import load_recap_metadata

    labels = load_recap_metadata(labeled).labels or {}
    rates = labels.get("positive_rates", {})
    metrics = labels.get("value_metrics", {})
    return f"positive rate (autonomous) {rates.get('autonomous', float('nan')):.3f}; value metrics {json.dumps(metrics)}"


def _outcome_counts(root: Path) -> dict:
    from collections import Counter

    from lerobot_recap.data.metadata import load_recap_metadata

    meta = load_recap_metadata(root)
    return {
        "outcomes": dict(Counter(e.outcome.value for e in meta.episodes.values())),
        "sources": dict(Counter(e.source.value for e in meta.episodes.values() if e.source)),
    }


def main() -> None:
    init_logging()
    pipeline()


if __name__ == "__main__":
    main()
