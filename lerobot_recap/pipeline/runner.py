"""The pipeline behind ``lerobot-recap-pipeline``: one RECAP iteration (or several) through the stock entry points,
a live stage table and a report.

With no arguments the command runs the embedded default on CPU, the loop of the paper on a simulated task:

1. a few scripted demonstrations (`lerobot-recap-generate`), annotated (stage 1, `lerobot-recap-annotate`);
2. stage 2: a few-shot `pi06_recap` fine-tuned on them (stock `lerobot-train`), moderately good by design;
3. stage 0 with that policy: `lerobot-recap-collect` lets it drive the simulated task while a scripted operator
   takes over through recap_dagger's phase machine when it goes wrong; the round is annotated, merged with the
   demonstrations by stock `lerobot-edit-dataset --operation.type=merge` and the merge annotated once;
4. stage 4: the value model on all of it (`lerobot-train --policy.type=recap_value`); stage 5: the indicator
   relabelled (`lerobot-recap-label`, which also writes the value as RA-BC progress);
5. four fine-tunes from the stage-2 checkpoint on the same data for the same steps:

   - `bc`: plain behaviour cloning, no indicator (DAgger's aggregate);
   - `recorded`: stage 3, the recorded indicator (human frames positive, autonomous frames unlabeled);
   - `rabc`: LeRobot's own RA-BC (`--sample_weighting.type=rabc`) weighted by our value model's progress;
   - `recap`: stage 6, full RECAP (the value-model indicator), conditioned positive;

and evaluates each with stock `lerobot-eval`, with the stage-2 policy that collected the data as the reference row,
reporting success rates with 95% Wilson intervals. `--iterations=N` repeats 3-5 from the newest RECAP policy (it
collects, the value model and labels are redone on everything so far, and RECAP fine-tunes from it). Every command
is printed so it can be rerun by hand; a finished stage is not rerun (its marker lives in `<output_dir>/stages/`)
unless `--force_stages` names it, its command changed, or a stage before it ran again.

On a user's dataset (`--dataset_root`, e.g. demonstrations plus recap_dagger rounds recorded on the robot) the stages
2, 4, 5 and the fine-tunes run with the sizes and launcher given (for example `--policy_size=full
--policy_base_model=lerobot/pi05_base --launcher='[accelerate,launch,--num_processes=2]'`); collection needs the
robot (`lerobot-record`, examples/stage0_yam.sh), and the simulated evaluation is skipped unless `--eval_env` names
a LeRobot env that matches the data.
"""

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lerobot_recap.pipeline import report
from lerobot_recap.pipeline.plan import (
    FINE_TUNES,
    RECAP,
    SFT,
    PolicyVariant,
    finetune_name,
    finetune_seed_of,
    iteration_name,
    log_freq,
)
from lerobot_recap.pipeline.schedule import Task, run_tasks


