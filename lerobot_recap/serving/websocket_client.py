"""A synchronous client of openpi's websocket policy protocol (the robot side of ``lerobot-recap-serve``).

It behaves as openpi's ``WebsocketClientPolicy``: connect (``Authorization: Api-Key`` when a key is given, no
compression, no size limit), read the metadata frame the server sends first, then one observation out and one reply
in per :meth:`WebsocketPolicyClient.infer`; a text reply is the server's error. It works against openpi's own
servers as well. Unlike openpi's client it stops retrying a refused connection after ``connect_timeout_s`` and says
so, and it reconnects once when a connection drops between two steps. websockets is imported on connect.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Self

from lerobot_recap.serving import msgpack_numpy

logger = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server answered with an error frame (its text is the message)."""


def normalize_url(server: str) -> str:
    """``host:port`` or a ``ws://`` / ``wss://`` URL to a URL (openpi's client takes both too)."""
    server = server.strip()
    return server if server.startswith(("ws://", "wss://")) else f"ws://{server}"


class WebsocketPolicyClient:
    """One connection to an openpi-protocol policy server."""

    def __init__(self, server: str, api_key: str | None = None, connect_timeout_s: float = 30.0) -> None:
        self.url = normalize_url(server)
        self.api_key = api_key
        self.connect_timeout_s = connect_timeout_s
        self._ws: Any = None
        self.metadata: dict[str, Any] = {}
        self._connect()

    def _connect(self) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Api-Key {self.api_key}"} if self.api_key else None
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                self._ws = connect(self.url, compression=None, max_size=None, additional_headers=headers)
                break
            except InvalidStatus as err:
                status = err.response.status_code
                hint = " (missing or wrong API key: set --policy.api_key or LEROBOT_RECAP_API_KEY)" if status == 401 else ""
                raise ConnectionError(f"the policy server at {self.url} refused the connection: HTTP {status}{hint}") from err
            except OSError as err:  # refused, unreachable, timed out: the server may still be loading its model
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"no policy server at {self.url} after {self.connect_timeout_s:.0f} s ({err}): start "
                        "lerobot-recap-serve there, and check --host/--port and the firewall"
                    ) from err
                logger.info("Waiting for the policy server at %s ...", self.url)
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        metadata = msgpack_numpy.unpackb(self._ws.recv())
        if not isinstance(metadata, dict):
            raise ConnectionError(f"{self.url} did not start with an openpi metadata frame")
        self.metadata = metadata

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        """Send one observation, return the server's reply (``actions``, timings)."""
        from websockets.exceptions import ConnectionClosed

        data = msgpack_numpy.packb(observation)
        try:
            self._ws.send(data)
            reply = self._ws.recv()
        except ConnectionClosed as err:
            # A restarted server, a dropped link, or the close after an earlier error reply (openpi's server ends a
            # connection on every error): this request is new, so it gets one fresh connection.
            logger.warning("The connection to %s is closed (%s); reconnecting once", self.url, err)
            self._connect()
            self._ws.send(data)
            reply = self._ws.recv()
        if isinstance(reply, str):
            raise ServerError(f"the policy server at {self.url} answered with an error:\n{reply}")
        return msgpack_numpy.unpackb(reply)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
