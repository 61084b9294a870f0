"""Benchmark of RECAP stage 5 (printed numbers, never asserted).

1. Advantages + per-task thresholds + indicator over 1M frames (vectorized), and the ratio to a straightforward
   per-frame reference loop timed in the same run (on a slice, scaled linearly: the loop is O(frames * N)).
2. Labeling throughput of stage 5 (``lerobot_recap.data.label.label_dataset``) with the tiny value model on CPU: frames/s and the fraction of
   the model pass spent waiting for data, for several DataLoader worker counts.
3. ``--full``: the full-size architecture (SigLIP so400m + Gemma3-270M, built from written-out configs, random
   weights, no download): parameter count, and on a GPU the forward throughput and peak memory.

    python benchmarks/bench_label.py [--frames 1000000] [--reference_frames 100000] [--label_episodes 40] [--full]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


def reference_advantages(reward, value, episode, n_steps):
    out = np.zeros(len(reward))
    n = len(reward)
    for t in range(n):
        end = t
        while end < n and episode[end] == episode[t] and end - t <= n_steps:
            end += 1
        # `end` stops at the episode end or one past the lookahead.
        steps = min(n_steps, end - t)
        total = 0.0
        for k in range(steps):
            total += reward[t + k]
        bootstrap = value[t + steps] if t + steps < n and episode[t + steps] == episode[t] else 0.0
        out[t] = total + bootstrap - value[t]
    return out


def bench_math(n_frames: int, reference_frames: int, n_steps: int) -> None:
    from lerobot_recap.data import contract as C
    from lerobot_recap.data import recap_math
    from lerobot_recap.data.label import compute_labels

    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 500, size=n_frames // 100)
    lengths = lengths[np.cumsum(lengths) <= n_frames]
    episode = np.repeat(np.arange(lengths.size), lengths)
    task = np.repeat(rng.integers(0, 3, lengths.size), lengths)
    reward = np.full(episode.size, -1.0 / 600)
    value = rng.uniform(-1, 0, episode.size)
    human = (rng.random(episode.size) < 0.2).astype(np.int64)
    frames = {"episode_index": episode, "task_index": task, C.INTERVENTION: human, C.REWARD_LABEL: reward}

    start = time.perf_counter()
    bounds = recap_math.episode_bounds(episode)
    advantage = recap_math.n_step_advantages(reward, value, bounds, n_steps)
    t_adv = time.perf_counter() - start
    start = time.perf_counter()
    compute_labels(frames, value, None, n_steps, 0.3, True)
    t_all = time.perf_counter() - start

    m = min(reference_frames, episode.size)
    start = time.perf_counter()
    ref = reference_advantages(reward[:m], value[:m], episode[:m], n_steps)
    t_ref = time.perf_counter() - start
    np.testing.assert_allclose(ref[: m - 500], advantage[: m - 500], atol=1e-9)  # the slice's last episode is cut
    t_ref_full = t_ref * episode.size / m
    print(f"[math] {episode.size:,} frames, {lengths.size} episodes, 3 tasks, N={n_steps}")
    print(f"[math] vectorized advantages: {t_adv * 1e3:.1f} ms; advantages + per-task thresholds + indicator: {t_all * 1e3:.1f} ms")
    print(f"[math] reference loop: {t_ref:.2f} s on {m:,} frames -> {t_ref_full:.1f} s extrapolated to {episode.size:,}")
    print(f"[math] speed-up of the vectorized advantages over the loop: {t_ref_full / t_adv:.0f}x")


def bench_label(n_episodes: int, workers: list[int], batch_size: int, image_size: int, use_videos: bool) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.factory import make_policy

    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.data.synthetic import SyntheticDatasetSpec, make_synthetic_dataset, random_episodes
    from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig
    from lerobot_recap.data.label import LabelConfig, label_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = SyntheticDatasetSpec(
            episodes=random_episodes(n_episodes, min_length=20, max_length=40),
            cameras=("top", "wrist"),
            image_size=(image_size, image_size),
            use_videos=use_videos,
        )
        make_synthetic_dataset(tmp / "raw", spec)
        annotate_dataset(AnnotateConfig(root=tmp / "raw", output_root=tmp / "ann"), progress=False)
        policy = make_policy(
            RecapValueConfig(size="tiny", device="cpu"), ds_meta=LeRobotDatasetMetadata("local/b", root=tmp / "ann")
        )
        policy.save_pretrained(tmp / "ckpt")
        kind = "video" if use_videos else "image"
        for n_workers in workers:
            summary = label_dataset(
                LabelConfig(
                    root=tmp / "ann",
                    value_path=str(tmp / "ckpt"),
                    output_root=tmp / f"out{n_workers}",
                    num_workers=n_workers,
                    batch_size=batch_size,
                    plots=False,
                    progress=False,
                    device="cpu",
                )
            )
            stats = summary.inference
            print(
                f"[label] tiny model, CPU, {stats.frames} frames, 2 {kind} cameras {image_size}px, batch {batch_size}, "
                f"{n_workers} workers: {stats.frames_per_second:.1f} frames/s, "
                f"{100 * stats.data_wait_fraction:.0f}% of the pass waiting for data"
            )


def bench_full(batch_size: int, cameras: int) -> None:
    import torch

    from lerobot_recap.models.siglip_gemma3 import reference_full_configs

    vision_config, language_config = reference_full_configs()
    from transformers import Gemma3TextModel, SiglipVisionModel

    with torch.device("meta"):
        vision, language = SiglipVisionModel(vision_config), Gemma3TextModel(language_config)
    n_vision = sum(p.numel() for p in vision.parameters())
    n_language = sum(p.numel() for p in language.parameters())
    projection = vision_config.hidden_size * language_config.hidden_size + language_config.hidden_size
    print(
        f"[full] SigLIP so400m vision tower (no head) {n_vision / 1e6:.1f}M + Gemma3-270M decoder {n_language / 1e6:.1f}M "
        f"+ projection {projection / 1e6:.2f}M = {(n_vision + n_language + projection) / 1e6:.1f}M parameters"
    )
    if not torch.cuda.is_available():
        print("[full] no GPU: forward throughput and memory skipped")
        return
    from lerobot_recap.models.siglip_gemma3 import BackboneSpec, SiglipGemma3Encoder

    # Build the encoder with random weights from the written-out configs (no Hub access needed).
    encoder = SiglipGemma3Encoder.__new__(SiglipGemma3Encoder)
    torch.nn.Module.__init__(encoder)
    encoder.spec = BackboneSpec(vision="reference", language="reference", load_weights=False)
    encoder.vision = SiglipVisionModel(vision_config)
    encoder.language = Gemma3TextModel(language_config)
    encoder.hidden_size = language_config.hidden_size
    encoder.image_projection = torch.nn.Linear(vision_config.hidden_size, language_config.hidden_size)
    encoder.image_scale = language_config.hidden_size**0.5
    encoder.state_dim = None  # images + prompt only, like a state-free value checkpoint
    encoder.output_size = language_config.hidden_size
    encoder = encoder.to("cuda", dtype=torch.bfloat16).eval()
    images = [torch.rand(batch_size, 3, 224, 224, device="cuda") for _ in range(cameras)]
    ids = torch.randint(3, 1000, (batch_size, 48), device="cuda")
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        for _ in range(3):
            encoder(images, ids, mask)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        steps = 10
        for _ in range(steps):
            encoder(images, ids, mask)
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(
        f"[full] {torch.cuda.get_device_name()}: bf16 forward, batch {batch_size}, {cameras} cameras: "
        f"{steps * batch_size / seconds:.0f} frames/s, peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--reference_frames", type=int, default=100_000)
    parser.add_argument("--n_steps", type=int, default=50)
    parser.add_argument("--label_episodes", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--videos", action="store_true", help="store the cameras as videos (decoding cost)")
    parser.add_argument("--full", action="store_true", help="full-size parameter count (and GPU throughput)")
    parser.add_argument("--skip_label", action="store_true")
    args = parser.parse_args()
    bench_math(args.frames, args.reference_frames, args.n_steps)
    if not args.skip_label:
        bench_label(args.label_episodes, args.workers, args.batch_size, args.image_size, args.videos)
    if args.full:
        bench_full(args.batch_size, cameras=3)


if __name__ == "__main__":
    main()
