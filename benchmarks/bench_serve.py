"""lerobot-recap-serve's round trip against in-process inference, on the same observation in the same run.

    python benchmarks/bench_serve.py --threads 1                      # tiny pi06_recap on CPU
    python benchmarks/bench_serve.py --size full --device cuda --dtype bfloat16 --cameras 3

In process: ``ServedPolicy.infer`` on an openpi-style observation (mapping, the checkpoint's pre-processor,
``predict_action_chunk``, post-processor), i.e. what the server runs per request. Round trip: the same observation
through ``WebsocketPolicyClient.infer`` to the server on loopback (msgpack both ways, websocket, the worker thread).
The two alternate, so load drift on a shared machine hits both alike; the ratio is round trip / in process, and the
difference is the serving overhead. The policy has random weights (built in memory, offline tokenizer): only the
time matters here, and the answers of both paths are checked to be equal. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.factory import make_pre_post_processors

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import (
    LOCAL_TOKENIZER,
    PI06RecapConfig,
)
from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy
from lerobot_recap.serving import msgpack_numpy
from lerobot_recap.serving.observation_mapping import (
    ObservationMapping,
    ObservationMappingConfig,
)
from lerobot_recap.serving.served_policy import ServedPolicy
from lerobot_recap.serving.websocket_client import WebsocketPolicyClient
from lerobot_recap.serving.websocket_server import RunningServer, WebsocketPolicyServer

STATE_DIM = ACTION_DIM = 14  # the YAM pair: 2 x (6 joints + gripper)
CAMERAS = ("top", "left_wrist", "right_wrist")
TASK = "hand the cube from the left arm to the right arm"


def build(size: str, device: str, dtype: str, cameras: int, image: int) -> ServedPolicy:
    features = {"observation.state": PolicyFeature(FeatureType.STATE, (STATE_DIM,))}
    features |= {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, image, image)) for c in CAMERAS[:cameras]}
    config = PI06RecapConfig(
        size=size, input_features=features,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))},
        tokenizer_name=LOCAL_TOKENIZER, device=device, dtype=dtype,
    )  # fmt: skip
    torch.manual_seed(0)
    policy = PI06RecapPolicy(config).to(device).eval()
    spread = {"mean": np.zeros(ACTION_DIM), "std": np.full(ACTION_DIM, 0.5), "min": -np.ones(ACTION_DIM),
              "max": np.ones(ACTION_DIM), "q01": -np.ones(ACTION_DIM), "q99": np.ones(ACTION_DIM)}  # fmt: skip
    stats = {"observation.state": spread, "action": spread}
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    mapping = ObservationMapping.for_policy(features, ObservationMappingConfig(default_prompt=TASK))
    return ServedPolicy(policy, pre, post, mapping)


def observation(served: ServedPolicy, cameras: int, image: int) -> dict:
    """What limb's or an openpi ALOHA client sends: CHW uint8 images, a 14-D state; plus fixed noise."""
    rng = np.random.default_rng(0)
    return {
        "state": rng.uniform(-1, 1, STATE_DIM).astype(np.float32),
        "images": {c: rng.integers(0, 256, (3, image, image), dtype=np.uint8) for c in CAMERAS[:cameras]},
        "prompt": TASK,
        "noise": rng.standard_normal(served.noise_shape).astype(np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--image", type=int, default=224, help="side of the square CHW uint8 images sent")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (a shared machine: 1)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    served = build(args.size, args.device, args.dtype, args.cameras, args.image)
    obs = observation(served, args.cameras, args.image)
    n_params = sum(p.numel() for p in served.policy.parameters())
    request_bytes = len(msgpack_numpy.packb(obs))

    local, remote, server_infer = [], [], []
    with RunningServer(WebsocketPolicyServer(served, port=0)) as running, WebsocketPolicyClient(running.url) as client:
        reference = served.infer(obs)["actions"]
        reply = client.infer(obs)  # warm-up of both paths
        assert np.array_equal(reply["actions"], reference), "the served chunk differs from the in-process one"
        reply_bytes = len(msgpack_numpy.packb(reply))
        for _ in range(args.repeats):
            start = time.perf_counter()
            served.infer(obs)
            local.append(time.perf_counter() - start)
            start = time.perf_counter()
            reply = client.infer(obs)
            remote.append(time.perf_counter() - start)
            server_infer.append(reply["server_timing"]["infer_ms"] / 1000)

    config = served.config
    med = {name: statistics.median(v) * 1e3 for name, v in (("local", local), ("remote", remote), ("server", server_infer))}
    print(f"bench_serve | pi06_recap size={args.size} ({n_params / 1e6:.1f}M parameters) device={args.device} "
          f"dtype={args.dtype} | {args.cameras} camera(s) {args.image}x{args.image} CHW uint8, chunk "
          f"{config.chunk_size} x {ACTION_DIM}, {config.num_inference_steps} denoising steps")  # fmt: skip
    if args.device == "cpu":
        print(f"  cpu: {torch.get_num_threads()} torch threads, {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} (a shared machine inflates and scatters these times)")  # fmt: skip
    print(f"  request {request_bytes / 1024:.1f} KiB, reply {reply_bytes / 1024:.1f} KiB (msgpack, openpi's numpy layout)")
    print(f"  in process (ServedPolicy.infer): median {med['local']:.1f} ms over {args.repeats}")
    print(f"  round trip on loopback (WebsocketPolicyClient.infer): median {med['remote']:.1f} ms "
          f"(server side {med['server']:.1f} ms of it)")  # fmt: skip
    print(f"  overhead {med['remote'] - med['local']:.1f} ms; ratio round trip / in process {med['remote'] / med['local']:.2f}")


if __name__ == "__main__":
    main()
