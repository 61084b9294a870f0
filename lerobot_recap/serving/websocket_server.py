"""``lerobot-recap-serve``'s server: openpi's websocket policy protocol in front of a LeRobot policy checkpoint.

The protocol, as openpi's ``WebsocketPolicyServer`` and ``WebsocketClientPolicy`` speak it:

* one websocket per client at ``ws://host:port`` (no compression); the request may carry ``Authorization: Api-Key
  <key>``, which this server checks when it has a key (a wrong or missing key: HTTP 401, no websocket);
* **the server speaks first**: one binary frame with the msgpack'd metadata dict;
* then, per step, one binary frame in (the msgpack'd observation, :mod:`.msgpack_numpy`'s numpy convention) and one
  binary frame out: ``{"actions": (chunk_size, action_dim), "policy_timing": {"infer_ms"}, "server_timing":
  {"infer_ms", "prev_total_ms"}}`` (``prev_total_ms``, the previous step's full time, from the second step on);
* on an error the server sends the reason as a **text** frame and closes with code 1011; openpi's client raises on
  any text reply. A frame over ``--max_message_mb`` is refused by the websocket layer (close code 1009). Either
  way only that connection ends: the server keeps serving the others.
* ``GET /healthz`` on the same port answers ``200 OK`` (no key needed).

Inference runs in a worker thread, one at a time (:class:`.served_policy.ServedPolicy`), so a slow step never blocks
the handshakes or health checks of other clients. websockets is imported when the server runs.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from lerobot.configs.policies import PreTrainedConfig

from lerobot_recap.serving import msgpack_numpy
from lerobot_recap.serving.observation_mapping import (
    ObservationError,
    ObservationMappingConfig,
)
from lerobot_recap.serving.recap_remote.configuration_recap_remote import API_KEY_ENV
from lerobot_recap.utils.config_errors import ConfigError

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
CLOSE_INTERNAL_ERROR = 1011
"""openpi closes with INTERNAL_ERROR after the error frame."""


class InferencePolicy(Protocol):
    """What the server serves: openpi's ``BasePolicy.infer`` plus the metadata frame."""

    def metadata(self) -> dict[str, Any]: ...

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class ServeConfig:
    """lerobot-recap-serve: a policy checkpoint behind openpi's websocket protocol."""

    policy: PreTrainedConfig | None = None
    """The policy: --policy.path=<pretrained_model folder>; --policy.device, --policy.inference_advantage and --policy.cfg_beta override it."""
    host: str = "127.0.0.1"
    """Interface to listen on - loopback by default; 0.0.0.0 serves other machines (set --api_key then)."""
    port: int = 8111
    """TCP port (pistar's and limb's YAM clients use 8111, openpi's own default is 8000)."""
    api_key: str | None = None
    """Require the header 'Authorization - Api-Key <key>' (default  the LEROBOT_RECAP_API_KEY variable, else none)."""
    observation: ObservationMappingConfig = field(default_factory=ObservationMappingConfig)
    """How client observations map onto the policy's features (--observation.preset, .cameras, .default_prompt)."""
    max_message_mb: float = 64.0
    """Largest observation frame accepted, in MiB; a larger one closes that connection (code 1009)."""

    def __post_init__(self) -> None:
        from lerobot_recap.utils.policy_path import policy_config_from_path_arg

        # As lerobot-eval does: --policy.path loads the checkpoint's config, other --policy.* flags override it.
        self.policy = policy_config_from_path_arg() or self.policy
        if self.api_key is None:
            self.api_key = os.environ.get(API_KEY_ENV) or None

    @classmethod
    def __get_path_fields__(cls) -> list[str]:
        return ["policy"]

    def validate(self) -> None:
        if self.policy is None:
            raise ConfigError("give the policy to serve: --policy.path=<checkpoint's pretrained_model folder>")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port={self.port} is not a TCP port")
        if not self.max_message_mb > 0:
            raise ConfigError(f"--max_message_mb={self.max_message_mb} must be > 0")

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 2**20)


