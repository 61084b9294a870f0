"""The data generator: a real LeRobot v3.0 dataset with the intervention column, outcomes and sources."""

import json

import numpy as np
import pytest

from lerobot_recap.data.contract import Outcome, Source
from lerobot_recap.data.metadata import load_recap_metadata
from lerobot_recap.envs.generate import GENERATION_META_PATH, GenerateConfig, episode_plan, generate_dataset


def test_generated_dataset_loads_with_lerobot_and_carries_the_recap_inputs(tiny_generated):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root, results = tiny_generated
    dataset = LeRobotDataset("local/recap_handover", root=root)
    assert dataset.meta.total_episodes == 6
    assert dataset.meta.total_frames == sum(r.length for r in results)
    assert dataset.fps == 10
    features = dataset.meta.features
    assert features["observation.state"]["shape"] == (14,)
    assert features["action"]["shape"] == (14,)
    assert features["observation.images.top"]["dtype"] == "image"
    assert features["intervention"]["dtype"] == "int64" and tuple(features["intervention"]["shape"]) == (1,)
    item = dataset[0]
    assert item["observation.images.top"].shape == (3, 64, 64)
    assert item["task"].startswith("hand the cube")

    episodes = np.asarray(dataset.hf_dataset["episode_index"])
    flags = np.asarray(dataset.hf_dataset["intervention"]).reshape(-1)
    for r in results:
        ep_flags = flags[episodes == r.index]
        assert len(ep_flags) == r.length and ep_flags.sum() == r.human_frames
        if r.kind == "demo":
            assert ep_flags.all()
        if r.kind == "autonomous":
            assert not ep_flags.any()

    metadata = load_recap_metadata(root)
    assert sorted(metadata.episodes) == list(range(6))
    for r in results:
        info = metadata.episodes[r.index]
        assert info.outcome == r.outcome and info.outcome != Outcome.UNKNOWN
        assert info.source == r.source
    assert [metadata.episodes[i].source for i in range(2)] == [Source.DEMO, Source.DEMO]
    generation = json.loads((root / GENERATION_META_PATH).read_text())
    assert generation["summary"]["demo"]["episodes"] == 2


def test_actions_track_the_next_state_like_a_leader_arm(tiny_generated):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root, _ = tiny_generated
    data = LeRobotDataset("local/recap_handover", root=root).hf_dataset.with_format("numpy")
    state, action, episode = data["observation.state"], data["action"], data["episode_index"]
    same = episode[1:] == episode[:-1]
    gap = np.abs(action[:-1][same] - state[1:][same])
    assert np.median(gap) < 0.02  # absolute targets one bounded step ahead, not far-away goals


def test_episode_plan_and_runs_are_seeded(tiny_generated):
    from lerobot_recap.envs.generate import run_episode
    from lerobot_recap.envs.handover import RecapHandoverGymEnv

    cfg = GenerateConfig(n_demos=2, n_autonomous=5, n_corrected=5, seed=1)
    assert episode_plan(cfg) == episode_plan(cfg)
    assert episode_plan(cfg)[:2] == ["demo", "demo"]

    def actions(seed):
        env = RecapHandoverGymEnv(image_size=16)
        return np.stack([a for _, a, _ in run_episode(env, "corrected", 123, np.random.default_rng(seed), cfg)])

    np.testing.assert_array_equal(actions(0), actions(0))


def test_existing_output_is_refused_without_overwrite(tiny_generated):
    root, _ = tiny_generated
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_dataset(GenerateConfig(output_dir=root, n_demos=1, n_autonomous=0, n_corrected=0), progress=False)
    with pytest.raises(ValueError, match="nothing to record"):
        GenerateConfig(output_dir=root.parent / "new", n_demos=0, n_autonomous=0, n_corrected=0).validate()
    with pytest.raises(ValueError, match="--cameras"):
        GenerateConfig(output_dir=root.parent / "new", cameras=["wrist"]).validate()
