"""Annotate throughput vs a plain pyarrow read+write of the same parquet files, measured in one run.

    python benchmarks/bench_annotate.py [--frames 200000] [--episode_length 1000] [--source DIR]

Prints frames/s of `annotate_dataset` and of the baseline, their ratio (target <= 1.5x), and the bytes of video
re-encoded (0: videos are hard-linked). The dataset is written through LeRobot's API (state/action only, plus an
intervention column), so the numbers measure the column work, not image encoding. Writing 200k frames through
LeRobot's API takes minutes: ``--source DIR`` keeps the generated dataset in DIR and reuses it on the next run.
The machine's load average is printed too: both timings share it, so compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.contract import Outcome
from lerobot_recap.data.dataset_io import data_files, write_parquet
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, SyntheticEpisode, make_synthetic_dataset


def baseline_copy(source: Path, dest: Path, same_writer: bool = False) -> None:
    """What any column rewrite costs at least: read and write every data parquet file.

    Reads through ``pq.ParquetFile(...).read()``, the fastest plain read (``pq.read_table`` is about 2x slower on
    one file) and the one annotate uses. Writes with pyarrow's defaults (snappy), or with ``same_writer`` through
    annotate's own writer settings (no dictionary for float/binary columns), which isolates annotate's extra work.
    """
    for src in data_files(source):
        table = pq.ParquetFile(src).read()
        out = dest / src.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        if same_writer:
            write_parquet(table, out)
        else:
            pq.write_table(table, out, compression="snappy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--episode_length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source", type=Path, default=None, help="keep/reuse the generated dataset in this directory")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    source = args.source or workdir / "source"
    if args.source is not None and (source / "meta" / "info.json").exists():
        n_frames = int(json.loads((source / "meta" / "info.json").read_text())["total_frames"])
        print(f"dataset: reusing {source} ({n_frames} frames)")
    else:
        n_frames = generate(source, args.frames, args.episode_length)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # Warm-up: imports (lerobot, datasets) and the page cache, so that no timed run pays for them.
    baseline_copy(source, workdir / "warmup_baseline")
    annotate_dataset(AnnotateConfig(root=source, output_root=workdir / "warmup_annotated"), progress=False)
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "same_writer": [], "annotate": []}
    for i in range(args.repeats):  # interleaved, so that load changes hit all three alike
        for name in runs:
            out = workdir / f"{name}{i}"
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "annotate":
                annotate_dataset(AnnotateConfig(root=source, output_root=out), progress=False)
            else:
                baseline_copy(source, out, same_writer=name == "same_writer")
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            shutil.rmtree(out)
    best = {name: min(w for w, _ in times) for name, times in runs.items()}
    best_cpu = {name: min(c for _, c in times) for name, times in runs.items()}
    labels = {
        "annotate": "annotate",
        "plain": "pyarrow read+write baseline (default writer)",
        "same_writer": "pyarrow read+write baseline (annotate's writer settings)",
    }
    for name in ("annotate", "plain", "same_writer"):
        walls = [w for w, _ in runs[name]]
        print(f"{labels[name]}: {best[name]:.3f} s  ({n_frames / best[name]:,.0f} frames/s)  runs {_fmt(walls)}")
    print(f"ratio annotate / plain pyarrow read+write (best of {args.repeats}, wall): {best['annotate'] / best['plain']:.2f}x (target <= 1.5x)")
    print(f"ratio annotate / read+write with the same writer settings (wall): {best['annotate'] / best['same_writer']:.2f}x")
    # CPU time (all threads) is steadier than wall time on a loaded machine, but also counts the stats thread.
    print(
        f"CPU seconds (all threads, best of {args.repeats}): annotate {best_cpu['annotate']:.3f}, plain "
        f"{best_cpu['plain']:.3f} ({best_cpu['annotate'] / best_cpu['plain']:.2f}x), same writer "
        f"{best_cpu['same_writer']:.3f} ({best_cpu['annotate'] / best_cpu['same_writer']:.2f}x)"
    )
    print("video bytes re-encoded: 0 (videos are hard-linked; this dataset has none)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(workdir, ignore_errors=True)


def _fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


def generate(source: Path, frames: int, episode_length: int) -> int:
    """Write the benchmark dataset through LeRobot's API; returns its number of frames."""
    n_episodes = max(1, frames // episode_length)
    rng = np.random.default_rng(0)
    episodes = [
        SyntheticEpisode(
            length=episode_length,
            task=("pick", "place")[i % 2],
            outcome=Outcome.SUCCESS if rng.random() < 0.5 else Outcome.FAILURE,
            human=(rng.random(episode_length) < 0.3).astype(np.int64),
        )
        for i in range(n_episodes)
    ]
    start = time.perf_counter()
    make_synthetic_dataset(source, SyntheticDatasetSpec(episodes=episodes, cameras=()), repo_id="local/bench")
    n_frames = n_episodes * episode_length
    print(f"dataset: {n_frames} frames, {n_episodes} episodes, written in {time.perf_counter() - start:.1f} s")
    return n_frames


if __name__ == "__main__":
    main()
