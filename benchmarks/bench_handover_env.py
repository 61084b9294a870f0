"""Speed of the simulated hand-over task and its data generator (printed, never asserted).

    python benchmarks/bench_handover_env.py [--episodes 20]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lerobot_recap.envs.handover import HandoverSim, RecapHandoverGymEnv
from lerobot_recap.envs.scripted import HandoverExpert, WeakPolicy


def sim_steps_per_second(n_steps: int) -> float:
    sim, rng = HandoverSim(), np.random.default_rng(0)
    world = sim.reset(rng)
    action = world.q.copy()
    started = time.perf_counter()
    for _ in range(n_steps):
        sim.step(action, rng)
    return n_steps / (time.perf_counter() - started)


def env_steps_per_second(episodes: int, image_size: int, cameras: tuple[str, ...], driver: str) -> float:
    env = RecapHandoverGymEnv(cameras=cameras, image_size=image_size)
    steps, started = 0, time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
        policy = HandoverExpert() if driver == "expert" else WeakPolicy(np.random.default_rng(seed))
        while True:
            _, _, terminated, truncated, _ = env.step(policy.act(env.world))
            steps += 1
            if terminated or truncated:
                break
    return steps / (time.perf_counter() - started)


def generator_seconds(n: int) -> tuple[float, int]:
    from lerobot_recap.envs.generate import GenerateConfig, generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(output_dir=Path(tmp) / "ds", n_demos=n, n_autonomous=n, n_corrected=n)
        started = time.perf_counter()
        results = generate_dataset(cfg, progress=False)
        return time.perf_counter() - started, sum(r.length for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    print(f"simulator only (no rendering, fixed action): {sim_steps_per_second(20_000):,.0f} steps/s")
    for size, cams in [(64, ("top",)), (64, ("top", "side")), (96, ("top",))]:
        for driver in ("expert", "weak"):
            rate = env_steps_per_second(args.episodes, size, cams, driver)
            print(f"gym env {size}x{size} {'+'.join(cams):<8} {driver:<6} policy: {rate:,.0f} steps/s")
    seconds, frames = generator_seconds(3)
    print(f"generator (3 demos + 3 autonomous + 3 corrected, 64x64 top): {seconds:.1f} s for {frames} frames "
          f"({frames / seconds:,.0f} frames/s, includes LeRobot's PNG embedding and stats)")


if __name__ == "__main__":
    main()
