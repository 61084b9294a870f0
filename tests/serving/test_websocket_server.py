"""lerobot-recap-serve's server on loopback: openpi's handshake, replies equal to in-process inference, errors."""

from __future__ import annotations

import http.client
import threading

import numpy as np
import pytest

from lerobot_recap.serving import msgpack_numpy
from lerobot_recap.serving.websocket_client import ServerError, WebsocketPolicyClient
from lerobot_recap.serving.websocket_server import RunningServer, WebsocketPolicyServer
from tests.serving.conftest import TASK, load_policy_config, random_observation

CHUNK, ACTION_DIM = 4, 3


class EchoPolicy:
    """A stand-in policy: answers the state back as a (2, n) chunk; fails on request."""

    def __init__(self) -> None:
        self.calls = 0

    def metadata(self) -> dict:
        return {"policy_type": "echo", "reset_pose": [0.0, -1.5, 1.5]}

    def infer(self, observation: dict) -> dict:
        self.calls += 1
        if observation.get("fail"):
            raise RuntimeError("simulated inference failure")
        state = np.asarray(observation["state"], dtype=np.float32)
        return {"actions": np.stack([state, state + 1]), "policy_timing": {"infer_ms": 0.0}}


@pytest.fixture
def echo_server():
    with RunningServer(WebsocketPolicyServer(EchoPolicy(), port=0, max_message_bytes=64 * 1024)) as running:
        yield running


def raw_connect(running: RunningServer, **kwargs):
    from websockets.sync.client import connect

    return connect(running.url, compression=None, max_size=None, **kwargs)


def assert_still_serving(running: RunningServer) -> None:
    with WebsocketPolicyClient(running.url, connect_timeout_s=5) as client:
        reply = client.infer({"state": np.arange(3, dtype=np.float32)})
    assert reply["actions"].tolist() == [[0, 1, 2], [1, 2, 3]]


# -- protocol, with a stand-in policy --------------------------------------------------------------------------------
def test_server_speaks_first_then_one_reply_per_observation(echo_server):
    with raw_connect(echo_server) as ws:
        first = ws.recv(timeout=10)
        assert isinstance(first, bytes)
        assert first == msgpack_numpy.packb({"policy_type": "echo", "reset_pose": [0.0, -1.5, 1.5]})
        timings = []
        for step in range(3):
            ws.send(msgpack_numpy.packb({"state": np.full(2, step, np.float32)}))
            reply = msgpack_numpy.unpackb(ws.recv(timeout=10))
            assert set(reply) == {"actions", "policy_timing", "server_timing"}
            assert reply["actions"].dtype == np.float32 and reply["actions"].tolist() == [[step] * 2, [step + 1] * 2]
            timings.append(reply["server_timing"])
    assert "prev_total_ms" not in timings[0]  # as openpi: the previous step's total, from the second step on
    assert all(t["prev_total_ms"] >= t_prev["infer_ms"] for t, t_prev in zip(timings[1:], timings[:-1], strict=True))


def test_healthz_answers_ok_on_the_same_port(echo_server):
    conn = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=10)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"OK\n")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\xc1not msgpack", "not an openpi msgpack frame"),
        ("a text frame", "expected a binary msgpack frame"),
        (msgpack_numpy.packb([1, 2]), "list"),  # the stand-in fails on anything but a map
        (msgpack_numpy.packb({"state": np.zeros(2), "fail": True}), "simulated inference failure"),
    ],
)
def test_a_bad_frame_gets_a_text_reply_and_close_1011_and_others_are_still_served(echo_server, frame, reason):
    from websockets.exceptions import ConnectionClosedError

    other = WebsocketPolicyClient(echo_server.url)  # connected before, served after
    with raw_connect(echo_server) as ws:
        ws.recv(timeout=10)
        ws.send(frame)
        reply = ws.recv(timeout=10)
        assert isinstance(reply, str) and reason in reply
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1011
    assert other.infer({"state": np.ones(1, np.float32)})["actions"].tolist() == [[1], [2]]
    other.close()
    assert_still_serving(echo_server)
    assert echo_server.server.errors == 1


def test_an_oversized_frame_closes_that_connection_only(echo_server):
    from websockets.exceptions import ConnectionClosedError

    with raw_connect(echo_server) as ws:
        ws.recv(timeout=10)
        ws.send(msgpack_numpy.packb({"state": np.zeros(20_000, np.float32)}))  # 80 kB > the 64 KiB limit
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009  # "message too big", from the websocket layer
    assert_still_serving(echo_server)


def test_our_client_raises_the_servers_error_text_then_reconnects_for_the_next_step(echo_server):
    with WebsocketPolicyClient(echo_server.url) as client:
        with pytest.raises(ServerError, match="simulated inference failure"):
            client.infer({"state": np.zeros(2), "fail": True})
        assert client.infer({"state": np.ones(1, np.float32)})["actions"].tolist() == [[1], [2]]


def test_api_key_is_enforced_when_set():
    from websockets.exceptions import InvalidStatus

    with RunningServer(WebsocketPolicyServer(EchoPolicy(), port=0, api_key="s3cret")) as running:
        for headers in (None, {"Authorization": "Api-Key wrong"}, {"Authorization": "Bearer s3cret"}):
            with pytest.raises(InvalidStatus) as refused:
                raw_connect(running, additional_headers=headers)
            assert refused.value.response.status_code == 401
        with pytest.raises(ConnectionError, match="HTTP 401.*API key"):
            WebsocketPolicyClient(running.url, api_key="wrong", connect_timeout_s=5)
        with WebsocketPolicyClient(running.url, api_key="s3cret") as client:  # openpi's header: Api-Key <key>
            assert client.metadata["policy_type"] == "echo"
            assert client.infer({"state": np.zeros(1, np.float32)})["actions"].shape == (2, 1)
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        conn.request("GET", "/healthz")  # health checks need no key
        assert conn.getresponse().status == 200


