"""pi06_recap speed and memory: train step, one-chunk inference latency, CFG vs unguided latency ratio.

    python benchmarks/bench_pi06.py            # tiny on CPU (+ dynamic vs max-length prompt padding);
                                               # full size on the GPU as well when torch.cuda.is_available()
    python benchmarks/bench_pi06.py --threads 1   # on a shared CPU: torch's threads fight other jobs otherwise
    python benchmarks/bench_pi06.py --size full --device cuda --dtype bfloat16 --cameras 3 --checkpointing
    python benchmarks/bench_pi06.py --size full --device cuda --dtype bfloat16 --lora

Tiny is ``--policy.size=tiny`` (offline local tokenizer). Full size uses random weights and the local byte-level
tokenizer (token ids only matter for shapes here), so it runs offline too. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import LOCAL_TOKENIZER, PI06RecapConfig
from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy
from lerobot_recap.policies.pi06_recap.processor_pi06_recap import prompt_heads

STATE_DIM = ACTION_DIM = 14  # a bimanual 7+7 arm, as the hand-over task and the YAM pair
CAMERA_SHAPE = (3, 480, 640)  # RealSense-sized frames: the policy resizes them with padding
TASK = "hand the cube from the left arm to the right arm and place it on the green target"


@dataclass(frozen=True)
class Case:
    size: str = "tiny"
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 8
    cameras: int = 1
    checkpointing: bool = False
    lora: bool = False
    max_length_padding: bool = False
    """Pad every prompt to tokenizer_max_length (the behaviour before prompts were padded to the batch's longest)."""


class MaxLengthPaddingPolicy(PI06RecapPolicy):
    """pi06_recap with its prompt tokens padded to ``tokenizer_max_length``, for the padding comparison only."""

    def _with_tokens(self, batch, prompts):
        batch = super()._with_tokens(batch, prompts)
        for key in (OBS_LANGUAGE_TOKENS, OBS_LANGUAGE_ATTENTION_MASK):
            batch[key] = F.pad(batch[key], (0, self.config.tokenizer_max_length - batch[key].shape[1]))
        return batch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def make_config(case: Case) -> PI06RecapConfig:
    cameras = {
        f"observation.images.cam{i}": PolicyFeature(FeatureType.VISUAL, CAMERA_SHAPE) for i in range(case.cameras)
    }
    common = dict(
        input_features={"observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,)), **cameras},
        output_features={"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))},
        tokenizer_name=LOCAL_TOKENIZER,
        device=case.device,
        dtype=case.dtype,
        gradient_checkpointing=case.checkpointing,
    )
    # Full size with the local tokenizer: its ids all fall inside PaliGemma's vocabulary.
    config = PI06RecapConfig(size=case.size, **common)
    # pi0.5's 10-step sampler for tiny too. Set after construction: the tiny preset replaces every value equal to
    # the full-size default (10 included) with its own (3).
    config.num_inference_steps = 10
    return config


def make_batch(config: PI06RecapConfig, case: Case) -> dict:
    """A batch as the pre-processor hands it over: normalized state, prompt heads with the discretized state."""
    gen = torch.Generator().manual_seed(0)
    b = case.batch_size
    batch = {key: torch.rand(b, *CAMERA_SHAPE, generator=gen) for key in config.image_features}
    state = torch.rand(b, STATE_DIM, generator=gen) * 2 - 1
    batch["observation.state"] = state
    batch["action"] = torch.rand(b, config.chunk_size, ACTION_DIM, generator=gen) * 2 - 1
    batch["action_is_pad"] = torch.zeros(b, config.chunk_size, dtype=torch.bool)
    batch["task"] = prompt_heads([TASK] * b, state)
    batch["adv_ind"] = torch.randint(-1, 2, (b,), generator=gen)
    return {k: v.to(case.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _peak_memory(device: str, rss_before_kib: int) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (CUDA max allocated)"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # ru_maxrss only grows: for the second case in one process the increase understates its own need.
    return f"{rss / 2**20:.2f} GiB process max RSS so far (+{(rss - rss_before_kib) / 2**10:.0f} MiB in these steps)"


def run(case: Case, repeats: int) -> dict:
    config = make_config(case)
    torch.manual_seed(0)
    build_start = time.perf_counter()
    policy_cls = MaxLengthPaddingPolicy if case.max_length_padding else PI06RecapPolicy
    policy = policy_cls(config).to(case.device)
    build_s = time.perf_counter() - build_start
    if case.lora:
        config.base_model = "random-weights-benchmark"  # wrap_with_peft asks for pretrained weights
        policy = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 16})
    n_params = sum(p.numel() for p in policy.parameters())
    n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    batch = make_batch(config, case)
    base = policy.get_base_model() if case.lora else policy
    prompt_batch = base._with_tokens(batch, base.inference_prompts(batch)[0])
    tokens, masks = prompt_batch[OBS_LANGUAGE_TOKENS], prompt_batch[OBS_LANGUAGE_ATTENTION_MASK]

    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-5)

    def train_step() -> None:
        policy.train()
        loss, _ = policy.forward(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if case.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train_times = _timed(train_step, case.device, repeats)
    peak = _peak_memory(case.device, rss_before)

    one = {k: v[:1] for k, v in batch.items()}
    noise = torch.randn(1, config.chunk_size, config.max_action_dim, device=case.device)

    def infer(beta: float) -> None:
        base.config.cfg_beta = beta
        base.predict_action_chunk(one, noise=noise)

    # Alternate the two so that load drift on a shared machine hits both alike.
    plain, guided = [], []
    infer(1.0), infer(1.5)  # warm-up
    for _ in range(repeats):
        plain += _timed(lambda: infer(1.0), case.device, 1, warmup=0)
        guided += _timed(lambda: infer(1.5), case.device, 1, warmup=0)
    base.config.cfg_beta = 1.0
    return dict(
        config=config, n_params=n_params, n_train=n_train, build_s=build_s, peak=peak,
        prompt_tokens=tokens.shape[1], prompt_real=int(masks.sum(1).max()),
        train=statistics.median(train_times), plain=statistics.median(plain), guided=statistics.median(guided),
    )


def report(case: Case, r: dict, repeats: int) -> None:
    config = r["config"]
    res = config.image_resolution[0]
    print(f"pi06_recap | size={case.size} device={case.device} dtype={case.dtype} batch={case.batch_size} "
          f"cameras={case.cameras} (480x640 -> {res}x{res}) checkpointing={case.checkpointing} lora={case.lora} "
          f"padding={'max_length' if case.max_length_padding else 'longest'}")
    if case.device == "cpu":
        print(f"  cpu: {torch.get_num_threads()} torch threads, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} (a shared machine inflates and scatters these times)")
    print(f"  parameters: {r['n_params']:,} total, {r['n_train']:,} trainable; build {r['build_s']:.2f} s")
    print(f"  prompt: {r['prompt_tokens']} tokens per row ({r['prompt_real']} real), max {config.tokenizer_max_length}")
    print(f"  train step: median {r['train'] * 1e3:.1f} ms over {repeats} (batch {case.batch_size})")
    print(f"  peak memory: {r['peak']}")
    print(f"  one chunk ({config.chunk_size} actions, {config.num_inference_steps} Euler steps, batch 1): "
          f"median {r['plain'] * 1e3:.1f} ms")
    print(f"  CFG (beta=1.5, cond+uncond in one batched pass): median {r['guided'] * 1e3:.1f} ms; "
          f"CFG/unguided ratio {r['guided'] / r['plain']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "full"), default=None, help="one case only (default: the suite)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--max-length-padding", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False on this machine")

    if args.size is not None:
        case = Case(args.size, args.device, args.dtype, args.batch_size, args.cameras, args.checkpointing, args.lora,
                    args.max_length_padding)
        report(case, run(case, args.repeats), args.repeats)
        return

    tiny = Case(size="tiny", batch_size=args.batch_size)
    dynamic = run(tiny, args.repeats)
    report(tiny, dynamic, args.repeats)
    padded_case = replace(tiny, max_length_padding=True)
    padded = run(padded_case, args.repeats)
    report(padded_case, padded, args.repeats)
    print(f"dynamic vs max-length prompt padding (tiny, CPU): train step x{padded['train'] / dynamic['train']:.2f}, "
          f"one chunk x{padded['plain'] / dynamic['plain']:.2f} slower when padded to {padded['prompt_tokens']} "
          f"instead of {dynamic['prompt_tokens']} tokens")

    if not torch.cuda.is_available():
        print("full size: skipped (torch.cuda.is_available() is False); run on a GPU machine for the full-size lines")
        return
    for case in (
        Case(size="full", device="cuda", dtype="bfloat16", batch_size=8, cameras=3, checkpointing=True),
        Case(size="full", device="cuda", dtype="bfloat16", batch_size=8, cameras=3, checkpointing=True, lora=True),
    ):
        report(case, run(case, args.repeats), args.repeats)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
