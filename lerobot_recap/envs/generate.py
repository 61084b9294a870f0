"""``lerobot-recap-generate``: record a RECAP dataset on the simulated hand-over task.

The dataset is what stage 0 leaves behind on a real robot, recorded through LeRobot's own API
(``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` / ``finalize``):

- demonstrations: the expert drives every frame (``intervention`` = 1 throughout);
- autonomous rollouts: the weak policy drives (``intervention`` = 0), with its failures;
- corrected rollouts: the weak policy drives and a (simulated) operator takes over for spans when it starts a
  mistake (``intervention`` = 1 on those frames);

with every episode's outcome (success / failure, as the env judged it) and source (demo / rollout / correction,
from its intervention flags) in ``meta/recap.json`` through ``record_episode_outcomes``, so that
``lerobot-recap-annotate`` needs no special case. Feature keys match what ``lerobot-eval --env.type=recap_handover``
feeds a policy: ``observation.state`` (14), ``observation.images.<camera>``, ``action`` (14).

Example::

    lerobot-recap-generate --output_dir=outputs/handover_data --n_demos=20 --n_autonomous=24 --n_corrected=16

Episodes use env seeds from ``10_000_000 + 100_000 * seed`` upwards, far from ``lerobot-eval``'s seeds (1000 + i
by default), so evaluation episodes are never training episodes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_recap.data.contract import INTERVENTION, RECAP_FEATURES, Outcome, Source, source_from_intervention
from lerobot_recap.envs.configs import DEFAULT_TASK_DESCRIPTION, KNOWN_CAMERAS
from lerobot_recap.envs.scripted import OperatorConfig, WeakConfig

GENERATION_META_PATH = "meta/recap_generation.json"
"""Where the generator writes its configuration and per-source counts (read by reports)."""

SEED_BASE = 10_000_000
SEED_STRIDE = 100_000


@dataclass
class GenerateConfig:
    """What ``lerobot-recap-generate`` records."""

    output_dir: Path = Path("outputs/recap_handover_data")
    """Root of the new dataset (must not exist unless --overwrite=true)."""
    repo_id: str = "local/recap_handover"
    """The dataset's repo id (LeRobotDataset(repo_id, root=output_dir) loads it)."""
    n_demos: int = 20
    """Expert demonstrations (all frames human)."""
    n_autonomous: int = 24
    """Rollouts of the weak policy alone."""
    n_corrected: int = 16
    """Rollouts of the weak policy with a correcting operator."""
    seed: int = 0
    """Seeds every episode (env layout, policy mistakes, operator reactions) - same seed, same dataset."""
    episode_length: int = 100
    """Steps before an episode is cut (and counted as a failure)."""
    image_size: int = 64
    """Camera image height and width, in pixels."""
    cameras: list[str] = field(default_factory=lambda: ["top"])
    """Cameras to record - any of `top`, `side`."""
    spawn_scale: float = 1.0
    """Scale in [0, 1] of the cube/target pose randomization."""
    fps: int = 10
    """Recorded frame rate (the task's control rate)."""
    task_description: str = DEFAULT_TASK_DESCRIPTION
    """The language task stored with every frame."""
    use_videos: bool = False
    """Store cameras as mp4 videos (needs FFmpeg to decode later) instead of images in the parquet files."""
    overwrite: bool = False
    """Replace output_dir if it exists."""
    weak: WeakConfig = field(default_factory=WeakConfig)
    """Mistake rates of the weak autonomous policy."""
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    """How the simulated operator corrects the weak policy."""

    def validate(self) -> None:
        for name in ("n_demos", "n_autonomous", "n_corrected"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0 (got {getattr(self, name)})")
        if self.n_demos + self.n_autonomous + self.n_corrected == 0:
            raise ValueError("nothing to record: set --n_demos, --n_autonomous or --n_corrected above 0")
        unknown = [c for c in self.cameras if c not in KNOWN_CAMERAS]
        if unknown or not self.cameras:
            raise ValueError(f"--cameras must name one or more of {KNOWN_CAMERAS} (got {self.cameras})")
        if self.output_dir.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.output_dir} already exists: choose another --output_dir or pass --overwrite=true"
            )


