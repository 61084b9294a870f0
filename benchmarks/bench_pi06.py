"""pi06_recap speed and memory: train step, one-chunk inference latency, CFG vs unguided latency ratio.

    python benchmarks/bench_pi06.py                      # tiny, CPU (always runnable, offline)
    python benchmarks/bench_pi06.py --size full --device cuda --dtype bfloat16 --cameras 3 --checkpointing
    python benchmarks/bench_pi06.py --size full --device cuda --lora

Full size uses random weights and the local byte-level tokenizer (token ids are only a shape concern here), so it
runs offline too. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time

import torch
from lerobot.configs.types import FeatureType, PolicyFeature

from lerobot_recap.models.local_tokenizer import build_local_tokenizer
from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tokenizer_dir = tempfile.mkdtemp(prefix="pi06_bench_tok_")
    build_local_tokenizer(tokenizer_dir)
    cameras = [f"observation.images.cam{i}" for i in range(args.cameras)]
    features = {"observation.state": PolicyFeature(FeatureType.STATE, (14,))}
    size = 28 if args.size == "tiny" else 224
    features.update({c: PolicyFeature(FeatureType.VISUAL, (3, 480, 640)) for c in cameras})
    common = dict(input_features=features, output_features={"action": PolicyFeature(FeatureType.ACTION, (14,))},
                  tokenizer_name=tokenizer_dir, device=args.device, dtype=args.dtype,
                  gradient_checkpointing=args.checkpointing)
    if args.size == "tiny":
        config = PI06RecapConfig.tiny(max_state_dim=32, max_action_dim=32, tokenizer_max_length=200,
                                     num_inference_steps=10, **common)
    else:
        config = PI06RecapConfig(**common)
    if args.lora:
        config.base_model = "random-weights-benchmark"  # lets wrap_with_peft accept random weights

    torch.manual_seed(0)
    build_start = time.perf_counter()
    policy = PI06RecapPolicy(config).to(args.device)
    build_s = time.perf_counter() - build_start
    if args.lora:
        policy = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 16})
    n_params = sum(p.numel() for p in policy.parameters())
    n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)

    b = args.batch_size
    batch = {c: torch.rand(b, 3, 480, 640, device=args.device) for c in cameras}
    batch["observation.state"] = torch.rand(b, 14, device=args.device)
    batch["action"] = torch.rand(b, config.chunk_size, 14, device=args.device)
    state_digits = " ".join(str(i * 7 % 256) for i in range(32))
    batch["task"] = [f"Task: hand the cube over from the left arm to the right arm, State: {state_digits}"] * b
    batch["adv_ind"] = torch.randint(-1, 2, (b,), device=args.device)

    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-5)

    def train_step():
        policy.train()
        loss, _ = policy.forward(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train_times = _timed(train_step, args.device, args.repeats)
    if args.device.startswith("cuda"):
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (CUDA max allocated)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB process max RSS " \
               f"(+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 2**10:.0f} MiB in training)"

    one = {k: (v[:1] if not isinstance(v, list) else v[:1]) for k, v in batch.items()}
    base = policy.get_base_model() if args.lora else policy
    noise = torch.randn(1, config.chunk_size, config.max_action_dim, device=args.device)

    def infer(beta: float):
        base.config.cfg_beta = beta
        base.predict_action_chunk(one, noise=noise)

    # Alternate the two so that load drift on a shared machine hits both alike.
    plain, guided = [], []
    for _ in range(args.repeats):
        plain += _timed(lambda: infer(1.0), args.device, 1)
        guided += _timed(lambda: infer(1.5), args.device, 1)
    med = statistics.median
    print(f"pi06_recap benchmark | size={args.size} device={args.device} dtype={args.dtype} batch={b} "
          f"cameras={args.cameras} (480x640 -> {size}x{size}) checkpointing={args.checkpointing} lora={args.lora}")
    print(f"  parameters: {n_params:,} total, {n_train:,} trainable; build {build_s:.2f} s")
    print(f"  train step: median {med(train_times) * 1e3:.1f} ms over {args.repeats} (batch {b})")
    print(f"  peak memory: {peak}")
    print(f"  one chunk ({config.chunk_size} actions, {config.num_inference_steps} Euler steps, batch 1): "
          f"median {med(plain) * 1e3:.1f} ms")
    print(f"  CFG (beta=1.5, one batched cond+uncond pass): median {med(guided) * 1e3:.1f} ms; "
          f"CFG/unguided ratio {med(guided) / med(plain):.2f}")


if __name__ == "__main__":
    main()
