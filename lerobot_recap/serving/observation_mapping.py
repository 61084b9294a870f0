"""From an openpi-style observation (what openpi and limb clients send) to the LeRobot frame a policy reads.

openpi clients send one msgpack dict per step; there is no single layout. This module accepts the ones in use:

* ALOHA style (openpi's ``aloha_policy``): ``{"state": (14,), "images": {"cam_high": CHW uint8, "cam_left_wrist":
  ..., "cam_right_wrist": ..., "cam_low": ...}, "prompt": str}``;
* limb's YAM client (``OpenPIObsTransform``): a flat dict ``{"state": (14,), "left_wrist_camera-images-rgb": CHW
  uint8, "right_wrist_camera-images-rgb": ...}``, no ``images`` dict and no prompt;
* LeRobot's own keys: ``{"observation.state": ..., "observation.images.top": ..., "task": str}`` (what this
  project's ``recap_remote`` policy sends, through the ``images`` dict).

The rules, in order:

1. **State**: the first of ``observation.state``, ``state``, ``observation/state``. It must have the policy's state
   size (float, any shape that flattens to it).
2. **Cameras**: every entry of the ``images`` dict, every top-level key that starts with ``observation.images.``
   or ``observation/images/``, and every other top-level 3-D array. The name is reduced (the prefix and a trailing
   ``-images-rgb`` go) and then looked up: a camera of the policy by that name is taken as it is; otherwise the
   aliases of the preset (and ``--observation.cameras``) name the policy camera. A camera the policy does not read
   is ignored (logged once); two inputs for one camera are an error. A camera the policy reads but the client does
   not send is left out, and LeRobot's pi0.5 fills it in as an empty, masked-out view.
3. **Images**: CHW (openpi's layout) or HWC, ``uint8`` in [0, 255] or float in [0, 1] (openpi's convention for
   float images); any size (pi0.5 resizes with padding to its own resolution).
4. **Prompt**: ``prompt`` (openpi) or ``task`` (LeRobot); without one, ``--observation.default_prompt``.
5. **Per-request controls** (all optional): ``advantage`` (or pistar's ``adv_ind``) = ``positive`` / ``none`` /
   ``negative``, ``cfg_beta`` (float), ``noise`` (``(chunk_size, max_action_dim)`` float, the flow-matching noise,
   for reproducible answers).

Presets: ``yam_bimanual`` (the default) maps openpi's ALOHA names and limb's and pistar's YAM camera names to
``yam_bimanual``'s cameras ``top`` / ``left_wrist`` / ``right_wrist`` (``cam_high``, ``head_camera`` -> ``top``;
``cam_left_wrist``, ``left_wrist_camera`` -> ``left_wrist``; ``cam_right_wrist``, ``right_wrist_camera`` ->
``right_wrist``); ``limb_yam`` is the same table under the name of limb's client; ``none`` has no aliases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lerobot_recap.utils.config_errors import ConfigError

logger = logging.getLogger(__name__)

OBS_STATE = "observation.state"
IMAGE_PREFIX = "observation.images."
STATE_KEYS = (OBS_STATE, "state", "observation/state")
"""Where the state may be, first match wins."""
PROMPT_KEYS = ("prompt", "task")
IMAGES_KEY = "images"
IMAGE_NAME_PREFIXES = (IMAGE_PREFIX, "observation/images/", "images/")
IMAGE_NAME_SUFFIXES = ("-images-rgb", "/images/rgb")
"""limb's flat keys are ``<camera>-images-rgb``."""
ADVANTAGE_KEYS = ("advantage", "adv_ind")
"""The per-request clause; ``adv_ind`` is the key pistar's clients send."""
CFG_BETA_KEY = "cfg_beta"
NOISE_KEY = "noise"
ADVANTAGES = ("positive", "none", "negative")

_YAM_ALIASES = {
    "cam_high": "top",
    "head_camera": "top",
    "head": "top",
    "top_camera": "top",
    "cam_left_wrist": "left_wrist",
    "left_wrist_camera": "left_wrist",
    "cam_right_wrist": "right_wrist",
    "right_wrist_camera": "right_wrist",
}
PRESETS: dict[str, dict[str, str]] = {"yam_bimanual": _YAM_ALIASES, "limb_yam": _YAM_ALIASES, "none": {}}
"""Camera aliases by preset: the client's camera name -> the policy's camera name."""