@dataclass
class EpisodeResult:
    """One recorded episode."""

    index: int
    kind: str
    """What drove it - `demo`, `autonomous` or `corrected`."""
    env_seed: int
    length: int
    human_frames: int
    outcome: Outcome
    source: Source
    end: str
    """How it ended - `success`, `dropped` (the cube rolled off) or `timeout`."""


def dataset_features(cameras: list[str], image_size: int, use_videos: bool) -> dict[str, dict[str, Any]]:
    """LeRobot feature declarations of a generated dataset (match the env's policy features)."""
    from lerobot_recap.envs.handover import JOINT_NAMES

    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (len(JOINT_NAMES),), "names": list(JOINT_NAMES)},
        "action": {"dtype": "float32", "shape": (len(JOINT_NAMES),), "names": list(JOINT_NAMES)},
    }
    for camera in cameras:
        features[f"observation.images.{camera}"] = {
            "dtype": "video" if use_videos else "image",
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channels"],
        }
    intervention = RECAP_FEATURES[INTERVENTION]
    features[INTERVENTION] = {**intervention, "shape": tuple(intervention["shape"])}
    return features


def episode_plan(cfg: GenerateConfig) -> list[str]:
    """Demos first (as a team records them before any policy exists), then the rollouts in a seeded order."""
    rollouts = ["autonomous"] * cfg.n_autonomous + ["corrected"] * cfg.n_corrected
    np.random.default_rng([cfg.seed, 7]).shuffle(rollouts)
    return ["demo"] * cfg.n_demos + rollouts


def run_episode(env, kind: str, env_seed: int, rng: np.random.Generator, cfg: GenerateConfig):
    """Yield (observation, action, human) for every step of one episode; returns the end status via StopIteration."""
    from lerobot_recap.envs.scripted import CorrectingOperator, HandoverExpert, WeakPolicy

    observation, _ = env.reset(seed=env_seed)
    expert = HandoverExpert()
    weak = WeakPolicy(rng, cfg.weak)
    operator = CorrectingOperator(rng, cfg.operator)
    while True:
        world = env.world
        if kind == "demo":
            action, human = expert.act(world), True
        elif kind == "autonomous":
            action, human = weak.act(world), False
        else:
            action, human = operator.act(world, weak)
        yield observation, action.astype(np.float32), human
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return env.world.status if terminated else "timeout"


