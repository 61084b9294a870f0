"""recap_remote: LeRobot's policy interface in front of lerobot-recap-serve, as recap_dagger and lerobot-rollout use it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sim_devices

from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
    API_KEY_ENV,
    RecapRemoteConfig,
)
from lerobot_recap.serving.recap_remote.modeling_recap_remote import (
    write_remote_policy_folder,
)
from lerobot_recap.serving.websocket_server import RunningServer, WebsocketPolicyServer
from tests.serving.conftest import TASK


class RecordingPolicy:
    """The served policy, with every observation it got and every chunk it answered kept for the test."""

    def __init__(self, served) -> None:
        self.served = served
        self.observations: list[dict] = []
        self.chunks: list[np.ndarray] = []

    def metadata(self) -> dict:
        return self.served.metadata()

    def infer(self, observation: dict) -> dict:
        self.observations.append(observation)
        reply = self.served.infer(observation)
        self.chunks.append(reply["actions"])
        return reply


@pytest.fixture
def recording_server(served):
    policy = RecordingPolicy(served)
    with RunningServer(WebsocketPolicyServer(policy, port=0, api_key="k3y")) as running:
        yield running, policy


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "k3y")


def policy_runner(folder, arm_features: dict, action_names: list[str]):
    from lerobot_recap.teleoperators.recap_dagger.policy_runner import PolicyRunner

    return PolicyRunner(str(folder), "cpu", arm_features, action_names, "recap_test_sim_arm")


def test_recap_daggers_policy_runner_drives_the_sim_arm_through_the_server(recording_server, api_key, tmp_path):
    running, served = recording_server
    folder = write_remote_policy_folder(RecapRemoteConfig(server=running.url, api_key="k3y"), tmp_path / "remote")
    assert json.loads((folder / "config.json").read_text())["api_key"] is None  # the key stays in the environment
    arm = sim_devices.SimArm(sim_devices.SimArmConfig())
    runner = policy_runner(folder, arm.observation_features, list(arm.action_features))
    assert runner.policy.config.type == "recap_remote" and runner.policy.n_action_steps == 4  # the checkpoint's

    sent, seen = [], []
    for _ in range(6):
        observation = arm.get_observation()
        seen.append(observation)
        action = runner.act(observation, TASK)
        sent.append([action[j] for j in sim_devices.JOINTS])
        arm.send_action(action)
    assert len(served.chunks) == 2  # 6 steps, 4 actions of each chunk
    expected = np.concatenate([served.chunks[0][:4], served.chunks[1][:2]])
    np.testing.assert_array_equal(np.asarray(sent, np.float32), expected)
    assert all(math.isfinite(v) for row in sent for v in row)

    # The server saw exactly the robot's observation at each request (state, image bytes) and the task.
    for request, observation in zip(served.observations, (seen[0], seen[4]), strict=True):
        assert request["prompt"] == TASK and sorted(request["images"]) == ["cam"]
        np.testing.assert_array_equal(request["state"], np.float32([observation[j] for j in sim_devices.JOINTS]))
        np.testing.assert_array_equal(request["images"]["cam"], observation["cam"].transpose(2, 0, 1))

    runner.reset()  # a hand-back to the policy (recap_dagger) starts a fresh chunk
    runner.act(arm.get_observation(), TASK)
    assert len(served.chunks) == 3


def test_a_robot_that_does_not_fit_the_served_policy_is_refused_at_connect(recording_server, api_key, tmp_path):
    running, _ = recording_server
    folder = write_remote_policy_folder(RecapRemoteConfig(server=running.url), tmp_path / "remote")
    joints = [f"j{i}.pos" for i in range(4)]
    with pytest.raises(ValueError, match="outputs 3 action values, the robot takes 4"):
        policy_runner(folder, {**{j: float for j in joints}, "cam": sim_devices.IMAGE_SHAPE}, joints)
    features = {**{j: float for j in sim_devices.JOINTS}, "front": sim_devices.IMAGE_SHAPE}
    with pytest.raises(ValueError, match=r"reads the cameras \['cam'\], the robot has \['front'\]"):
        policy_runner(folder, features, sim_devices.JOINTS)


def test_without_robot_features_the_servers_are_taken_as_lerobot_rollout_needs(recording_server, api_key):
    """``lerobot-rollout --policy.type=recap_remote --policy.server=...``: no folder, no dataset features."""
    import torch
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    from lerobot.policies.utils import prepare_observation_for_inference

    running, served = recording_server
    config = RecapRemoteConfig(server=running.url, n_action_steps=2, advantage="negative", cfg_beta=1.5)
    policy = get_policy_class("recap_remote").from_pretrained(None, config=config)
    assert {k: tuple(f.shape) for k, f in config.input_features.items()} == {
        "observation.state": (3,), "observation.images.cam": (3, 32, 32)
    }  # fmt: skip
    assert tuple(config.output_features["action"].shape) == (3,)
    pre, post = make_pre_post_processors(config)  # resolved by LeRobot's naming convention
    arm = sim_devices.SimArm(sim_devices.SimArmConfig())
    frame = {"observation.state": np.zeros(3, np.float32), "observation.images.cam": arm.get_observation()["cam"]}
    actions = []
    for _ in range(3):
        with torch.inference_mode():
            batch = pre(prepare_observation_for_inference(dict(frame), torch.device("cpu"), TASK, "sim"))
            actions.append(post(policy.select_action(batch)))
    assert [tuple(a.shape) for a in actions] == [(1, 3)] * 3
    assert len(served.chunks) == 2  # two of each chunk
    np.testing.assert_array_equal(actions[1][0].numpy(), served.chunks[0][1])
    assert served.observations[0]["advantage"] == "negative" and served.observations[0]["cfg_beta"] == 1.5


def test_a_wrong_or_missing_key_and_a_missing_server_are_clear_errors(recording_server, monkeypatch):
    running, _ = recording_server
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ConnectionError, match="HTTP 401"):
        get_remote(RecapRemoteConfig(server=running.url))
    with pytest.raises(ConnectionError, match="HTTP 401"):
        get_remote(RecapRemoteConfig(server=running.url, api_key="nope"))
    with pytest.raises(ConnectionError, match="no policy server"):
        get_remote(RecapRemoteConfig(server="127.0.0.1:9", connect_timeout_s=0.2))


def get_remote(config: RecapRemoteConfig):
    from lerobot.policies.factory import get_policy_class

    return get_policy_class("recap_remote").from_pretrained(None, config=config)