class ObservationError(ValueError):
    """An observation the policy cannot be run on (sent back to the client as the error frame)."""


@dataclass
class ObservationMappingConfig:
    """How openpi-style observations map onto the policy's LeRobot features (--observation.*)."""

    preset: str = "yam_bimanual"
    """Camera aliases - yam_bimanual (openpi ALOHA and limb/pistar YAM names to top/left_wrist/right_wrist), limb_yam (the same), none."""
    cameras: dict[str, str] = field(default_factory=dict)
    """More aliases, the client's camera name to the policy's, e.g. {cam_low: front}; they win over the preset's."""
    default_prompt: str = ""
    """Task prompt for observations that carry none (limb's YAM client sends no prompt)."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"--observation.preset={self.preset!r} is not one of {sorted(PRESETS)}")

    @property
    def aliases(self) -> dict[str, str]:
        return {**PRESETS[self.preset], **self.cameras}


@dataclass
class MappedObservation:
    """One observation in the layout of a LeRobot dataset frame, with its prompt and the request's controls."""

    frame: dict[str, np.ndarray]
    """``observation.state`` (float32) and ``observation.images.<camera>`` (HWC, uint8 or float32 in [0, 1])."""
    task: str
    advantage: str | None = None
    cfg_beta: float | None = None
    noise: np.ndarray | None = None


class ObservationMapping:
    """Maps openpi-style observations onto one policy's inputs (see the module's docstring for the rules)."""

    def __init__(
        self,
        cameras: list[str],
        state_dim: int | None,
        aliases: dict[str, str] | None = None,
        default_prompt: str = "",
    ) -> None:
        self.cameras = list(cameras)
        self.state_dim = state_dim
        # Aliases to cameras the policy does not have would only hide a typo: keep the ones that can apply.
        self.aliases = {k: v for k, v in (aliases or {}).items() if v in self.cameras}
        self.default_prompt = default_prompt
        self._ignored_logged: set[str] = set()

    @classmethod
    def for_policy(cls, input_features: dict[str, Any], config: ObservationMappingConfig) -> ObservationMapping:
        """The mapping onto a policy's ``input_features`` (``PolicyFeature`` values, as in its config.json)."""
        cameras = [key[len(IMAGE_PREFIX) :] for key in input_features if key.startswith(IMAGE_PREFIX)]
        state = input_features.get(OBS_STATE)
        unknown = sorted(v for v in config.cameras.values() if v not in cameras)
        if unknown:
            raise ConfigError(f"--observation.cameras maps onto {unknown}, which the policy does not read ({cameras})")
        return cls(
            cameras,
            int(np.prod(state.shape)) if state is not None else None,
            config.aliases,
            config.default_prompt,
        )

    def describe(self) -> dict[str, Any]:
        """What a client needs to know, for the server's metadata frame."""
        return {"cameras": self.cameras, "state_dim": self.state_dim, "camera_aliases": dict(self.aliases)}

    # -- the mapping ---------------------------------------------------------------------------------------------
    def __call__(self, observation: Any) -> MappedObservation:
        if not isinstance(observation, dict):
            raise ObservationError(f"an observation is a msgpack map, got {type(observation).__name__}")
        frame: dict[str, np.ndarray] = {}
        if self.state_dim is not None:
            frame[OBS_STATE] = self._state(observation)
        sources: dict[str, str] = {}
        for source, name, value in self._image_candidates(observation):
            camera = self._camera(name)
            if camera is None:
                if source not in self._ignored_logged:
                    self._ignored_logged.add(source)
                    logger.info("ignoring the observation's %r: the policy reads the cameras %s", source, self.cameras)
                continue
            if camera in sources:
                raise ObservationError(f"{sources[camera]!r} and {source!r} both map onto the camera {camera!r}")
            sources[camera] = source
            frame[IMAGE_PREFIX + camera] = to_hwc(value, source)
        if self.cameras and not sources:
            raise ObservationError(
                f"no image of the observation maps onto the policy's cameras {self.cameras} (keys: "
                f"{sorted(map(str, observation))}); send them in 'images' under those names or set --observation.cameras"
            )
        return MappedObservation(frame=frame, task=self._prompt(observation), **controls(observation))

    def _state(self, observation: dict) -> np.ndarray:
        key = next((k for k in STATE_KEYS if k in observation), None)
        if key is None:
            raise ObservationError(f"the observation has no state (one of {list(STATE_KEYS)}); the policy reads {self.state_dim} values")
        state = np.asarray(observation[key])
        if state.dtype.kind not in "fiub" or state.size != self.state_dim:
            raise ObservationError(
                f"{key!r} must hold {self.state_dim} numbers (the policy's state), got {state.dtype} of shape {state.shape}"
            )
        return state.astype(np.float32).reshape(self.state_dim)

    def _image_candidates(self, observation: dict) -> list[tuple[str, str, Any]]:
        """(where it came from, camera name, value) of every image in the observation."""
        found = []
        images = observation.get(IMAGES_KEY)
        if images is not None:
            if not isinstance(images, dict):
                raise ObservationError(f"'images' must map camera names to arrays, got {type(images).__name__}")
            found += [(f"images.{name}", str(name), value) for name, value in images.items()]
        for key, value in observation.items():
            if key == IMAGES_KEY or key in STATE_KEYS or not isinstance(key, str):
                continue
            if key.startswith(IMAGE_NAME_PREFIXES) or (isinstance(value, np.ndarray) and value.ndim == 3):
                found.append((key, key, value))
        return found

    def _camera(self, name: str) -> str | None:
        for prefix in IMAGE_NAME_PREFIXES:
            name = name.removeprefix(prefix)
        for suffix in IMAGE_NAME_SUFFIXES:
            name = name.removesuffix(suffix)
        if name in self.cameras:
            return name
        return self.aliases.get(name)

    def _prompt(self, observation: dict) -> str:
        for key in PROMPT_KEYS:
            value = observation.get(key)
            if value is None:
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if isinstance(value, np.ndarray) and value.dtype.kind in "US":  # openpi sometimes wraps it in an array
                value = str(value.reshape(-1)[0]) if value.size else ""
            if not isinstance(value, str):
                raise ObservationError(f"{key!r} must be a string, got {type(value).__name__}")
            return value
        return self.default_prompt


