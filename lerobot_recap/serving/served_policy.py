"""A policy checkpoint answering one observation at a time with a whole action chunk: what a policy server runs.

The path is LeRobot's own for a robot (``lerobot-record`` / ``lerobot-rollout``): the dataset-layout frame goes
through ``prepare_observation_for_inference`` (tensors, images to [0, 1] CHW, batch of one, task), the checkpoint's
pre-processor, ``predict_action_chunk`` and the post-processor over the whole chunk (as LeRobot's RTC engine does),
so a served chunk equals the in-process one on the same observation and noise. For ``pi06_recap`` the advantage
clause and the guidance weight come from the checkpoint's config (``--policy.inference_advantage``,
``--policy.cfg_beta``) and can be changed per request. Torch and the policy code load here, lazily.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.serving.observation_mapping import (
    ADVANTAGES,
    MappedObservation,
    ObservationError,
    ObservationMapping,
    ObservationMappingConfig,
)

if TYPE_CHECKING:
    from lerobot.configs.policies import PreTrainedConfig

logger = logging.getLogger(__name__)

RECAP_POLICY_TYPES = ("pi06_recap",)
"""Policy types that take an advantage clause and a guidance weight."""


def load_policy(policy_config: PreTrainedConfig) -> tuple[Any, Any, Any]:
    """A checkpoint's policy (eval mode, on ``policy_config.device``) and its saved pre/post-processors."""
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    path = policy_config.pretrained_path
    if path is None or not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(
            f"--policy.path={path} is not a policy checkpoint directory (no config.json): give the pretrained_model "
            "folder of a lerobot-train checkpoint"
        )
    policy = get_policy_class(policy_config.type).from_pretrained(str(path), config=policy_config)
    policy.to(policy_config.device)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(
        policy_config,
        pretrained_path=str(path),
        preprocessor_overrides={"device_processor": {"device": policy_config.device}},
        postprocessor_overrides={"device_processor": {"device": "cpu"}},
    )
    return policy, preprocessor, postprocessor


