"""``lerobot-recap-yam-server``: owns one YAM arm (CAN or simulated) and serves it over ZMQ on loopback by default.

Run one server per arm, next to its CAN adapter (one process per CAN interface), then point the robot at it:

    lerobot-recap-yam-server --backend=can --channel=can_follower_l --port=6001
    lerobot-recap-yam-server --backend=can --channel=can_follower_r --port=6011
    lerobot-record --robot.type=yam_bimanual --robot.backend=zmq --robot.left_arm.port=6001 ...

The protocol is described in ``lerobot_recap.robots.yam_bimanual.zmq_arm``: msgpack or JSON, never pickle;
malformed messages are counted, logged and dropped. The server's own watchdog holds the arm when commands stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

import draccus
import numpy as np

from lerobot_recap.robots.yam_bimanual.arm import ArmBackend, ArmFaultError, SimArm
from lerobot_recap.robots.yam_bimanual.zmq_arm import PROTOCOL_VERSION, ProtocolError, decode, encode

logger = logging.getLogger("lerobot_recap.yam_server")


@dataclass
class YamServerConfig:
    """One arm served over ZMQ."""

    backend: str = "sim"
    """`can` (a real arm on `channel`) or `sim` (a simulated arm, for tests and demos)."""
    channel: str = "can0"
    """CAN interface of the arm (`can` backend)."""
    can_interface: str = "socketcan"
    """python-can interface type (`virtual` for protocol tests)."""
    host: str = "127.0.0.1"
    """Address to bind. Loopback by default; bind `0.0.0.0` only on a trusted robot network."""
    port: int = 6001
    """Commands arrive on this port; state is published on `port + 1`."""
    encoding: str = "msgpack"
    """`msgpack` or `json` (never pickle)."""
    rate_hz: float = 100.0
    """State publishing rate."""
    watchdog_s: float = 0.25
    """Hold the arm if no command arrives for this long (at most 0.4 s)."""
    max_joint_velocity: float = 3.0
    """Setpoint speed limit of joints 1..6, rad/s."""
    max_gripper_velocity: float = 13.0
    """Setpoint speed limit of the gripper motor, rad/s (motor space)."""
    kp: tuple[float, ...] = (80.0, 80.0, 80.0, 10.0, 10.0, 10.0, 20.0)
    """MIT position gains (`can` backend)."""
    kd: tuple[float, ...] = (5.0, 5.0, 5.0, 1.5, 1.5, 1.5, 0.5)
    """MIT velocity gains (`can` backend)."""
    control_hz: float = 250.0
    """CAN servo loop rate (`can` backend)."""

    def validate(self) -> None:
        # Not __post_init__: draccus would hide these messages behind "Couldn't instantiate class".
        if self.backend not in ("sim", "can"):
            raise ValueError(f"--backend={self.backend!r}: use `can` or `sim`.")
        if self.encoding not in ("msgpack", "json"):
            raise ValueError(f"--encoding={self.encoding!r}: use `msgpack` or `json`.")
        if not 0 < self.watchdog_s <= 0.4:
            raise ValueError(f"--watchdog_s={self.watchdog_s} must be in (0, 0.4].")


def make_backend(cfg: YamServerConfig) -> ArmBackend:
    velocity = np.append(np.full(6, cfg.max_joint_velocity), cfg.max_gripper_velocity)
    if cfg.backend == "sim":
        home = np.array([0.0, 0.6, 0.6, 0.0, 0.0, 0.0, 3.285])
        return SimArm(f"sim arm :{cfg.port}", home, velocity, cfg.watchdog_s)
    from lerobot_recap.robots.yam_bimanual.can_arm import CanArm

    return CanArm(f"arm on {cfg.channel}", cfg.channel, cfg.can_interface, 1_000_000, np.array(cfg.kp),
                  np.array(cfg.kd), velocity, cfg.watchdog_s, cfg.control_hz)


class YamArmServer:
    """Binds the sockets, applies commands to the backend and publishes its state at ``rate_hz``."""

    def __init__(self, cfg: YamServerConfig, backend: ArmBackend | None = None):
        cfg.validate()
        self.cfg = cfg
        self.backend = backend if backend is not None else make_backend(cfg)
        self.rejected = 0
        self.commands = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def serve(self) -> None:
        import zmq

        context = zmq.Context()
        pull = context.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        pull.bind(f"tcp://{self.cfg.host}:{self.cfg.port}")
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, 1)
        pub.bind(f"tcp://{self.cfg.host}:{self.cfg.port + 1}")
        self.backend.connect()
        logger.info("Serving %s on %s:%d (%s).", self.backend.name, self.cfg.host, self.cfg.port, self.cfg.encoding)
        period = 1.0 / self.cfg.rate_hz
        seq = 0
        try:
            while not self._stop.is_set():
                if pull.poll(int(period * 1000)):
                    self._drain(pull)
                seq += 1
                pub.send(encode(self._state_message(seq), self.cfg.encoding))
        finally:
            self.backend.disconnect()
            pull.close(linger=0)
            pub.close(linger=0)
            context.term()

    def _drain(self, pull) -> None:
        import zmq

        latest_command = None
        while True:
            try:
                payload = pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                message = decode(payload, self.cfg.encoding)
            except ProtocolError as e:
                self.rejected += 1
                logger.warning("Rejected a malformed message (%d so far): %s", self.rejected, e)
                continue
            if message["type"] == "command":
                latest_command = message["position"]  # only the newest target matters
            elif message["type"] == "hold":
                self.backend.hold()
            elif message["type"] == "passive":
                self.backend.set_passive(message["on"])
        if latest_command is not None:
            self.commands += 1
            try:
                self.backend.command(np.array(latest_command))
            except ArmFaultError:
                pass  # reported to the client in the state message

    def _state_message(self, seq: int) -> dict:
        message = {"v": PROTOCOL_VERSION, "type": "state", "seq": seq, "watchdog": self.backend.watchdog_tripped,
                   "fault": None}
        try:
            state = self.backend.read()
        except ArmFaultError as e:
            message["fault"] = str(e)
            zeros = [0.0] * 7
            message.update(position=zeros, velocity=zeros, effort=zeros)
            return message
        message.update(position=state.position.tolist(), velocity=state.velocity.tolist(),
                       effort=state.effort.tolist())
        return message


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = draccus.parse(config_class=YamServerConfig)
    cfg.validate()
    server = YamArmServer(cfg)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    time.sleep(0)


if __name__ == "__main__":
    main()
