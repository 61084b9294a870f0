"""What lerobot-recap-pipeline trains and compares: its policy variants and training runs, in one place.

The pipeline builds its commands from this table and the report iterates the same table for its rows, colours and
training curves, so adding a variant is one entry here. Neither module imports the other's internals: both read
this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PolicyVariant:
    """One pi06_recap policy of the comparison."""

    name: str
    """Stage, folder and report key."""
    title: str
    """Its row in the report."""
    colour: str
    """Its bar in the success plot."""
    dataset: str = "annotated"
    """Which dataset it trains on - annotated (the recorded indicator) or labeled (the value model's)."""
    flags: tuple[str, ...] = ()
    """Extra lerobot-train flags on top of the stage-2 checkpoint's config."""
    fine_tune: bool = True
    """Whether it is fine-tuned from the stage-2 checkpoint (False for stage 2 itself)."""


SFT = PolicyVariant("sft", "stage 2: SFT on the demonstrations (where the three start)", "#999999", fine_tune=False)
POLICY_VARIANTS: tuple[PolicyVariant, ...] = (
    SFT,
    PolicyVariant("bc", "(a) plain BC on mixed data, no indicator", "#6a9fd4", flags=("--policy.indicator_dropout=1.0",)),
    PolicyVariant("recorded", "(b) stage 3: recorded indicator", "#2e7d32"),
    PolicyVariant("recap", "(c) stage 6: full RECAP, conditioned positive", "#e07b00", dataset="labeled"),
)
"""The reference (stage 2) and the three fine-tunes from it that differ only in the indicator they see."""
FINE_TUNES = tuple(v for v in POLICY_VARIANTS if v.fine_tune)
VARIANTS_BY_NAME = {v.name: v for v in POLICY_VARIANTS}


def finetune_name(cfg: Any, variant: str, seed: int) -> str:
    """Stage and folder name of a fine-tune: the variant for the first training seed, `<variant>_seed<s>` after."""
    return variant if seed == cfg.finetune_seeds[0] else f"{variant}_seed{seed}"


def finetune_seed_of(cfg: Any, eval_index: int) -> int:
    """The training seed of the fine-tunes that eval seed number `eval_index` evaluates: the only one, or its pair."""
    return cfg.finetune_seeds[eval_index if len(cfg.finetune_seeds) > 1 else 0]


def log_freq(steps: int) -> int:
    """Training log interval: about ten points per run, at most every 50 steps."""
    return max(1, min(50, steps // 10))


@dataclass(frozen=True)
class TrainingRun:
    """One lerobot-train stage of the pipeline, as the report reads its log."""

    name: str
    steps: int
    start_step: int
    """Where its curve starts on the plot: the fine-tunes continue from the end of stage 2."""
    model: str
    """pi06_recap or recap_value (drawn in separate panels)."""

    @property
    def log_freq(self) -> int:
        return log_freq(self.steps)


def training_runs(cfg: Any) -> list[TrainingRun]:
    """Every training stage of a pipeline config: stage 2, each fine-tune for each training seed, the value model."""
    runs = [TrainingRun(SFT.name, cfg.sft_steps, 0, "pi06_recap")]
    for variant in FINE_TUNES:
        for seed in cfg.finetune_seeds:
            runs.append(TrainingRun(finetune_name(cfg, variant.name, seed), cfg.finetune_steps, cfg.sft_steps, "pi06_recap"))
    runs.append(TrainingRun("value", cfg.value_steps, 0, "recap_value"))
    return runs
