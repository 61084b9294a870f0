"""A dataset recorded the way LeRobot 0.6's `lerobot-rollout --strategy.type=dagger` records one.

lerobot/rollout/context.py adds a top-level `intervention` feature (`bool`, shape (1,), names None) to the robot's
features; rollout/strategies/dagger.py adds frames with `add_frame`, True on the frames the operator drives
(CORRECTING) and False on the policy's frames (AUTONOMOUS, only with `record_autonomous=true`), and saves no
success/failure anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

JOINTS = ["shoulder.pos", "elbow.pos", "wrist.pos", "gripper.pos"]

SENTRY_EPISODES = [  # record_autonomous=true: episodes rotate by duration, corrections tagged inside them
    ("fold the towel", np.r_[np.zeros(6), np.ones(4), np.zeros(5)].astype(bool)),
    ("fold the towel", np.zeros(9, dtype=bool)),
    ("stack the cups", np.r_[np.ones(3), np.zeros(8)].astype(bool)),
]
CORRECTION_EPISODES = [  # record_autonomous=false: every correction is its own episode, all frames True
    ("fold the towel", np.ones(5, dtype=bool)),
    ("fold the towel", np.ones(7, dtype=bool)),
]


def make_rollout_dagger_recording(root: Path, episodes: list[tuple[str, np.ndarray]]) -> Path:
    """A dataset built as lerobot/rollout/context.py and rollout/strategies/dagger.py build theirs."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (len(JOINTS),), "names": JOINTS},
        "action": {"dtype": "float32", "shape": (len(JOINTS),), "names": JOINTS},
        "observation.images.front": {"dtype": "image", "shape": (8, 8, 3), "names": ["height", "width", "channels"]},
    }
    features["intervention"] = {"dtype": "bool", "shape": (1,), "names": None}
    dataset = LeRobotDataset.create(
        "me/rollout_towel", 30, root=root, robot_type="so101_follower", features=features, use_videos=False
    )
    rng = np.random.default_rng(0)
    for task, flags in episodes:
        for human in flags:
            dataset.add_frame(
                {
                    "observation.state": rng.standard_normal(len(JOINTS)).astype(np.float32),
                    "action": rng.standard_normal(len(JOINTS)).astype(np.float32),
                    "observation.images.front": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
                    "task": task,
                    "intervention": np.array([bool(human)], dtype=bool),
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return root