@dataclass
class PipelineConfig:
    """lerobot-recap-pipeline: RECAP stages 1 to 6 and the evaluation through the stock CLIs."""

    output_dir: Path = Path("outputs/recap_pipeline")
    """Where datasets, checkpoints, stage markers, logs and the report go."""
    dataset_root: Path | None = None
    """An existing LeRobot v3.0 dataset to run on (default  generate the embedded simulated task)."""
    full: bool = False
    """Larger evaluation - 3 seeds, each a fresh run of the fine-tunes evaluated on 100 episodes."""

    # --- the embedded task ---------------------------------------------------------------------------------

    n_demos: int = 14
    """Embedded default - scripted demonstrations to generate (few, so stage 2 lands around half success)."""
    n_rollouts: int = 100
    """Embedded default - episodes the current policy drives per iteration (stage 0 in simulation)."""
    collect_batch_size: int = 10
    """Embedded default - simulated envs the collecting policy drives at once."""
    corrections: bool = True
    """Embedded default - let the scripted operator take over when the policy errs (false: autonomous rollouts only)."""
    collect_args: list[str] = field(default_factory=list)
    """Extra flags for lerobot-recap-collect (e.g. --operator.stall_steps=20)."""
    iterations: int = 1
    """Embedded default - RECAP iterations: collect -> value -> label -> fine-tune, each from the newest RECAP policy."""
    spawn_scale: float = 0.0
    """Embedded default - randomization of the cube/target layout in [0, 1], for the data and the evaluation."""
    image_size: int = 32
    """Embedded default - camera image size in pixels, for the data and the evaluation (tiny models see 28x28)."""
    data_seed: int = 0
    """Seed of the generated data (the evaluation uses eval_seeds, never these episodes)."""

    # --- policy stages (2, 3, 6) ---------------------------------------------------------------------------

    policy_size: str = "tiny"
    """pi06_recap size - tiny (CPU, minutes) or full (pi0.5's gemma_2b + gemma_300m; a GPU)."""
    policy_base_model: str | None = None
    """pi0.5 weights that stage 2 starts from (e.g. lerobot/pi05_base); none - random init (tiny)."""
    sft_steps: int = 800
    """Stage 2 training steps (on the demonstrations)."""
    finetune_steps: int = 1200
    """Training steps of each fine-tune (from the stage-2 checkpoint in iteration 1, from RECAP after)."""
    policy_batch_size: int = 32
    """Batch size of stage 2 (SFT)."""
    finetune_batch_size: int = 16
    """Batch size of the fine-tunes - half of stage 2's, for twice the updates with the same samples and time."""
    policy_args: list[str] = field(default_factory=lambda: ["--policy.delta_actions=true"])
    """Extra flags for every pi06_recap training command (e.g. --peft.method_type=LORA)."""

    # --- value and label stages (4, 5) ---------------------------------------------------------------------

    value_steps: int = 300
    """Training steps of the value model."""
    value_size: str = "tiny"
    """Value model size - tiny (CPU, minutes) or full (SigLIP so400m + Gemma3-270M; a GPU and Hub weights)."""
    value_args: list[str] = field(default_factory=lambda: ["--policy.state_token=true"])
    """Extra flags for the value training command."""
    batch_size: int = 16
    """Batch size of value training and labeling."""
    n_steps: int = 50
    """Advantage lookahead N of the relabel stage."""
    positive_fraction: float = 0.3
    """Fraction of autonomous frames labeled positive, per task."""

    # --- evaluation ------------------------------------------------------------------------------------------

    eval_env: str | None = "recap_handover"
    """LeRobot env type of the evaluation (none - skip it, e.g. on real-robot data)."""
    eval_episodes: int = 100
    """Evaluation episodes per policy and seed (lerobot-eval steps up to 50 envs at once, so 100 cost about as much as 30)."""
    eval_seeds: list[int] = field(default_factory=lambda: [1000])
    """Evaluation seeds (episodes of a seed start from seed, seed+1, ...; none overlaps the data)."""
    eval_sft: bool = True
    """Also evaluate the stage-2 checkpoint the three fine-tunes start from (a reference row)."""
    finetune_seeds: list[int] = field(default_factory=lambda: [1000])
    """Training seeds of the three fine-tunes; several (one per eval seed) repeat them, so the rates include training noise."""

    # --- execution -------------------------------------------------------------------------------------------

    device: str = "cpu"
    """Torch device of every stage."""
    num_workers: int = 2
    """DataLoader workers of the training and labeling stages."""
    jobs: int | None = None
    """Stages run at once when they do not depend on each other (none - 2 on CPU, where each uses one compute
    thread, 1 on a GPU)."""
    launcher: list[str] = field(default_factory=list)
    """Prefix of the training commands, e.g. [accelerate,launch,--num_processes=2] (multi-GPU)."""
    force_stages: list[str] = field(default_factory=list)
    """Stages to rerun even if finished (names as in the stage table)."""

    def __post_init__(self) -> None:
        if self.full:
            self.eval_episodes = max(self.eval_episodes, 100)
            if len(self.eval_seeds) < 3:
                self.eval_seeds = [1000, 2000, 3000]
            if len(self.finetune_seeds) < len(self.eval_seeds):
                self.finetune_seeds = list(self.eval_seeds)
        if len(self.finetune_seeds) not in (1, len(self.eval_seeds)):
            raise ValueError(
                f"--finetune_seeds has {len(self.finetune_seeds)} seeds: give one, or one per eval seed "
                f"({len(self.eval_seeds)}); fine-tune i is evaluated on eval seed i"
            )
        if self.jobs is None:
            self.jobs = 2 if self.device == "cpu" else 1
        if self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1 (got {self.jobs})")
        if self.policy_size not in ("tiny", "full"):
            raise ValueError(f"--policy_size={self.policy_size!r}: use tiny or full")
        if self.iterations < 1:
            raise ValueError(f"--iterations must be >= 1 (got {self.iterations})")
        if self.n_demos < 1:
            raise ValueError(f"--n_demos must be >= 1 (got {self.n_demos})")
        if self.collects and (self.n_rollouts < 1 or self.collect_batch_size < 1):
            raise ValueError("--n_rollouts and --collect_batch_size must be >= 1")
        if self.iterations > 1 and not self.collects:
            raise ValueError(
                "--iterations > 1 needs new episodes from each RECAP policy: the pipeline collects them only on the "
                "embedded task (no --dataset_root, --eval_env=recap_handover); on a robot, record the next round "
                "with lerobot-record --teleop.type=recap_dagger and rerun on the merged data"
            )

    @property
    def collects(self) -> bool:
        """Whether the pipeline records its own rounds (the embedded task, where the simulator can be driven)."""
        return self.dataset_root is None and self.eval_env == "recap_handover"