class WebsocketPolicyServer:
    """openpi's websocket protocol around any :class:`InferencePolicy` (see the module's docstring)."""

    def __init__(
        self,
        policy: InferencePolicy,
        host: str = "127.0.0.1",
        port: int = 8111,
        api_key: str | None = None,
        max_message_bytes: int | None = 64 * 2**20,
    ) -> None:
        self.policy = policy
        self.host = host
        self.port = port
        self.api_key = api_key
        self.max_message_bytes = max_message_bytes
        self._metadata = policy.metadata()
        self.requests = 0
        """Observations answered so far (all connections)."""
        self.errors = 0
        """Connections closed with an error frame."""

    async def run(self, on_ready: Callable[[int], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set (or forever); ``on_ready`` gets the bound port (useful with port 0)."""
        from websockets.asyncio.server import serve

        async with serve(
            self._handle,
            self.host,
            self.port,
            compression=None,
            max_size=self.max_message_bytes,
            process_request=self._process_request,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            logger.info("Serving %s on ws://%s:%d (health: /healthz)", self._metadata.get("policy_type"), self.host, port)
            if on_ready is not None:
                on_ready(port)
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()

    def serve_forever(self) -> None:
        asyncio.run(self.run())

    # -- HTTP side: health check and API key ---------------------------------------------------------------------
    def _process_request(self, connection: Any, request: Any) -> Any:
        if urlsplit(request.path).path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.api_key:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {self.api_key}".encode()):
                logger.warning("Refused %s: missing or wrong API key", connection.remote_address)
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Send the header 'Authorization: Api-Key <key>'\n")
        return None

    # -- one client ----------------------------------------------------------------------------------------------
    async def _handle(self, websocket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        peer = websocket.remote_address
        logger.info("Client %s connected", peer)
        try:
            await websocket.send(msgpack_numpy.packb(self._metadata))
            prev_total_ms: float | None = None
            while True:
                frame = await websocket.recv()
                start = time.monotonic()
                try:
                    result = await asyncio.to_thread(self._answer, frame)
                except Exception as err:  # noqa: BLE001  (any failure ends this connection only, as in openpi)
                    await self._send_error(websocket, err)
                    return
                infer_ms = (time.monotonic() - start) * 1000
                result["server_timing"] = {"infer_ms": infer_ms}
                if prev_total_ms is not None:
                    result["server_timing"]["prev_total_ms"] = prev_total_ms
                await websocket.send(msgpack_numpy.packb(result))
                self.requests += 1
                # The time of a whole step is only known once its reply went out: reported with the next one.
                prev_total_ms = (time.monotonic() - start) * 1000
        except ConnectionClosed as closed:
            # 1009: a frame over --max_message_mb, refused by the websocket layer before it was read.
            frame = closed.sent or closed.rcvd
            level = logging.WARNING if frame is not None and frame.code == 1009 else logging.INFO
            logger.log(level, "Client %s disconnected (%s)", peer, closed)

    def _answer(self, frame: str | bytes) -> dict[str, Any]:
        if isinstance(frame, str):
            raise ObservationError("expected a binary msgpack frame, got a text frame")
        observation = msgpack_numpy.unpackb(frame)
        result = self.policy.infer(observation)
        if not isinstance(result, dict):
            raise TypeError(f"the policy returned a {type(result).__name__}, not a dict")
        return result

    async def _send_error(self, websocket: Any, err: Exception) -> None:
        from websockets.exceptions import ConnectionClosed

        self.errors += 1
        if isinstance(err, ValueError):  # bad input (ObservationError, DecodeError, ...): the reason is enough
            text = f"lerobot-recap-serve: bad request: {err}"
            logger.warning("Client %s: %s", websocket.remote_address, err)
        else:  # a server-side failure: the traceback, as openpi sends it
            text = traceback.format_exc()
            logger.error("Client %s: inference failed\n%s", websocket.remote_address, text)
        try:
            await websocket.send(text)
            await websocket.close(code=CLOSE_INTERNAL_ERROR, reason="Internal server error. Reason in the previous frame.")
        except ConnectionClosed:
            pass


class RunningServer:
    """A :class:`WebsocketPolicyServer` on its own thread and event loop (tests, benchmarks, embedding)."""

    def __init__(self, server: WebsocketPolicyServer, timeout_s: float = 30.0) -> None:
        self.server = server
        self.port: int = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="websocket-policy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"the policy server did not start: {self._error}")

    @property
    def url(self) -> str:
        return f"ws://{self.server.host}:{self.port}"

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.server.run(on_ready=self._on_ready, stop=self._stop)

        try:
            asyncio.run(main())
        except BaseException as err:  # noqa: BLE001  (reported to the starting thread)
            self._error = err
            self._ready.set()

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(cfg: ServeConfig) -> None:
    """Load the checkpoint and serve it until Ctrl-C."""
    from lerobot_recap.serving.served_policy import ServedPolicy

    cfg.validate()
    if cfg.host not in LOOPBACK_HOSTS and not cfg.api_key:
        logger.warning(
            "Serving on %s without an API key: anyone who reaches this port can drive the robot. Set --api_key "
            "(or %s) and use it on the client (openpi: WebsocketClientPolicy(api_key=...))",
            cfg.host, API_KEY_ENV,
        )  # fmt: skip
    policy = ServedPolicy.from_config(cfg.policy, cfg.observation)
    server = WebsocketPolicyServer(policy, cfg.host, cfg.port, cfg.api_key, cfg.max_message_bytes)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("Stopped after %d requests", server.requests)