def generate_dataset(cfg: GenerateConfig, progress: bool = True) -> list[EpisodeResult]:
    """Record the dataset described by ``cfg`` into ``cfg.output_dir`` (atomically) and return its episodes."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    from lerobot_recap.data.metadata import record_episode_outcomes, write_json_atomic
    from lerobot_recap.envs.handover import RecapHandoverGymEnv

    cfg.validate()
    output_dir = Path(cfg.output_dir)
    # Record into a sibling folder and rename at the end: an interrupted run leaves no half dataset behind.
    staging = output_dir.with_name(f".{output_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    output_dir.parent.mkdir(parents=True, exist_ok=True)

    env = RecapHandoverGymEnv(
        cameras=tuple(cfg.cameras),
        image_size=cfg.image_size,
        episode_length=cfg.episode_length,
        spawn_scale=cfg.spawn_scale,
        task_description=cfg.task_description,
    )
    dataset = LeRobotDataset.create(
        repo_id=cfg.repo_id,
        fps=cfg.fps,
        root=staging,
        features=dataset_features(cfg.cameras, cfg.image_size, cfg.use_videos),
        robot_type="recap_handover_sim",
        use_videos=cfg.use_videos,
        image_writer_threads=0,
    )
    results: list[EpisodeResult] = []
    started = time.perf_counter()
    try:
        plan = episode_plan(cfg)
        for index, kind in enumerate(tqdm(plan, desc="recording episodes", unit="ep", disable=not progress)):
            env_seed = SEED_BASE + SEED_STRIDE * cfg.seed + index
            rng = np.random.default_rng([cfg.seed, index, 1])
            steps = run_episode(env, kind, env_seed, rng, cfg)
            human_frames, length = 0, 0
            while True:
                try:
                    observation, action, human = next(steps)
                except StopIteration as stop:
                    end = stop.value
                    break
                frame = {
                    "observation.state": observation["agent_pos"],
                    "action": action,
                    INTERVENTION: np.array([int(human)], dtype=np.int64),
                    "task": cfg.task_description,
                }
                for camera, image in observation["pixels"].items():
                    frame[f"observation.images.{camera}"] = image
                dataset.add_frame(frame)
                human_frames += int(human)
                length += 1
            dataset.save_episode()
            results.append(
                EpisodeResult(
                    index=index,
                    kind=kind,
                    env_seed=env_seed,
                    length=length,
                    human_frames=human_frames,
                    outcome=Outcome.SUCCESS if end == "success" else Outcome.FAILURE,
                    source=source_from_intervention(human_frames, length),
                    end=end,
                )
            )
        dataset.finalize()
        _remove_empty_dirs(staging / "images")  # images were embedded into the parquet files
        record_episode_outcomes(
            staging, {r.index: r.outcome for r in results}, {r.index: r.source for r in results}
        )
        write_json_atomic(staging / GENERATION_META_PATH, _generation_meta(cfg, results, time.perf_counter() - started))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        env.close()
    if output_dir.exists():  # only reachable with --overwrite (validate refused otherwise)
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return results


def _remove_empty_dirs(path: Path) -> None:
    if not path.is_dir():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir() and not any(child.iterdir()):
            child.rmdir()
    if not any(path.iterdir()):
        path.rmdir()


def summarize(results: list[EpisodeResult]) -> dict[str, dict[str, float]]:
    """Per driver kind: episodes, successes, success rate, frames and human frames."""
    summary: dict[str, dict[str, float]] = {}
    for kind in ("demo", "autonomous", "corrected"):
        subset = [r for r in results if r.kind == kind]
        if not subset:
            continue
        successes = sum(r.outcome == Outcome.SUCCESS for r in subset)
        summary[kind] = {
            "episodes": len(subset),
            "successes": successes,
            "success_rate": successes / len(subset),
            "frames": sum(r.length for r in subset),
            "human_frames": sum(r.human_frames for r in subset),
            "dropped": sum(r.end == "dropped" for r in subset),
            "timeouts": sum(r.end == "timeout" for r in subset),
        }
    return summary


def _generation_meta(cfg: GenerateConfig, results: list[EpisodeResult], seconds: float) -> dict[str, Any]:
    config = asdict(cfg)
    config["output_dir"] = str(cfg.output_dir)
    return {
        "generator": "lerobot_recap.envs.generate",
        "config": config,
        "seconds": round(seconds, 2),
        "summary": summarize(results),
        "episodes": [
            {**asdict(r), "outcome": r.outcome.value, "source": r.source.value} for r in results
        ],
    }


def format_summary(results: list[EpisodeResult]) -> str:
    lines = [f"{'driver':<11} {'episodes':>8} {'success':>8} {'frames':>7} {'human':>6} {'dropped':>7} {'timeout':>7}"]
    for kind, row in summarize(results).items():
        lines.append(
            f"{kind:<11} {row['episodes']:>8} {row['success_rate']:>8.0%} {row['frames']:>7} "
            f"{row['human_frames']:>6} {row['dropped']:>7} {row['timeouts']:>7}"
        )
    return "\n".join(lines)


def generate(cfg: GenerateConfig) -> list[EpisodeResult]:
    """Record the dataset and print its summary: what ``lerobot-recap-generate`` runs once its arguments are parsed."""
    from datasets.utils.logging import disable_progress_bar

    cfg.validate()  # before the env and LeRobot's writer load
    disable_progress_bar()  # one tqdm bar over episodes instead of one per saved episode
    results = generate_dataset(cfg)
    print(format_summary(results))
    print(f"dataset written to {cfg.output_dir} (repo_id {cfg.repo_id}); outcomes and sources in meta/recap.json")
    print(json.dumps({"episodes": len(results), "frames": sum(r.length for r in results)}))
    return results


def main() -> None:
    """Console entry point of ``lerobot-recap-generate``."""
    import draccus

    from lerobot_recap.scripts.cli import run_cli

    run_cli(lambda: generate(draccus.parse(config_class=GenerateConfig)), "lerobot-recap-generate")


if __name__ == "__main__":
    main()
