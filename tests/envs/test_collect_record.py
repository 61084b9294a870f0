"""The simulated stage 0 through stock ``lerobot-record``: the hand-over world as a robot, recap_dagger, the expert.

``lerobot-recap-collect`` steps many envs at once for speed; this drives the same policy, world, expert and phase
machine through LeRobot's own recording loop (``recap_observed`` around ``recap_handover_sim``, ``recap_dagger`` with
``recap_handover_expert`` as its leader, the operator's keys replayed), and checks that both write one layout.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import recording_env, venv_script
from tests.envs.test_collect import (
    IMAGE,
    _config,
    _frames,
    build_tiny_handover_checkpoint,
)

P, A, C = 0, 1, 2
# One tick = one get_action call of recap_dagger, and a key acts on its own tick's frame. p: pause/resume,
# c: correction toggle, s: end as a success (that last frame holds, PAUSED).
KEYS = [(1, "p"), (6, "p"), (7, "c"), (14, "c"), (15, "p"), (20, "s")]
EXPECTED_PHASES = [P, A, A, A, A, A, P, C, C, C, C, C, C, C, P, A, A, A, A, A, P]


def _record(tmp_path: Path, checkpoint: Path) -> Path:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"tick": t, "key": k} for t, k in KEYS]))
    root = tmp_path / "recorded"
    env = recording_env(tmp_path)
    cmd = [
        venv_script("lerobot-record"),
        "--robot.type=recap_observed",
        "--robot.robot.type=recap_handover_sim",
        f"--robot.robot.image_size={IMAGE}",
        "--robot.robot.spawn_scale=0.0",
        "--teleop.type=recap_dagger",
        f"--teleop.policy_path={checkpoint}",
        "--teleop.leader.type=recap_handover_expert",
        "--teleop.use_pedal=false",
        f"--teleop.keyboard_replay_path={keys}",
        "--teleop.resume_ramp_s=0",
        "--dataset.repo_id=local/handover_record",
        f"--dataset.root={root}",
        "--dataset.single_task=hand the cube over",
        "--dataset.fps=30",
        "--dataset.episode_time_s=120",
        "--dataset.reset_time_s=0",
        "--dataset.num_episodes=1",
        "--dataset.video=false",
        "--dataset.push_to_hub=false",
        "--play_sounds=false",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root


@pytest.mark.slow
def test_stock_record_writes_what_collect_writes(tmp_path):
    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.data.metadata import load_recap_metadata
    from lerobot_recap.envs.collect import collect_dataset

    handover_checkpoint = build_tiny_handover_checkpoint(tmp_path / "ckpt" / "pretrained_model")
    recorded = _record(tmp_path, handover_checkpoint)
    collected = tmp_path / "collected"
    collect_dataset(_config(handover_checkpoint, collected, n_episodes=1, batch_size=1, episode_length=30), progress=False)

    def features(root: Path) -> dict:
        info = json.loads((root / "meta" / "info.json").read_text())
        return {k: (v["dtype"], v["shape"], v.get("names")) for k, v in info["features"].items() if "." in k or k == "action"}

    # The same state, camera and action (14 joints + recap_dagger's dims + the policy's would-be joints).
    assert features(recorded) == features(collected)
    assert json.loads((recorded / "meta" / "info.json").read_text())["robot_type"] == "recap_handover_sim"

    _, action, _ = _frames(recorded)
    assert action[:, 15].astype(int).tolist() == EXPECTED_PHASES
    correcting = action[:, 15].astype(int) == C
    assert (action[:, 14] == correcting).all()  # recap.intervention
    executed, shadow = action[:, :14], action[:, 17:31]
    assert np.allclose(executed[action[:, 15] == A], shadow[action[:, 15] == A])  # the policy drove
    assert not np.allclose(executed[correcting], shadow[correcting])  # the expert drove, the policy in shadow
    assert load_recap_metadata(recorded).episodes[0].outcome.value == "success"

    annotated = tmp_path / "annotated"
    annotate_dataset(AnnotateConfig(root=recorded, output_root=annotated))
    assert load_recap_metadata(annotated).episodes[0].source.value == "correction"