@dataclass
class Evaluations:
    """Per-episode results of every evaluated policy, pooled over the eval seeds (the report's rows, in order)."""

    successes: dict[str, list[bool]] = field(default_factory=dict)
    progress: dict[str, list[float]] = field(default_factory=dict)
    per_seed: dict[str, dict[int, float]] = field(default_factory=dict)

    def register(self, key: str) -> None:
        """Reserve policy ``key``'s row, so the rows keep the plan's order whichever evaluation finishes first."""
        self.successes[key], self.progress[key], self.per_seed[key] = [], [], {}


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


class Pipeline:
    """Runs the stages (side by side where they do not depend on each other), keeps their results, prints the stage
    table as it grows."""

    def __init__(self, cfg: PipelineConfig):
        self.cfg = cfg
        self.results: list[StageResult] = []
        self.reran: list[str] = []
        """Stages of this invocation that replaced an earlier result."""
        self._lock = threading.Lock()
        self._task = threading.local()
        """Per task: `reran`, the reruns upstream of it and in it so far (see `task`)."""
        self._reran_through: dict[str, list[str]] = {}
        """Per finished task: the reruns upstream of it and in it."""
        self.data_dir = cfg.output_dir / "data"
        self.source = cfg.dataset_root or self.data_dir / "handover"
        self.annotated = self.data_dir / "annotated"
        self.rounds: list[Path] = []
        """The collected rounds (raw, as lerobot-recap-collect wrote them), in order."""

    # -- running one stage ---------------------------------------------------------------------------------------
    def run(self, name: str, command: list[str], metric: Callable[[], str], writes: Path | None = None) -> StageResult:
        """Runs one stage unless its earlier result still holds; `writes` is a folder the stage creates afresh."""
        cfg = self.cfg
        marker = cfg.output_dir / "stages" / f"{name}.json"
        earlier = json.loads(marker.read_text()) if marker.exists() else None
        rerun_reason = self.rerun_reason(name, earlier, command)
        if rerun_reason is None:
            logging.info("[%s] already done (%.0f s), skipping; --force_stages=[%s] reruns it", name, earlier["seconds"], name)
            result = StageResult(name, command, earlier["seconds"], earlier["metric"], skipped=True)
        else:
            if earlier is not None:
                logging.info("[%s] rerunning: %s", name, rerun_reason)
                with self._lock:
                    self.reran.append(name)
                if self._upstream_reran is not self.reran:
                    self._upstream_reran.append(name)
            if writes is not None and writes.exists():
                # lerobot-train refuses an existing output_dir; what is there is an earlier or unfinished run of it.
                logging.info("[%s] removing its earlier output %s", name, writes)
                shutil.rmtree(writes)
            logging.info("[%s] %s", name, shlex.join(command))
            log_path = cfg.output_dir / "logs" / f"{name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            start = time.time()
            with log_path.open("w") as log:
                returncode = subprocess.run(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=stage_env(cfg)
                ).returncode
            seconds = time.time() - start
            if returncode != 0:
                tail = log_path.read_text()[-3000:]
                raise SystemExit(
                    f"stage {name} failed (exit {returncode}); log: {log_path}\n{tail}\n"
                    f"Fix the cause and rerun the same lerobot-recap-pipeline command: finished stages are kept."
                )
            result = StageResult(name, command, seconds, metric())
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"seconds": seconds, "metric": result.metric, "command": command}))
        with self._lock:
            self.results.append(result)
            print(report.stage_table(self.results), flush=True)
        return result

    def rerun_reason(self, name: str, earlier: dict | None, command: list[str]) -> str | None:
        """Why a stage must run given its earlier marker (None if none); None when that earlier result still holds."""
        if earlier is None:
            return "not run yet"
        if name in self.cfg.force_stages:
            return "--force_stages names it"
        if earlier.get("command") != command:
            return "its command changed since the earlier run"
        # Stages read what earlier ones wrote, so a stage that ran again invalidates everything after it (in a task
        # graph: everything downstream of it). A stage that ran for the first time (e.g. a new seed's fine-tune) did
        # not feed the earlier results: they stand.
        if self._upstream_reran:
            return f"an earlier stage ran again ({self._upstream_reran[-1]})"
        return None

    @property
    def _upstream_reran(self) -> list[str]:
        """The reruns that feed the running stage: its task's upstream ones, or all of them outside a task graph."""
        return getattr(self._task, "reran", self.reran)

    def task(self, name: str, run: Callable[[], None], after: tuple[str, ...] = ()) -> Task:
        """A task of the schedule that runs stages through `run`, invalidated only by reruns upstream of it."""

        def run_in_context() -> None:
            upstream = [stage for dep in after for stage in self._reran_through[dep]]
            self._task.reran = list(dict.fromkeys(upstream))
            try:
                run()
            finally:
                self._reran_through[name] = self._task.reran
                del self._task.reran

        return Task(name, run_in_context, after)

    # -- commands ------------------------------------------------------------------------------------------------
    def train_command(self, output_dir: Path, dataset: Path, steps: int, batch_size: int, policy: list[str]) -> list[str]:
        cfg = self.cfg
        train = [console_script("lerobot-train")] if not cfg.launcher else [
            *cfg.launcher, "-m", "lerobot.scripts.lerobot_train"
        ]
        return [
            *train, *policy, f"--policy.device={cfg.device}", "--policy.push_to_hub=false",
            f"--dataset.repo_id=local/{dataset.name}", f"--dataset.root={dataset}", f"--output_dir={output_dir}",
            f"--steps={steps}", f"--batch_size={batch_size}", f"--num_workers={cfg.num_workers}",
            f"--save_freq={steps}", f"--log_freq={log_freq(steps)}", "--wandb.enable=false", "--resume=false",
        ]

    def policy_flags(self, init: Path | None, extra: list[str]) -> list[str]:
        cfg = self.cfg
        if init is not None:  # a fine-tune: weights, config and processors from the stage-2 checkpoint
            return [f"--policy.path={init}", *extra]
        flags = ["--policy.type=pi06_recap", f"--policy.size={cfg.policy_size}", *cfg.policy_args, *extra]
        if cfg.policy_base_model:
            flags.append(f"--policy.base_model={cfg.policy_base_model}")
        return flags

    def eval_command(self, checkpoint: Path, output_dir: Path, seed: int) -> list[str]:
        cfg = self.cfg
        command = [
            console_script("lerobot-eval"), f"--policy.path={checkpoint}", f"--policy.device={cfg.device}",
            f"--env.type={cfg.eval_env}", f"--eval.n_episodes={cfg.eval_episodes}",
            f"--eval.batch_size={min(cfg.eval_episodes, 50)}", f"--seed={seed}", f"--output_dir={output_dir}",
        ]
        if cfg.eval_env == "recap_handover":
            command += [f"--env.spawn_scale={cfg.spawn_scale}", f"--env.image_size={cfg.image_size}"]
        return command

    # -- the stages ----------------------------------------------------------------------------------------------
    def annotate(self, name: str, source: Path, output: Path) -> None:
        self.run(
            name,
            [console_script("lerobot-recap-annotate"), f"--root={source}", f"--output_root={output}", "--overwrite=true"],
            lambda: report.data_mix_metric(output),
        )

    def collect_round(self, iteration: int, policy: Path, previous: Path) -> None:
        """Stage 0 with ``policy``; the round is annotated, merged with ``previous`` and the merge annotated once.

        LeRobot's merge keeps the columns but not ``meta/recap.json``, and each round has its own constants (L, C_fail
        per task), so the merge is annotated again: annotate reads the outcomes back from the reward column.
        """
        cfg, data = self.cfg, self.data_dir
        collected = data / iteration_name("collect", iteration)
        self.run(
            iteration_name("collect", iteration),
            [console_script("lerobot-recap-collect"), f"--policy.path={policy}", f"--policy.device={cfg.device}",
             f"--output_dir={collected}", f"--repo_id=local/{collected.name}", f"--n_episodes={cfg.n_rollouts}",
             f"--batch_size={cfg.collect_batch_size}", f"--seed={iteration}", f"--corrections={str(cfg.corrections).lower()}",
             f"--spawn_scale={cfg.spawn_scale}", f"--image_size={cfg.image_size}", "--overwrite=true", *cfg.collect_args],
            lambda: report.collect_metric(collected),
        )
        self.rounds.append(collected)
        annotated_round = data / f"{collected.name}_annotated"
        self.annotate(iteration_name("annotate_collect", iteration), collected, annotated_round)
        merged = data / iteration_name("merged", iteration)
        self.run(
            iteration_name("merge", iteration),
            [console_script("lerobot-edit-dataset"), f"--new_repo_id=local/{merged.name}", f"--new_root={merged}",
             "--operation.type=merge",
             f"--operation.repo_ids={json.dumps([f'local/{previous.name}', f'local/{annotated_round.name}'])}",
             f"--operation.roots={json.dumps([str(previous), str(annotated_round)])}"],
            lambda: f"{report.episode_count(merged)} episodes",
            writes=merged,
        )
        self.annotate(iteration_name("annotate_merged", iteration), merged, self.merged_annotated(iteration))

    def merged_annotated(self, iteration: int) -> Path:
        """Everything so far after iteration ``iteration``'s round: the annotated merge the next stages train on."""
        return self.data_dir / f"{iteration_name('merged', iteration)}_annotated"

    def labeled(self, iteration: int) -> Path:
        """The copy of iteration ``iteration``'s data relabelled with its value model."""
        return self.data_dir / iteration_name("labeled", iteration)

    def value_and_label(self, iteration: int, data: Path) -> None:
        """Stages 4 and 5 on ``data``: the value model, then the relabelled copy (`labeled(iteration)`)."""
        cfg, out = self.cfg, self.cfg.output_dir
        value, label = iteration_name("value", iteration), iteration_name("label", iteration)
        labeled = self.labeled(iteration)
        self.run(
            value,
            self.train_command(out / value, data, cfg.value_steps, cfg.batch_size,
                               ["--policy.type=recap_value", f"--policy.size={cfg.value_size}", *cfg.value_args]),
            lambda: report.train_metric(out / "logs" / f"{value}.log", log_freq(cfg.value_steps)),
            writes=out / value,
        )
        self.run(
            label,
            [console_script("lerobot-recap-label"), f"--root={data}", f"--value_path={out / value}",
             f"--output_root={labeled}", f"--n_steps={cfg.n_steps}", f"--positive_fraction={cfg.positive_fraction}",
             f"--batch_size={cfg.batch_size}", f"--num_workers={cfg.num_workers}", f"--device={cfg.device}",
             "--overwrite=true"],
            lambda: report.label_metric(labeled),
        )

    def fine_tune(self, name: str, variant: PolicyVariant, init: Path, data: Path, seed: int) -> None:
        cfg, out = self.cfg, self.cfg.output_dir
        self.run(
            name,
            self.train_command(out / name, data, cfg.finetune_steps, cfg.finetune_batch_size,
                               self.policy_flags(init, list(variant.flags))) + [f"--seed={seed}"],
            lambda: report.train_metric(out / "logs" / f"{name}.log", log_freq(cfg.finetune_steps)),
            writes=out / name,
        )

    def evaluate(self, key: str, trained_for: Callable[[int], str], evaluations: Evaluations) -> None:
        """Evaluate policy ``key`` on every eval seed; eval seed i runs the training run ``trained_for(i)``."""
        cfg, out = self.cfg, self.cfg.output_dir
        evaluations.register(key)
        for i, seed in enumerate(cfg.eval_seeds):
            eval_dir = out / "eval" / f"{key}_seed{seed}"
            self.run(
                f"eval_{key}_seed{seed}",
                self.eval_command(checkpoint_of(out / trained_for(i)), eval_dir, seed),
                lambda eval_dir=eval_dir: report.eval_metric(report.read_successes(eval_dir))
                + f", progress {report.mean_summary(report.read_progress(eval_dir))['mean']:.2f}",
            )
            successes = report.read_successes(eval_dir)
            evaluations.per_seed.setdefault(key, {})[seed] = report.success_summary(successes)["rate"]
            evaluations.successes[key] += successes
            evaluations.progress[key] += report.read_progress(eval_dir)


