"""``recap_remote``: LeRobot's policy interface in front of a policy server that speaks openpi's websocket protocol.

``select_action`` asks the server for a chunk whenever its queue is empty and runs ``n_action_steps`` of it, as
LeRobot's chunking policies do; ``predict_action_chunk`` returns the whole chunk. A request is what an openpi client
sends, ALOHA style: ``{"state": (n,) float32, "images": {<camera>: CHW uint8}, "prompt": <task>}`` plus the
configured ``advantage`` / ``cfg_beta``. The images arrive here as LeRobot's [0, 1] floats made from the robot's
uint8 frames and go back to the same uint8 values, so the server sees the robot's observation exactly; it runs the
checkpoint's own pre/post-processors and returns unnormalized actions.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.pretrained import PreTrainedPolicy
from torch import Tensor

from lerobot_recap.serving.observation_mapping import IMAGE_PREFIX, OBS_STATE
from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
    RecapRemoteConfig,
)
from lerobot_recap.serving.websocket_client import ServerError, WebsocketPolicyClient

logger = logging.getLogger(__name__)

ACTION = "action"


class RecapRemotePolicy(PreTrainedPolicy):
    """A policy whose chunks come from ``lerobot-recap-serve`` (or any openpi-protocol server)."""

    config_class = RecapRemoteConfig
    name = "recap_remote"

    def __init__(self, config: RecapRemoteConfig, **kwargs: Any) -> None:
        super().__init__(config)
        self.config = config
        self.client = WebsocketPolicyClient(config.server, config.resolved_api_key, config.connect_timeout_s)
        self.server_metadata = self.client.metadata
        self._check_and_fill_features(self.server_metadata)
        served_steps = self.server_metadata.get("n_action_steps") or self.server_metadata.get("chunk_size") or 1
        self.n_action_steps = int(config.n_action_steps or served_steps)
        self._queue: deque[Tensor] = deque()
        self.requests = 0
        logger.info(
            "recap_remote: %s serves %s (chunk %s, running %d of each)",
            self.client.url, self.server_metadata.get("policy_type", "?"), self.server_metadata.get("chunk_size"),
            self.n_action_steps,
        )  # fmt: skip

    # -- checkpoints: nothing but the config ---------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | Path | None = None, *, config=None, **kwargs: Any):
        """The config (from the folder unless given) and a connection; there are no weights on this side."""
        from lerobot.configs.policies import PreTrainedConfig

        if config is None:
            if pretrained_name_or_path is None:
                raise ValueError("recap_remote needs --policy.server=ws://<host>:<port> or a folder with its config.json")
            config = PreTrainedConfig.from_pretrained(pretrained_name_or_path)
        for unused in ("dataset_stats", "dataset_meta", "revision", "strict"):
            kwargs.pop(unused, None)
        policy = cls(config, **kwargs)
        policy.eval()
        return policy

    def _save_pretrained(self, save_directory: Path) -> None:
        self.config._save_pretrained(Path(save_directory))

    # -- LeRobot's policy interface ------------------------------------------------------------------------------
    def get_optim_params(self) -> dict:
        raise ValueError("recap_remote runs a policy served elsewhere and cannot be trained")

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict | None]:
        raise ValueError("recap_remote runs a policy served elsewhere and cannot be trained")

    def reset(self) -> None:
        self._queue.clear()

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        """The server's chunk for this observation, (1, chunk_size, action_dim)."""
        reply = self.client.infer(self.request(batch))
        self.requests += 1
        actions = np.asarray(reply.get("actions"))
        action_dim = self.config.output_features[ACTION].shape[0]
        if actions.ndim != 2 or actions.shape[1] != action_dim:
            raise ServerError(f"the server sent actions of shape {actions.shape}, expected (chunk, {action_dim})")
        return torch.from_numpy(actions.astype(np.float32)).unsqueeze(0).to(self.config.device)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        if not self._queue:
            chunk = self.predict_action_chunk(batch)[0]
            self._queue.extend(chunk[: self.n_action_steps])
        return self._queue.popleft().unsqueeze(0)

    # -- the request ---------------------------------------------------------------------------------------------
    def request(self, batch: dict[str, Any]) -> dict[str, Any]:
        """An openpi (ALOHA-style) observation from LeRobot's batch of one."""
        request: dict[str, Any] = {}
        if OBS_STATE in batch:
            request["state"] = _first(batch[OBS_STATE]).float().cpu().numpy()
        images = {}
        for key, value in batch.items():
            if key.startswith(IMAGE_PREFIX) and isinstance(value, Tensor):
                image = _first(value)
                # LeRobot made [0, 1] floats of the robot's uint8 frames: rounding gives the same bytes back.
                if image.is_floating_point():
                    image = (image * 255).round().clamp(0, 255).to(torch.uint8)
                images[key[len(IMAGE_PREFIX) :]] = image.cpu().numpy()
        request["images"] = images
        task = batch.get("task")
        if isinstance(task, (list, tuple)):
            task = task[0] if task else None
        if task:
            request["prompt"] = str(task)
        if self.config.advantage is not None:
            request["advantage"] = self.config.advantage
        if self.config.cfg_beta is not None:
            request["cfg_beta"] = float(self.config.cfg_beta)
        return request

    def _check_and_fill_features(self, meta: dict[str, Any]) -> None:
        """Check the robot's layout against the served policy's, or take the server's when LeRobot gave none."""
        action_dim = meta.get("action_dim")
        state_dim = meta.get("state_dim")
        cameras = list(meta.get("cameras") or [])
        known_names = set(cameras) | set((meta.get("camera_aliases") or {}).keys())
        problems = []
        action = (self.config.output_features or {}).get(ACTION)
        if action is None and action_dim:
            self.config.output_features = {ACTION: PolicyFeature(type=FeatureType.ACTION, shape=(int(action_dim),))}
        elif action is not None and action_dim and tuple(action.shape) != (int(action_dim),):
            problems.append(f"it outputs {action_dim} action values, the robot takes {action.shape[0]}")
        if not self.config.input_features:
            features = {}
            if state_dim:
                features[OBS_STATE] = PolicyFeature(type=FeatureType.STATE, shape=(int(state_dim),))
            for name, shape in (meta.get("image_shapes") or {}).items():
                features[IMAGE_PREFIX + name] = PolicyFeature(type=FeatureType.VISUAL, shape=tuple(shape))
            self.config.input_features = features
        else:
            state = self.config.input_features.get(OBS_STATE)
            if state is not None and state_dim and tuple(state.shape) != (int(state_dim),):
                problems.append(f"it reads a state of {state_dim} values, the robot gives {state.shape[0]}")
            robot_cameras = [k[len(IMAGE_PREFIX) :] for k in self.config.input_features if k.startswith(IMAGE_PREFIX)]
            if cameras and robot_cameras and not known_names & set(robot_cameras):
                problems.append(f"it reads the cameras {cameras}, the robot has {robot_cameras}")
        if problems:
            raise ValueError(
                f"the policy served at {self.client.url} ({meta.get('policy_type', '?')}) does not fit this robot: "
                f"{'; '.join(problems)}"
            )
        if not self.config.action_feature_names and meta.get("action_names"):
            self.config.action_feature_names = list(meta["action_names"])


def _first(value: Tensor) -> Tensor:
    """The single observation of a batch of one (and of the latest step when there is a time axis)."""
    return value[0] if value.dim() > 1 else value


def write_remote_policy_folder(config: RecapRemoteConfig, output_dir: Path) -> Path:
    """A folder that LeRobot loads like a checkpoint (config.json and processors, no weights, no API key).

    ``recap_dagger``'s ``--teleop.policy_path`` and ``lerobot-rollout --policy.path`` take it.
    """
    from lerobot_recap.serving.recap_remote.processor_recap_remote import (
        make_recap_remote_pre_post_processors,
    )

    output_dir = Path(output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    config._save_pretrained(output_dir)
    preprocessor, postprocessor = make_recap_remote_pre_post_processors(config)
    preprocessor.save_pretrained(output_dir)
    postprocessor.save_pretrained(output_dir)
    return output_dir