def test_client_gives_up_on_a_missing_server_with_a_clear_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError, match="no policy server at ws://127.0.0.1"):
        WebsocketPolicyClient(f"127.0.0.1:{port}", connect_timeout_s=0.5)


# -- the real tiny checkpoint ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(checkpoint):
    """The same checkpoint loaded a second time, straight through LeRobot's factories (no serving code)."""
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    config = load_policy_config(checkpoint)
    policy = get_policy_class(config.type).from_pretrained(str(checkpoint), config=config).eval()
    pre, post = make_pre_post_processors(config, pretrained_path=str(checkpoint))
    return policy, pre, post


def in_process_chunk(reference, obs: dict, advantage: str = "positive", cfg_beta: float = 1.0) -> np.ndarray:
    """LeRobot's robot path on the same observation and noise: frame -> prepare -> pre -> predict_action_chunk -> post."""
    import torch
    from lerobot.policies.utils import prepare_observation_for_inference

    policy, pre, post = reference
    frame = {"observation.state": obs["state"].copy(), "observation.images.cam": obs["images"]["cam"].transpose(1, 2, 0).copy()}
    policy.config.inference_advantage, policy.config.cfg_beta = advantage, cfg_beta
    with torch.inference_mode():
        batch = pre(prepare_observation_for_inference(frame, torch.device("cpu"), obs["prompt"], ""))
        chunk = post(policy.predict_action_chunk(batch, noise=torch.from_numpy(obs["noise"].copy())[None]))
    policy.config.inference_advantage, policy.config.cfg_beta = "positive", 1.0
    return chunk[0].numpy()


def test_metadata_describes_the_served_policy(server):
    with WebsocketPolicyClient(server.url) as client:
        meta = client.metadata
    assert meta["policy_type"] == "pi06_recap" and meta["chunk_size"] == CHUNK and meta["action_dim"] == ACTION_DIM
    assert meta["cameras"] == ["cam"] and meta["state_dim"] == 3 and meta["image_shapes"] == {"cam": [3, 32, 32]}
    assert meta["advantage"] == "positive" and meta["cfg_beta"] == 1.0 and meta["noise_shape"] == [CHUNK, 16]


def test_fifty_requests_equal_in_process_predict_action_chunk(server, reference):
    rng = np.random.default_rng(1)
    conditions = [("positive", 1.0), ("negative", 1.0), ("positive", 1.5), ("none", 1.0)]
    with WebsocketPolicyClient(server.url) as client:
        for step in range(50):
            obs = random_observation(rng, (CHUNK, 16))
            advantage, beta = conditions[step % len(conditions)]
            if step % len(conditions):  # the first of every four uses the server's default clause
                obs |= {"advantage": advantage, "cfg_beta": beta}
            actions = client.infer(obs)["actions"]
            assert actions.shape == (CHUNK, ACTION_DIM) and actions.dtype == np.float32
            np.testing.assert_array_equal(actions, in_process_chunk(reference, obs, advantage, beta))
        # The clause reaches the policy: the same observation and noise, conditioned otherwise, acts otherwise.
        positive = client.infer(obs | {"advantage": "positive", "cfg_beta": 1.0})["actions"]
        negative = client.infer(obs | {"advantage": "negative", "cfg_beta": 1.0})["actions"]
        assert not np.allclose(positive, negative)
        assert client.infer(obs | {"advantage": "positive", "cfg_beta": 1.0})["actions"].tolist() == positive.tolist()
    assert server.server.requests == 53


def test_two_concurrent_clients_each_get_their_own_answers(server, reference):
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            with WebsocketPolicyClient(server.url) as client:
                results[seed] = [(obs, client.infer(obs)["actions"]) for obs in
                                 (random_observation(rng, (CHUNK, 16)) for _ in range(8))]  # fmt: skip
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (10, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    for pairs in results.values():
        for obs, actions in pairs:
            np.testing.assert_array_equal(actions, in_process_chunk(reference, obs))


def test_a_bad_observation_for_the_real_policy_is_refused_and_the_server_goes_on(server):
    rng = np.random.default_rng(2)
    bad = [
        ({"state": np.zeros(5, np.float32), "images": {"cam": np.zeros((3, 32, 32), np.uint8)}}, "must hold 3 numbers"),
        (random_observation(rng, (CHUNK + 1, 16)), "'noise' must have the shape"),
        (random_observation(rng) | {"advantage": "none", "cfg_beta": 2.0}, "needs a clause"),
    ]
    for obs, message in bad:  # each error closes its connection: a new one for the next
        with WebsocketPolicyClient(server.url) as client, pytest.raises(ServerError, match=message):
            client.infer(obs)
    with WebsocketPolicyClient(server.url) as client:
        assert client.infer(random_observation(rng) | {"prompt": TASK})["actions"].shape == (CHUNK, ACTION_DIM)


def test_real_openpi_client_when_installed(server):
    """openpi-client pins numpy<2 (not installable beside LeRobot 0.6): run where it is importable anyway."""
    websocket_client_policy = pytest.importorskip("openpi_client.websocket_client_policy")
    rng = np.random.default_rng(3)
    policy = websocket_client_policy.WebsocketClientPolicy(host="127.0.0.1", port=server.port)
    assert policy.get_server_metadata()["policy_type"] == "pi06_recap"
    obs = random_observation(rng, (CHUNK, 16))
    with WebsocketPolicyClient(server.url) as ours:
        assert policy.infer(obs)["actions"].tolist() == ours.infer(obs)["actions"].tolist()
