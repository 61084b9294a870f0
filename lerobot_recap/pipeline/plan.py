"""What lerobot-recap-pipeline trains and compares: its policy variants and training runs, in one place.

The pipeline builds its commands from this table and the report iterates the same table for its rows, colours and
training curves, so adding a variant is one entry here. Neither module imports the other's internals: both read
this one.
"""

from __future__ import annotations

import re
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


SFT = PolicyVariant("sft", "stage 2: SFT on the demonstrations (collects the data; where the fine-tunes start)", "#999999", fine_tune=False)
RECAP = PolicyVariant("recap", "(d) stage 6: full RECAP, conditioned positive", "#e07b00", dataset="labeled")
UNCONDITIONED = ("--policy.indicator_dropout=1.0", "--policy.inference_advantage=none")
"""A baseline never sees the indicator, in training or at inference."""
POLICY_VARIANTS: tuple[PolicyVariant, ...] = (
    SFT,
    PolicyVariant("bc", "(a) plain BC on demos + rollouts + corrections, no indicator", "#6a9fd4", flags=UNCONDITIONED),
    PolicyVariant("recorded", "(b) stage 3: recorded indicator", "#2e7d32"),
    PolicyVariant(
        "rabc", "(c) LeRobot RA-BC weighted by the value model's progress", "#8e44ad", dataset="labeled",
        flags=(*UNCONDITIONED, "--sample_weighting.type=rabc"),
    ),
    RECAP,
)
"""The reference (stage 2) and the fine-tunes from it on the same data, differing only in how they use the labels."""
FINE_TUNES = tuple(v for v in POLICY_VARIANTS if v.fine_tune)
VARIANTS_BY_NAME = {v.name: v for v in POLICY_VARIANTS}


def iteration_name(name: str, iteration: int) -> str:
    """Stage and folder name of a stage of RECAP iteration ``iteration``: the bare name for the first, `_it<k>` after."""
    return name if iteration == 1 else f"{name}_it{iteration}"


def variant_of(name: str) -> PolicyVariant | None:
    """The variant a stage or report key belongs to (`recap_it2_seed2000` -> recap), None for other stages."""
    return VARIANTS_BY_NAME.get(re.sub(r"(_it\d+)?(_seed\d+)?$", "", name))


def iteration_of(name: str) -> int:
    """The RECAP iteration of a stage or report key (1 without an `_it<k>` part)."""
    match = re.search(r"_it(\d+)", name)
    return int(match.group(1)) if match else 1


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
    """Every training stage of a pipeline config: stage 2, each iteration's value model and fine-tunes per seed.

    Iteration 1 fine-tunes every variant from stage 2; each later one fine-tunes RECAP from the previous RECAP policy.
    """
    runs = [TrainingRun(SFT.name, cfg.sft_steps, 0, "pi06_recap")]
    for iteration in range(1, cfg.iterations + 1):
        runs.append(TrainingRun(iteration_name("value", iteration), cfg.value_steps, 0, "recap_value"))
        start = cfg.sft_steps + (iteration - 1) * cfg.finetune_steps
        for variant in FINE_TUNES if iteration == 1 else (RECAP,):
            for seed in cfg.finetune_seeds:
                name = finetune_name(cfg, iteration_name(variant.name, iteration), seed)
                runs.append(TrainingRun(name, cfg.finetune_steps, start, "pi06_recap"))
    return runs