def controls(observation: dict) -> dict[str, Any]:
    """The per-request controls of an observation: advantage clause, guidance weight, noise."""
    out: dict[str, Any] = {}
    key = next((k for k in ADVANTAGE_KEYS if observation.get(k) is not None), None)
    if key is not None:
        value = observation[key]
        value = value.decode() if isinstance(value, bytes) else value
        if value not in ADVANTAGES:
            raise ObservationError(f"{key!r} must be one of {list(ADVANTAGES)}, got {value!r}")
        out["advantage"] = value
    if observation.get(CFG_BETA_KEY) is not None:
        try:
            beta = float(observation[CFG_BETA_KEY])
        except (TypeError, ValueError) as err:
            raise ObservationError(f"'cfg_beta' must be a number, got {observation[CFG_BETA_KEY]!r}") from err
        if not beta >= 0:
            raise ObservationError(f"'cfg_beta' must be >= 0 (1 = no guidance), got {beta}")
        out["cfg_beta"] = beta
    if observation.get(NOISE_KEY) is not None:
        noise = observation[NOISE_KEY]
        if not isinstance(noise, np.ndarray) or noise.dtype.kind != "f":
            raise ObservationError("'noise' must be a float array of shape (chunk_size, max_action_dim)")
        out["noise"] = noise
    return out


def to_hwc(value: Any, source: str) -> np.ndarray:
    """An image as HWC: uint8 kept, float taken as [0, 1] (clipped) in float32. CHW is openpi's layout."""
    if not isinstance(value, np.ndarray):
        raise ObservationError(f"{source!r} must be an image array, got {type(value).__name__}")
    image = value[0] if value.ndim == 4 and value.shape[0] == 1 else value
    if image.ndim != 3 or 3 not in (image.shape[0], image.shape[-1]):
        raise ObservationError(f"{source!r} must be a 3-channel CHW or HWC image, got shape {value.shape}")
    if image.shape[0] == 3:  # CHW, openpi's layout (also when the width happens to be 3)
        image = np.transpose(image, (1, 2, 0))
    if image.dtype == np.uint8:
        return np.array(image, order="C")  # a writable copy: the frame's arrays are read-only views
    if image.dtype.kind == "f":
        return np.clip(image, 0.0, 1.0).astype(np.float32)
    raise ObservationError(f"{source!r} must be uint8 (0-255) or float (0-1), got {image.dtype}")
