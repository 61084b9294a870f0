"""LeRobot's async-inference policy server, subclassed so that it serves ``pi06_recap``.

The stock ``lerobot.async_inference.policy_server`` refuses any policy type missing from its hard-coded
``SUPPORTED_POLICIES`` and never runs plugin discovery. :class:`RecapPolicyServer` handles the policy types of this
project itself (loading them as the stock server loads its own: ``from_pretrained``, then the checkpoint's
processors with the client's device and rename map) and hands every other type to the stock method, so LeRobot's
module state is never touched. The stock ``robot_client`` talks to it unchanged::

    lerobot-recap-async-server --host=127.0.0.1 --port=8080 --fps=30
    python -m lerobot.async_inference.robot_client --server_address=127.0.0.1:8080 --policy_type=pi06_recap \\
        --pretrained_name_or_path=<checkpoint> --policy_device=cuda --actions_per_chunk=50 --robot.type=... --task=...

The protocol is LeRobot's (gRPC with pickled payloads, no authentication): keep it on loopback or a trusted network.
gRPC loads with this module.
"""

from __future__ import annotations

import logging
import pickle  # nosec  (LeRobot's async-inference protocol is pickle; see the module docstring)
import time
from dataclasses import dataclass
from typing import Any

from lerobot.async_inference.configs import PolicyServerConfig
from lerobot.async_inference.constants import SUPPORTED_POLICIES
from lerobot.async_inference.helpers import RemotePolicyConfig
from lerobot.async_inference.policy_server import PolicyServer
from lerobot.transport import services_pb2  # type: ignore

from lerobot_recap.serving.observation_mapping import ADVANTAGES
from lerobot_recap.utils.config_errors import ConfigError

logger = logging.getLogger(__name__)

RECAP_POLICY_TYPES = ("pi06_recap",)
"""Served by :class:`RecapPolicyServer` itself; every other type goes to the stock server's method and list."""


@dataclass
class RecapPolicyServerConfig(PolicyServerConfig):
    """LeRobot's PolicyServerConfig (--host, --port, --fps, --inference_latency, --obs_queue_timeout) plus RECAP's clause."""

    inference_advantage: str | None = None
    """Advantage clause for pi06_recap - positive, none or negative (default  the checkpoint's)."""
    cfg_beta: float | None = None
    """Classifier-free guidance weight for pi06_recap (default  the checkpoint's; 1 = no guidance)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inference_advantage is not None and self.inference_advantage not in ADVANTAGES:
            raise ConfigError(f"--inference_advantage={self.inference_advantage!r} is not one of {ADVANTAGES}")
        if self.cfg_beta is not None and not self.cfg_beta >= 0:
            raise ConfigError(f"--cfg_beta={self.cfg_beta} must be >= 0 (1 = no guidance)")


class RecapPolicyServer(PolicyServer):
    """The stock PolicyServer; policy instructions for ``pi06_recap`` are handled here."""

    def SendPolicyInstructions(self, request: Any, context: Any) -> Any:
        if not self.running:
            return super().SendPolicyInstructions(request, context)
        specs = pickle.loads(request.data)  # nosec  (the stock server unpickles the same bytes)
        if not isinstance(specs, RemotePolicyConfig) or specs.policy_type not in RECAP_POLICY_TYPES:
            return super().SendPolicyInstructions(request, context)
        self._load_recap_policy(specs, context.peer())
        return services_pb2.Empty()

    def _load_recap_policy(self, specs: RemotePolicyConfig, client_id: str) -> None:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies import get_policy_class, make_pre_post_processors

        self.logger.info(
            f"Receiving policy instructions from {client_id} | Policy type: {specs.policy_type} | Pretrained name "
            f"or path: {specs.pretrained_name_or_path} | Actions per chunk: {specs.actions_per_chunk} | "
            f"Device: {specs.device}"
        )
        start = time.perf_counter()
        # The same attributes the stock method sets, so the stock observation and action paths run unchanged.
        self.device = specs.device
        self.policy_type = specs.policy_type
        self.lerobot_features = specs.lerobot_features
        self.actions_per_chunk = specs.actions_per_chunk
        config = PreTrainedConfig.from_pretrained(specs.pretrained_name_or_path)
        config.device = specs.device
        if self.config.inference_advantage is not None:
            config.inference_advantage = self.config.inference_advantage
        if self.config.cfg_beta is not None:
            config.cfg_beta = self.config.cfg_beta
        self.policy = get_policy_class(specs.policy_type).from_pretrained(specs.pretrained_name_or_path, config=config)
        self.policy.to(self.device)
        self.policy.eval()
        device_override = {"device": self.device}
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            self.policy.config,
            pretrained_path=specs.pretrained_name_or_path,
            preprocessor_overrides={
                "device_processor": device_override,
                "rename_observations_processor": {"rename_map": specs.rename_map},
            },
            postprocessor_overrides={"device_processor": device_override},
        )
        self.logger.info(
            f"Loaded {specs.policy_type} on {self.device} in {time.perf_counter() - start:.2f} s (clause "
            f"{getattr(config, 'inference_advantage', None)}, cfg_beta {getattr(config, 'cfg_beta', None)})"
        )


def serve_async(cfg: RecapPolicyServerConfig) -> None:
    """Start the gRPC server (as ``lerobot.async_inference.policy_server.serve`` does) until it terminates."""
    from concurrent import futures

    import grpc
    from lerobot.transport import services_pb2_grpc  # type: ignore

    policy_server = RecapPolicyServer(cfg)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services_pb2_grpc.add_AsyncInferenceServicer_to_server(policy_server, server)
    if server.add_insecure_port(f"{cfg.host}:{cfg.port}") == 0:
        raise OSError(f"cannot listen on {cfg.host}:{cfg.port} (in use, or not an address of this machine)")
    logger.info(
        "Async-inference policy server on %s:%d: %s and LeRobot's own %s", cfg.host, cfg.port,
        list(RECAP_POLICY_TYPES), SUPPORTED_POLICIES,
    )  # fmt: skip
    server.start()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        policy_server.stop()
        server.stop(grace=1)
