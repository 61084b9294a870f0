"""Annotate throughput vs a plain pyarrow read+write of the same parquet files, measured in one run.

    python benchmarks/bench_annotate.py [--frames 200000] [--episode_length 1000]

Prints frames/s of `annotate_dataset` and of the baseline, their ratio (target <= 1.5x), and the bytes of video
re-encoded (0: videos are hard-linked). The dataset is written through LeRobot's API (state/action only, plus an
intervention column), so the numbers measure the column work, not image encoding.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
from lerobot_recap.data.contract import Outcome
from lerobot_recap.data.dataset_io import data_files
from lerobot_recap.data.synthetic import SyntheticDatasetSpec, SyntheticEpisode, make_synthetic_dataset


def baseline_copy(source: Path, dest: Path) -> None:
    """What any column rewrite costs at least: read and write every data parquet file."""
    for src in data_files(source):
        table = pq.read_table(src)
        out = dest / src.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out, compression="snappy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--episode_length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    n_episodes = max(1, args.frames // args.episode_length)
    rng = np.random.default_rng(0)
    episodes = [
        SyntheticEpisode(
            length=args.episode_length,
            task=("pick", "place")[i % 2],
            outcome=Outcome.SUCCESS if rng.random() < 0.5 else Outcome.FAILURE,
            human=(rng.random(args.episode_length) < 0.3).astype(np.int64),
        )
        for i in range(n_episodes)
    ]
    start = time.perf_counter()
    source = workdir / "source"
    make_synthetic_dataset(source, SyntheticDatasetSpec(episodes=episodes, cameras=()), repo_id="local/bench")
    n_frames = n_episodes * args.episode_length
    print(f"dataset: {n_frames} frames, {n_episodes} episodes, written in {time.perf_counter() - start:.1f} s")

    annotate_times, baseline_times = [], []
    for i in range(args.repeats):
        start = time.perf_counter()
        baseline_copy(source, workdir / f"baseline{i}")
        baseline_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        annotate_dataset(AnnotateConfig(root=source, output_root=workdir / f"annotated{i}"), progress=False)
        annotate_times.append(time.perf_counter() - start)
    annotate_s, baseline_s = min(annotate_times), min(baseline_times)
    print(f"annotate: {annotate_s:.3f} s  ({n_frames / annotate_s:,.0f} frames/s)")
    print(f"pyarrow read+write baseline: {baseline_s:.3f} s  ({n_frames / baseline_s:,.0f} frames/s)")
    print(f"ratio annotate/baseline: {annotate_s / baseline_s:.2f}x (target <= 1.5x)")
    print("video bytes re-encoded: 0 (videos are hard-linked; this dataset has none)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
