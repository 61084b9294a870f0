"""Config of ``recap_remote``: where the policy server is, and how many of each chunk's actions to run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lerobot.configs.policies import PreTrainedConfig

from lerobot_recap.serving.observation_mapping import ADVANTAGES
from lerobot_recap.utils.config_errors import ConfigError

API_KEY_ENV = "LEROBOT_RECAP_API_KEY"
"""Where both sides read the API key from when it is not given as a flag (keeps it off command lines and disks)."""


@PreTrainedConfig.register_subclass("recap_remote")
@dataclass
class RecapRemoteConfig(PreTrainedConfig):
    """A policy that runs on another machine behind lerobot-recap-serve (openpi's websocket protocol).

    Use it wherever LeRobot takes a policy: ``lerobot-rollout --policy.type=recap_remote
    --policy.server=ws://gpu-box:8111``, or, for stage 0 with ``recap_dagger`` (which takes a folder), the folder
    written by ``lerobot-recap-remote-policy`` as ``--teleop.policy_path``. The features (cameras, state and action
    sizes) come from the robot and are checked against the server's at connect.
    """

    server: str = "ws://127.0.0.1:8111"
    """The policy server, ws://host:port (or host:port); wss:// through a TLS proxy."""
    api_key: str | None = None
    """The server's API key (default  the LEROBOT_RECAP_API_KEY variable); never written to config.json."""
    n_action_steps: int | None = None
    """Actions run from each chunk before asking again (default  the served checkpoint's n_action_steps)."""
    advantage: str | None = None
    """Advantage clause sent with every request - positive, none or negative (default  the server's)."""
    cfg_beta: float | None = None
    """Classifier-free guidance weight sent with every request (default  the server's; 1 = no guidance)."""
    connect_timeout_s: float = 30.0
    """How long to keep retrying a refused connection (the server may still be loading its model)."""
    action_feature_names: list[str] | None = None
    """Names of the action dims in order (filled from the robot by LeRobot, else from the server)."""
    device: str | None = "cpu"
    """Torch device of the (tiny) tensors on this side; the model runs on the server."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_action_steps is not None and self.n_action_steps < 1:
            raise ConfigError(f"--policy.n_action_steps={self.n_action_steps} must be >= 1")
        if self.advantage is not None and self.advantage not in ADVANTAGES:
            raise ConfigError(f"--policy.advantage={self.advantage!r} is not one of {ADVANTAGES}")
        if self.cfg_beta is not None and not self.cfg_beta >= 0:
            raise ConfigError(f"--policy.cfg_beta={self.cfg_beta} must be >= 0 (1 = no guidance)")
        if not self.server.strip():
            raise ConfigError("--policy.server is empty: give ws://<host>:<port> of lerobot-recap-serve")

    @property
    def resolved_api_key(self) -> str | None:
        return self.api_key or os.environ.get(API_KEY_ENV) or None

    def _save_pretrained(self, save_directory: Path) -> None:
        # A key in a checkpoint folder ends up copied and pushed: keep it in the environment instead.
        key, self.api_key = self.api_key, None
        try:
            super()._save_pretrained(save_directory)
        finally:
            self.api_key = key

    # -- what LeRobot asks of every policy config (a remote policy is never trained) ---------------------------------
    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> None:
        return None

    @property
    def reward_delta_indices(self) -> None:
        return None

    def get_optimizer_preset(self):
        raise ValueError("recap_remote runs a policy served elsewhere and cannot be trained: train that checkpoint")

    def get_scheduler_preset(self) -> None:
        return None

    def validate_features(self) -> None:
        pass  # checked against the server's features when the policy connects
