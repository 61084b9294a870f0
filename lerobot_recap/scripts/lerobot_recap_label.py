"""lerobot-recap-label: RECAP stage 5 — relabel ``adv_ind`` from a trained ``recap_value`` model.

Runs the value model over every frame of an annotated dataset (batched; DataLoader workers decode video in
parallel; ``torchrun`` or ``accelerate launch`` shards the frames across processes/GPUs), computes the N-step
advantages

    A_t = sum_{k<n} reward_label[t+k] + V(o_{t+n}) - V(o_t),   n = min(N, steps left),   V past the end = 0

(N = 50 by default; ``--monte_carlo=true`` for the full return), thresholds them per task at a quantile (the top
30% of autonomous frames positive by default), forces human frames positive (configurable), and writes ``adv_ind``
plus the continuous ``advantage`` and ``value`` columns into a NEW dataset root (atomic, videos linked, source
untouched), with the provenance of the labels in ``meta/recap.json``. ``--threshold_only=true`` relabels from the
stored ``advantage`` column without running the model. The work is done by :mod:`lerobot_recap.data.label`.

    lerobot-recap-label --root=data/round1_recap --value_path=outputs/value/checkpoints/last/pretrained_model \\
        --output_root=data/round1_labeled
    torchrun --nproc_per_node=4 -m lerobot_recap.scripts.lerobot_recap_label --root=... --value_path=...
    lerobot-recap-label --root=data/round1_labeled --threshold_only=true --positive_fraction=0.4 \\
        --output_root=data/round1_labeled_40
"""

import logging

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.data.label import LabelConfig, LabelSummary, label_dataset
from lerobot_recap.scripts.cli import run_cli


def log_summary(summary: LabelSummary) -> None:
    """What the run wrote, on the console."""
    logging.info("labeled -> %s", summary.output_root)
    for task, threshold in summary.thresholds.items():
        rate = summary.provenance["positive_rates"]["per_task"][str(task)]
        logging.info("task %d: threshold %.5f, positive %.1f%% (autonomous %s)", task, threshold, 100 * rate["all"], rate["autonomous"])
    logging.info("positive overall %.1f%% | counts %s", 100 * summary.positive_rate, summary.provenance["counts"])
    for split, metrics in summary.provenance["value_metrics"].items():
        logging.info("value model on %s frames: %s", split, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    if summary.inference is not None:
        logging.info(
            "value model: %d frames in %.1fs (%.1f frames/s, %.0f%% waiting for data, %d process(es))",
            summary.inference.frames,
            summary.inference.seconds,
            summary.inference.frames_per_second,
            100 * summary.inference.data_wait_fraction,
            summary.inference.processes,
        )
    for path in summary.plots:
        logging.info("plot: %s", path)


@parser.wrap()
def label(cfg: LabelConfig) -> None:
    summary = label_dataset(cfg)
    if summary.output_root is not None:  # None on the non-main processes of a launcher
        log_summary(summary)


def main() -> None:
    init_logging()
    run_cli(label, "lerobot-recap-label")


if __name__ == "__main__":
    main()