class ServedPolicy:
    """One loaded policy behind a lock: ``infer`` maps an openpi-style observation and returns the action chunk."""

    def __init__(self, policy: Any, preprocessor: Any, postprocessor: Any, mapping: ObservationMapping) -> None:
        import torch
        from lerobot.utils.device_utils import get_safe_torch_device

        self.policy = policy
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.mapping = mapping
        self.config = policy.config
        self.device = get_safe_torch_device(self.config.device)
        self.is_recap = self.config.type in RECAP_POLICY_TYPES
        # One inference at a time: a GPU runs them one after the other anyway, and a per-request clause changes the
        # policy's config for the duration of its call.
        self._lock = threading.Lock()
        self._torch = torch

    @classmethod
    def from_config(
        cls, policy_config: PreTrainedConfig, mapping: ObservationMappingConfig | None = None
    ) -> ServedPolicy:
        policy, preprocessor, postprocessor = load_policy(policy_config)
        mapping = ObservationMapping.for_policy(policy.config.input_features or {}, mapping or ObservationMappingConfig())
        logger.info(
            "Loaded %s from %s on %s (cameras %s, state %s)",
            policy_config.type, policy_config.pretrained_path, policy_config.device, mapping.cameras, mapping.state_dim,
        )  # fmt: skip
        return cls(policy, preprocessor, postprocessor, mapping)

    # -- what clients are told -----------------------------------------------------------------------------------
    @property
    def chunk_size(self) -> int:
        return int(getattr(self.config, "chunk_size", None) or getattr(self.config, "n_action_steps", 1))

    @property
    def action_dim(self) -> int:
        return int(self.config.output_features["action"].shape[0])

    @property
    def noise_shape(self) -> tuple[int, int] | None:
        """The shape of the flow-matching noise a request may carry (pi0-family policies), else None."""
        max_action_dim = getattr(self.config, "max_action_dim", None)
        return (self.chunk_size, int(max_action_dim)) if max_action_dim else None

    def metadata(self) -> dict[str, Any]:
        """The metadata frame: openpi clients keep it as ``get_server_metadata()``; ``recap_remote`` reads it."""
        import lerobot_recap

        features = self.config.input_features or {}
        meta: dict[str, Any] = {
            "server": "lerobot-recap",
            "version": lerobot_recap.__version__,
            "policy_type": self.config.type,
            "chunk_size": self.chunk_size,
            "n_action_steps": int(getattr(self.config, "n_action_steps", None) or self.chunk_size),
            "action_dim": self.action_dim,
            "action_names": list(getattr(self.config, "action_feature_names", None) or []),
            "image_shapes": {
                key[len("observation.images.") :]: list(f.shape)
                for key, f in features.items()
                if key.startswith("observation.images.")
            },
            **self.mapping.describe(),
            "default_prompt": self.mapping.default_prompt,
        }
        if self.noise_shape is not None:
            meta["noise_shape"] = list(self.noise_shape)
        if self.is_recap:
            meta["advantage"] = self.config.inference_advantage
            meta["cfg_beta"] = float(self.config.cfg_beta)
        return meta

    # -- inference -----------------------------------------------------------------------------------------------
    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        """openpi's ``policy.infer``: ``{"actions": (chunk_size, action_dim) float32, "policy_timing": {...}}``."""
        mapped = self.mapping(observation)
        start = time.monotonic()
        actions = self.predict_chunk(mapped)
        return {"actions": actions, "policy_timing": {"infer_ms": (time.monotonic() - start) * 1000}}

    def predict_chunk(self, mapped: MappedObservation) -> np.ndarray:
        """The post-processed chunk (chunk_size, action_dim) for one mapped observation."""
        from lerobot.policies.utils import prepare_observation_for_inference

        torch = self._torch
        noise = self._noise(mapped.noise)
        amp = self.device.type == "cuda" and bool(getattr(self.config, "use_amp", False))
        autocast = torch.autocast(device_type=self.device.type) if amp else nullcontext()
        with self._lock, self._conditioning(mapped.advantage, mapped.cfg_beta), torch.inference_mode(), autocast:
            batch = prepare_observation_for_inference(dict(mapped.frame), self.device, mapped.task, "")
            batch = self.preprocessor(batch)
            chunk = self.policy.predict_action_chunk(batch, **({"noise": noise} if noise is not None else {}))
            chunk = self.postprocessor(chunk)
        return chunk[0].detach().float().cpu().numpy()

    def _noise(self, noise: np.ndarray | None) -> Any:
        if noise is None:
            return None
        expected = self.noise_shape
        if expected is None:
            raise ObservationError(f"a {self.config.type} policy takes no 'noise'")
        array = np.asarray(noise, dtype=np.float32)
        if array.shape not in (expected, (1, *expected)):
            raise ObservationError(f"'noise' must have the shape {list(expected)}, got {list(array.shape)}")
        return self._torch.from_numpy(array.reshape(1, *expected).copy()).to(self.device)

    @contextmanager
    def _conditioning(self, advantage: str | None, cfg_beta: float | None) -> Iterator[None]:
        """The request's clause and guidance weight on the policy's config for one call (the lock is held)."""
        if advantage is None and cfg_beta is None:
            yield
            return
        if not self.is_recap:
            raise ObservationError(f"'advantage' and 'cfg_beta' apply to {list(RECAP_POLICY_TYPES)}, not {self.config.type}")
        saved = (self.config.inference_advantage, self.config.cfg_beta)
        advantage = saved[0] if advantage is None else advantage
        cfg_beta = saved[1] if cfg_beta is None else cfg_beta
        if advantage not in ADVANTAGES:
            raise ObservationError(f"'advantage' must be one of {list(ADVANTAGES)}, got {advantage!r}")
        if cfg_beta != 1.0 and advantage == "none":
            raise ObservationError("guidance (cfg_beta != 1) needs a clause: send advantage positive or negative")
        self.config.inference_advantage, self.config.cfg_beta = advantage, cfg_beta
        try:
            yield
        finally:
            self.config.inference_advantage, self.config.cfg_beta = saved