def checkpoint_of(train_dir: Path) -> Path:
    return train_dir / "checkpoints" / "last" / "pretrained_model"


def stage_env(cfg: PipelineConfig) -> dict[str, str]:
    """The environment every stage subprocess runs in (also the benchmark's, so it measures the same thing)."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "disabled")}
    if cfg.device == "cpu" and cfg.num_workers > 0:
        # Small models on a few cores: one compute thread beside the data workers beats oversubscribed threads.
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_pipeline(cfg: PipelineConfig) -> dict:
    """Run (or resume) every stage of ``cfg``, write the report and return its JSON summary.

    The stages form a graph: stage 2's evaluation runs beside the collection, the baselines' fine-tunes beside the
    value model and labels, the evaluations once a slot has no training left to start; `cfg.jobs` of them at once.
    """
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    p = Pipeline(cfg)
    out = cfg.output_dir
    evaluations = Evaluations()
    tasks = [p.task("prepare", lambda: prepare_demonstrations(p))]
    # Listed last, so a free slot takes a training first: the short evaluations then fill the end of the run.
    eval_tasks = []
    if cfg.eval_env and cfg.eval_sft:
        evaluations.register(SFT.name)
        eval_tasks.append(
            p.task("eval_sft", lambda: p.evaluate(SFT.name, lambda seed: SFT.name, evaluations), ("prepare",))
        )
    policy, policy_task, data, data_task = checkpoint_of(out / SFT.name), "prepare", p.annotated, "prepare"
    for iteration in range(1, cfg.iterations + 1):
        if cfg.collects:
            collect = iteration_name("collect", iteration)
            tasks.append(p.task(
                collect, lambda i=iteration, pol=policy, d=data: p.collect_round(i, pol, d),
                (policy_task, data_task),
            ))
            data, data_task = p.merged_annotated(iteration), collect
        value = iteration_name("value", iteration)
        tasks.append(p.task(value, lambda i=iteration, d=data: p.value_and_label(i, d), (data_task,)))
        datasets = {"annotated": (data, data_task), "labeled": (p.labeled(iteration), value)}
        for variant in FINE_TUNES if iteration == 1 else (RECAP,):
            key = iteration_name(variant.name, iteration)
            train_data, train_data_task = datasets[variant.dataset]
            runs = [finetune_name(cfg, key, seed) for seed in cfg.finetune_seeds]
            for run, seed in zip(runs, cfg.finetune_seeds, strict=True):
                tasks.append(p.task(
                    run, lambda r=run, v=variant, pol=policy, d=train_data, s=seed: p.fine_tune(r, v, pol, d, s),
                    (policy_task, train_data_task),
                ))
            if cfg.eval_env:
                evaluations.register(key)
                eval_tasks.append(p.task(
                    f"eval_{key}",
                    lambda k=key: p.evaluate(k, lambda i: finetune_name(cfg, k, finetune_seed_of(cfg, i)), evaluations),
                    tuple(runs),
                ))
        # The next iteration collects with, and fine-tunes from, the newest RECAP policy (first training seed).
        policy_task = finetune_name(cfg, iteration_name(RECAP.name, iteration), cfg.finetune_seeds[0])
        policy = checkpoint_of(out / policy_task)
    run_tasks(tasks + eval_tasks, cfg.jobs)
    if not cfg.eval_env:
        logging.info("no --eval_env: evaluate on the robot with lerobot-rollout --strategy.type=episodic (examples/eval_robot.sh)")
    summary = report.write_report(
        cfg, p.results, evaluations.successes, evaluations.progress, data, p.labeled(cfg.iterations),
        evaluations.per_seed, rounds=p.rounds,
    )
    print(report.evaluation_table(summary["evaluation"]), flush=True)
    verdict = report.recap_verdict(summary["evaluation"])
    if verdict:
        print(verdict, flush=True)
    return summary


def prepare_demonstrations(p: Pipeline) -> None:
    """Generate the embedded task's demonstrations (unless a dataset is given), annotate them and train stage 2."""
    from lerobot_recap.data.metadata import load_recap_metadata

    cfg, out = p.cfg, p.cfg.output_dir
    if cfg.dataset_root is None:
        p.run(
            "generate",
            [console_script("lerobot-recap-generate"), f"--output_dir={p.source}", f"--n_demos={cfg.n_demos}",
             "--n_autonomous=0", "--n_corrected=0", f"--spawn_scale={cfg.spawn_scale}",
             f"--image_size={cfg.image_size}", f"--seed={cfg.data_seed}", "--overwrite=true"],
            lambda: f"{len(load_recap_metadata(p.source).episodes)} episodes",
        )
    p.annotate("annotate", p.source, p.annotated)
    demos = report.demo_episodes(p.annotated)
    sft_data = [f"--dataset.episodes={json.dumps(demos, separators=(',', ':'))}"] if demos else []
    p.run(
        SFT.name,
        p.train_command(out / SFT.name, p.annotated, cfg.sft_steps, cfg.policy_batch_size, p.policy_flags(None, []))
        + sft_data,
        lambda: report.train_metric(out / "logs" / "sft.log", log_freq(cfg.sft_steps)),
        writes=out / SFT.name,
    )
