"""Small real LeRobot v3.0 datasets written through LeRobot's own API, for tests, benchmarks and examples.

``make_synthetic_dataset`` records episodes with ``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` /
``finalize``, exactly as ``lerobot-record`` does: several tasks, episodes of different lengths, camera frames
stored as images or videos, and optionally what a DAgger recorder leaves behind (an intervention flag as a
named dimension of ``observation.state``, or as its own column, and outcomes in ``meta/recap.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lerobot_recap.data.contract import INTERVENTION, Outcome


@dataclass
class SyntheticEpisode:
    """One episode to record: its length, task, outcome and which frames a human drove."""

    length: int
    task: str
    outcome: Outcome = Outcome.SUCCESS
    human: np.ndarray | None = None
    """Per-frame 0/1 intervention flags (default  all autonomous)."""


@dataclass
class SyntheticDatasetSpec:
    """What ``make_synthetic_dataset`` writes."""

    episodes: list[SyntheticEpisode]
    state_dim: int = 6
    action_dim: int = 6
    cameras: Sequence[str] = ("top",)
    image_size: tuple[int, int] = (16, 16)
    use_videos: bool = False
    fps: int = 30
    intervention_as: str | None = "column"
    """Where the intervention flag goes - `column`, `state_dim` (a named dimension of observation.state), or None."""
    record_outcomes: bool = True
    """Write the episodes' outcomes into meta/recap.json as a recorder would."""
    seed: int = 0
    extra_features: dict = field(default_factory=dict)


def random_episodes(
    n_episodes: int,
    tasks: Sequence[str] = ("pick up the cube", "place the object"),
    min_length: int = 5,
    max_length: int = 20,
    seed: int = 0,
) -> list[SyntheticEpisode]:
    """Episodes with random lengths, tasks, outcomes and intervention spans (one demo per task)."""
    rng = np.random.default_rng(seed)
    episodes = []
    for i in range(n_episodes):
        length = int(rng.integers(min_length, max_length + 1))
        task = tasks[i % len(tasks)]
        if i < len(tasks):  # a demo: all human, successful
            human = np.ones(length, dtype=np.int64)
            outcome = Outcome.SUCCESS
        else:
            human = np.zeros(length, dtype=np.int64)
            if rng.random() < 0.5:  # a correction span
                start = int(rng.integers(0, length))
                human[start : start + int(rng.integers(1, length + 1))] = 1
            outcome = Outcome.SUCCESS if rng.random() < 0.5 else Outcome.FAILURE
        episodes.append(SyntheticEpisode(length=length, task=task, outcome=outcome, human=human))
    return episodes


def make_synthetic_dataset(root: str | Path, spec: SyntheticDatasetSpec, repo_id: str = "local/recap_synthetic"):
    """Record ``spec`` into a new LeRobot v3.0 dataset at ``root`` and return the ``LeRobotDataset``."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.data.metadata import record_episode_outcomes

    if spec.use_videos and min(spec.image_size) < 32:
        # LeRobot's default encoder (SVT-AV1) crashes the process on frames smaller than 32 pixels.
        raise ValueError(f"video frames must be at least 32x32, got {spec.image_size}")
    rng = np.random.default_rng(spec.seed)
    state_names = [f"joint_{i}.pos" for i in range(spec.state_dim)]
    if spec.intervention_as == "state_dim":
        state_names.append(INTERVENTION)
    features = {
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": state_names},
        "action": {
            "dtype": "float32",
            "shape": (spec.action_dim,),
            "names": [f"joint_{i}.pos" for i in range(spec.action_dim)],
        },
    }
    height, width = spec.image_size
    for camera in spec.cameras:
        features[f"observation.images.{camera}"] = {
            "dtype": "video" if spec.use_videos else "image",
            "shape": (height, width, 3),
            "names": ["height", "width", "channels"],
        }
    if spec.intervention_as == "column":
        features[INTERVENTION] = {"dtype": "int64", "shape": (1,), "names": ["intervention_flag"]}
    features.update(spec.extra_features)

    dataset = LeRobotDataset.create(
        repo_id=repo_id,
        fps=spec.fps,
        root=root,
        features=features,
        use_videos=spec.use_videos,
        image_writer_threads=0,
    )
    for episode in spec.episodes:
        human = episode.human if episode.human is not None else np.zeros(episode.length, dtype=np.int64)
        phase = rng.uniform(0, 2 * np.pi, size=spec.state_dim)
        for t in range(episode.length):
            state = np.sin(phase + 0.1 * t).astype(np.float32)
            if spec.intervention_as == "state_dim":
                state = np.concatenate([state, [np.float32(human[t])]])
            frame = {
                "observation.state": state,
                "action": np.cos(phase[: spec.action_dim] + 0.1 * t).astype(np.float32),
                "task": episode.task,
            }
            for camera in spec.cameras:
                frame[f"observation.images.{camera}"] = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            if spec.intervention_as == "column":
                frame[INTERVENTION] = np.array([human[t]], dtype=np.int64)
            for key, feature in spec.extra_features.items():
                frame[key] = np.zeros(feature["shape"], dtype=feature["dtype"])
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    if spec.record_outcomes:
        record_episode_outcomes(root, {i: ep.outcome for i, ep in enumerate(spec.episodes)})
    return dataset
