"""Benchmark of lerobot-recap-pipeline's side-by-side stages (printed numbers, never asserted).

The same set of tiny pi06_recap trainings (stock ``lerobot-train``, the pipeline's environment: one compute thread per
stage on CPU) run through the pipeline's scheduler one at a time (``--jobs=1``) and two at a time (``--jobs=2``);
prints both wall times and their ratio. The data: scripted demonstrations of the embedded task, generated and annotated first.

    python benchmarks/bench_pipeline_jobs.py [--runs 4] [--steps 150] [--demos 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


def timed_trainings(data: Path, out: Path, runs: int, steps: int, jobs: int) -> float:
    from lerobot_recap.pipeline.runner import PipelineConfig, stage_env, console_script
    from lerobot_recap.pipeline.schedule import Task, run_tasks

    env = stage_env(PipelineConfig(output_dir=out))

    def train(i: int):
        command = [
            console_script("lerobot-train"), "--policy.type=pi06_recap", "--policy.size=tiny", "--policy.device=cpu",
            "--policy.push_to_hub=false", f"--dataset.repo_id=local/{data.name}", f"--dataset.root={data}",
            f"--output_dir={out / f'jobs{jobs}_run{i}'}", f"--steps={steps}", "--batch_size=16", "--num_workers=2",
            f"--save_freq={steps}", "--wandb.enable=false", f"--seed={i}",
        ]
        return lambda: subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    start = time.perf_counter()
    run_tasks([Task(f"run{i}", train(i)) for i in range(runs)], jobs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="trainings per setting")
    parser.add_argument("--steps", type=int, default=150, help="steps of each training")
    parser.add_argument("--demos", type=int, default=6, help="scripted demonstrations to train on")
    args = parser.parse_args()
    from lerobot_recap.pipeline.runner import console_script

    with tempfile.TemporaryDirectory() as tmp:
        raw, data = Path(tmp) / "demos", Path(tmp) / "annotated"
        for command in (
            [console_script("lerobot-recap-generate"), f"--output_dir={raw}", f"--n_demos={args.demos}",
             "--n_autonomous=0", "--n_corrected=0", "--image_size=32"],
            [console_script("lerobot-recap-annotate"), f"--root={raw}", f"--output_root={data}"],
        ):
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{args.runs} tiny trainings of {args.steps} steps each, {os.cpu_count()} CPU cores")
        one = timed_trainings(data, Path(tmp), args.runs, args.steps, jobs=1)
        print(f"  --jobs=1 (one after another): {one:7.1f} s")
        two = timed_trainings(data, Path(tmp), args.runs, args.steps, jobs=2)
        print(f"  --jobs=2 (two side by side):  {two:7.1f} s")
        print(f"  speed-up: {one / two:.2f}x")


if __name__ == "__main__":
    main()
