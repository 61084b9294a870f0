"""``pi06_recap``: a pi0.5-class flow-matching VLA conditioned on RECAP's advantage indicator.

The network is pi0.5 (see :mod:`lerobot_recap.models.paligemma_with_expert`): images and the prompt form a
bidirectional prefix in PaliGemma; a 50-step action chunk is the suffix, processed by a Gemma action expert whose
norms adapt to the flow-matching time; 10 Euler steps at inference reuse the prefix KV cache.

The indicator is prompt text (pistar's wording): ``Task: ..., State: ..., Advantage: positive;\\nAction: ``. In
training it comes from the frame's ``adv_ind`` (looked up by ``index``, since stock ``lerobot-train`` drops the
column) and is omitted with probability ``indicator_dropout``; a ``none`` code omits it too, so an omitted clause
reads exactly as pi0.5's own prompt. At inference the clause is ``inference_advantage`` (positive by default),
optionally with classifier-free guidance: v = v_u + beta (v_c - v_u), both velocities from one batched pass.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE
from torch import Tensor, nn

from lerobot_recap.data.contract import ADV_IND, ADV_IND_CODES, ADV_IND_STRINGS
from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import LOCAL_TOKENIZER, PI06RecapConfig

logger = logging.getLogger(__name__)

TOKENIZER_SUBDIR = "tokenizer"
"""Where a checkpoint keeps its tokenizer files (so --policy.path works offline)."""

PER_ARM_COLUMNS = ("adv_ind_left", "adv_ind_right")
"""Per-arm indicator columns of bimanual datasets (same integer codes as adv_ind)."""

ACTION_MARKER = ";\nAction: "


# ---------------------------------------------------------------------------------------------------------------
# Prompt
# ---------------------------------------------------------------------------------------------------------------
def indicator_clause(code: int | tuple[int, int]) -> str:
    """The clause for an indicator code (+1/-1/0) or a (left, right) pair; '' when it is to be omitted."""
    if isinstance(code, tuple):
        left, right = (int(c) for c in code)
        if left == 0 and right == 0:
            return ""
        return f", Left advantage: {ADV_IND_STRINGS[left]}, Right advantage: {ADV_IND_STRINGS[right]}"
    code = int(code)
    return "" if code == 0 else f", Advantage: {ADV_IND_STRINGS[code]}"


def build_prompt(head: str, code: int | tuple[int, int]) -> str:
    """``<head>[, Advantage: x];\\nAction: `` where head is the processor's ``Task: ..., State: ...``."""
    return f"{head}{indicator_clause(code)}{ACTION_MARKER}"


# ---------------------------------------------------------------------------------------------------------------
# Small numeric helpers
# ---------------------------------------------------------------------------------------------------------------
def pad_last_dim(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] > size:
        raise ValueError(f"a vector of {x.shape[-1]} dims does not fit the model's {size}")
    return F.pad(x, (0, size - x.shape[-1]))


def resize_with_pad(images: Tensor, height: int, width: int) -> Tensor:
    """(B, C, H, W) float in [0, 1] -> (B, C, height, width), aspect kept, padded with black.

    LeRobot 0.4.4 clamps to [-1, 1] and pads with -1 *before* mapping [0, 1] to [-1, 1], so its padding ends up
    at -3 for any non-square camera (RealSense 640x480). Here the padding is 0 in [0, 1], i.e. -1 after mapping.
    """
    _, _, cur_h, cur_w = images.shape
    ratio = max(cur_w / width, cur_h / height)
    new_h, new_w = int(cur_h / ratio), int(cur_w / ratio)
    resized = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    pad_h, pad_w = height - new_h, width - new_w
    return F.pad(resized, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)


def sinusoidal_time_embedding(time: Tensor, dim: int, min_period: float, max_period: float) -> Tensor:
    """(B,) times -> (B, dim) sin/cos features over log-spaced periods."""
    if dim % 2:
        raise ValueError(f"time embedding width {dim} must be even")
    dtype = torch.float32 if time.device.type == "mps" else torch.float64
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=dtype, device=time.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (2 * math.pi / period)[None, :] * time.to(dtype)[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def _linear(layer: nn.Linear, x: Tensor) -> Tensor:
    return layer(x.to(layer.weight.dtype))


# ---------------------------------------------------------------------------------------------------------------
# The flow-matching model
# ---------------------------------------------------------------------------------------------------------------
class PI06RecapModel(nn.Module):
    """Backbone + action/time projections; parameter names as LeRobot's ``PI05Pytorch``."""

    def __init__(self, config: PI06RecapConfig):
        super().__init__()
        from lerobot_recap.models.paligemma_with_expert import (
            GEMMA_VARIANTS,
            VISION_VARIANTS,
            PaliGemmaWithExpert,
        )

        self.config = config
        expert = GEMMA_VARIANTS[config.action_expert_variant]
        self.paligemma_with_expert = PaliGemmaWithExpert(
            vlm=GEMMA_VARIANTS[config.paligemma_variant],
            expert=expert,
            vision=VISION_VARIANTS[config.vision_variant],
            image_size=config.image_resolution[0],
            vocab_size=config.vlm_vocab_size,
            dtype="float32",
            freeze_vision_encoder=config.freeze_vision_encoder,
            train_expert_only=config.train_expert_only,
        )
        self.action_in_proj = nn.Linear(config.max_action_dim, expert.width)
        self.action_out_proj = nn.Linear(expert.width, config.max_action_dim)
        self.time_mlp_in = nn.Linear(expert.width, expert.width)
        self.time_mlp_out = nn.Linear(expert.width, expert.width)
        if config.state_token:
            self.state_proj = nn.Linear(config.max_state_dim, expert.width)
        if config.indicator_conditioning:
            # Zero-init: a checkpoint trained without it behaves the same until fine-tuning moves it.
            self.indicator_embedding = nn.Embedding(3, expert.width)
            nn.init.zeros_(self.indicator_embedding.weight)
        if config.dtype == "bfloat16":
            self.to(torch.bfloat16)
            self.paligemma_with_expert.set_precision("bfloat16")
        if config.gradient_checkpointing:
            self.paligemma_with_expert.gradient_checkpointing_enable()

    # -- embeddings ----------------------------------------------------------------------------------------------
    def embed_prefix(
        self, images: list[Tensor], img_masks: list[Tensor], tokens: Tensor, masks: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Image tokens then prompt tokens, one bidirectional block. Returns (embs, pad_masks, block_starts)."""
        pwe = self.paligemma_with_expert
        embs, pads = [], []
        for image, image_mask in zip(images, img_masks, strict=True):
            emb = pwe.embed_image(image)
            embs.append(emb)
            pads.append(image_mask[:, None].expand(emb.shape[0], emb.shape[1]))
        embs.append(pwe.embed_language(tokens))
        pads.append(masks.bool())
        embs_t = torch.cat(embs, dim=1)
        pad_masks = torch.cat(pads, dim=1)
        return embs_t, pad_masks, torch.zeros_like(pad_masks)

    def embed_suffix(
        self, noisy_actions: Tensor, time: Tensor, state: Tensor | None = None, indicator: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Action tokens (a new block, bidirectional within) and the time conditioning of the adaptive norms.

        With ``state_token`` the suffix starts with the state token in a block of its own, as in pi0: it sees the
        prefix, the action tokens see it, and the prefix cache stays free of it. With ``indicator_conditioning`` the
        indicator codes (B,) in {-1, 0, +1} add a learned embedding to the time conditioning.
        """
        width = self.action_in_proj.out_features
        time_emb = sinusoidal_time_embedding(time, width, self.config.min_period, self.config.max_period)
        cond = F.silu(_linear(self.time_mlp_out, F.silu(_linear(self.time_mlp_in, time_emb))))
        if self.config.indicator_conditioning:
            if indicator is None:
                raise ValueError("--policy.indicator_conditioning=true needs the indicator codes")
            cond = cond + self.indicator_embedding(indicator.long() + 1).to(cond.dtype)
        embs = _linear(self.action_in_proj, noisy_actions)
        batch, length = embs.shape[:2]
        pad_masks = torch.ones(batch, length, dtype=torch.bool, device=embs.device)
        block_starts = torch.zeros_like(pad_masks)
        block_starts[:, 0] = True
        if self.config.state_token:
            if state is None:
                raise ValueError("--policy.state_token=true needs the state in the batch")
            state_emb = _linear(self.state_proj, state)[:, None, :].to(embs.dtype)
            embs = torch.cat([state_emb, embs], dim=1)
            pad_masks = torch.cat([pad_masks[:, :1], pad_masks], dim=1)
            block_starts = torch.cat([block_starts[:, :1], block_starts], dim=1)
        return embs, pad_masks, block_starts, cond

    def _velocity(self, suffix_out: Tensor) -> Tensor:
        suffix_out = suffix_out[:, -self.config.chunk_size :]
        return _linear(self.action_out_proj, suffix_out).float()

    # -- training ------------------------------------------------------------------------------------------------
    def sample_time(self, batch: int, device: torch.device) -> Tensor:
        # Sampled on CPU: Beta sampling is missing on some backends (MPS).
        beta = torch.distributions.Beta(
            torch.tensor(self.config.time_sampling_beta_alpha), torch.tensor(self.config.time_sampling_beta_beta)
        )
        time = beta.sample((batch,)) * self.config.time_sampling_scale + self.config.time_sampling_offset
        return time.to(device=device, dtype=torch.float32)

    def forward(
        self,
        images: list[Tensor],
        img_masks: list[Tensor],
        tokens: Tensor,
        masks: Tensor,
        actions: Tensor,
        noise: Tensor | None = None,
        time: Tensor | None = None,
        state: Tensor | None = None,
        indicator: Tensor | None = None,
    ) -> Tensor:
        """Per-element flow-matching loss (B, chunk, max_action_dim): ||(noise - actions) - v(x_t, t)||^2."""
        actions = actions.float()
        if noise is None:
            noise = torch.randn_like(actions)
        if time is None:
            time = self.sample_time(actions.shape[0], actions.device)
        t = time[:, None, None]
        x_t = t * noise + (1 - t) * actions
        target = noise - actions
        return (target - self.velocity(images, img_masks, tokens, masks, x_t, time, state, indicator)) ** 2

    def velocity(
        self, images, img_masks, tokens, masks, x_t: Tensor, time: Tensor, state: Tensor | None = None,
        indicator: Tensor | None = None,
    ) -> Tensor:
        """Velocity at (x_t, t) from one joint pass over prefix and suffix (the training path)."""
        from lerobot_recap.models.paligemma_with_expert import additive_mask, make_attention_2d

        prefix, prefix_pad, prefix_starts = self.embed_prefix(images, img_masks, tokens, masks)
        suffix, suffix_pad, suffix_starts, cond = self.embed_suffix(x_t, time, state, indicator)
        pad_masks = torch.cat([prefix_pad, suffix_pad], dim=1)
        allowed = make_attention_2d(pad_masks, torch.cat([prefix_starts, suffix_starts], dim=1))
        positions = torch.cumsum(pad_masks.long(), dim=1) - 1
        (_, suffix_out), _ = self.paligemma_with_expert(
            [prefix, suffix], additive_mask(allowed), positions, adarms_cond=[None, cond]
        )
        return self._velocity(suffix_out)

    # -- inference -----------------------------------------------------------------------------------------------
    def prefix_cache(self, images, img_masks, tokens, masks):
        """Run the prefix once; returns (per-layer key/value cache, prefix padding mask)."""
        from lerobot_recap.models.paligemma_with_expert import additive_mask, make_attention_2d

        prefix, pad_masks, starts = self.embed_prefix(images, img_masks, tokens, masks)
        positions = torch.cumsum(pad_masks.long(), dim=1) - 1
        _, cache = self.paligemma_with_expert(
            [prefix, None],
            additive_mask(make_attention_2d(pad_masks, starts)),
            positions,
            return_key_values=True,
        )
        return cache, pad_masks

    def denoise_step(
        self, cache, prefix_pad: Tensor, x_t: Tensor, time: Tensor, state: Tensor | None = None,
        indicator: Tensor | None = None,
    ) -> Tensor:
        """Velocity at (x_t, t), reading (never writing) the prefix cache."""
        from lerobot_recap.models.paligemma_with_expert import additive_mask, make_attention_2d

        suffix, suffix_pad, suffix_starts, cond = self.embed_suffix(x_t, time, state, indicator)
        batch, suffix_len = suffix_pad.shape
        to_prefix = prefix_pad[:, None, :].expand(batch, suffix_len, prefix_pad.shape[1])
        allowed = torch.cat([to_prefix, make_attention_2d(suffix_pad, suffix_starts)], dim=2)
        positions = prefix_pad.long().sum(-1, keepdim=True) + torch.cumsum(suffix_pad.long(), dim=1) - 1
        (_, suffix_out), _ = self.paligemma_with_expert(
            [None, suffix], additive_mask(allowed), positions, adarms_cond=[None, cond], past_key_values=cache
        )
        return self._velocity(suffix_out)

    @torch.no_grad()
    def sample_actions(
        self,
        images: list[Tensor],
        img_masks: list[Tensor],
        tokens: Tensor,
        masks: Tensor,
        noise: Tensor | None = None,
        num_steps: int | None = None,
        uncond_tokens: Tensor | None = None,
        uncond_masks: Tensor | None = None,
        cfg_beta: float = 1.0,
        state: Tensor | None = None,
        indicator: Tensor | None = None,
    ) -> Tensor:
        """Euler-integrate the flow from noise (t=1) to actions (t=0). With ``uncond_tokens``: guided sampling.

        Guidance runs conditional and unconditional prompts as one batch of 2B over one cache, and combines
        ``v = v_c + (beta - 1) (v_c - v_u)`` (= v_u + beta (v_c - v_u)), which is exactly v_c at beta = 1.
        """
        num_steps = num_steps or self.config.num_inference_steps
        batch = tokens.shape[0]
        if noise is None:
            noise = torch.randn(batch, self.config.chunk_size, self.config.max_action_dim, device=tokens.device)
        guided = uncond_tokens is not None
        if guided:
            images = [torch.cat([im, im]) for im in images]
            img_masks = [torch.cat([m, m]) for m in img_masks]
            length = max(tokens.shape[1], uncond_tokens.shape[1])  # prompts padded to their own longest
            tokens = torch.cat([_pad_tokens(tokens, length), _pad_tokens(uncond_tokens, length)])
            masks = torch.cat([_pad_tokens(masks, length), _pad_tokens(uncond_masks, length)])
            state = None if state is None else torch.cat([state, state])
            indicator = None if indicator is None else torch.cat([indicator, torch.zeros_like(indicator)])
        cache, prefix_pad = self.prefix_cache(images, img_masks, tokens, masks)
        dt = -1.0 / num_steps
        x_t = noise.float()
        for step in range(num_steps):
            time = torch.full((tokens.shape[0],), 1.0 + step * dt, dtype=torch.float32, device=tokens.device)
            if guided:
                v_cond, v_uncond = self.denoise_step(
                    cache, prefix_pad, torch.cat([x_t, x_t]), time, state, indicator
                ).chunk(2)
                velocity = v_cond + (cfg_beta - 1.0) * (v_cond - v_uncond)
            else:
                velocity = self.denoise_step(cache, prefix_pad, x_t, time, state, indicator)
            x_t = x_t + dt * velocity
        return x_t


# ---------------------------------------------------------------------------------------------------------------
# Loading LeRobot pi05 checkpoints
# ---------------------------------------------------------------------------------------------------------------
_IGNORED_PI05_KEYS = (
    # LeRobot 0.4.4 keeps an unused GemmaForCausalLM head on the expert (263M parameters at full size).
    re.compile(r"^model\.paligemma_with_expert\.gemma_expert\.lm_head\.weight$"),
    # Plain-norm weights of the expert written by code without adaptive norms; pi05 skips them too.
    re.compile(r"^model\.paligemma_with_expert\.gemma_expert\.model\.(layers\.\d+\.)?"
               r"(input_layernorm|post_attention_layernorm|norm)\.weight$"),
    # pi0's state projection, absent from pi0.5.
    re.compile(r"^model\.state_proj\."),
)

_NOT_IN_PI05 = re.compile(r"^model\.(state_proj|indicator_embedding)\.")
"""The optional continuous state token (``--policy.state_token``): pi0.5 has none, so it keeps its fresh init."""

_LEGACY_PREFIXES = (
    # transformers < 4.52 layout of PaliGemma -> the layout of 4.52+ (the one LeRobot 0.4.4 writes)
    ("paligemma_with_expert.paligemma.language_model.model.", "paligemma_with_expert.paligemma.model.language_model."),
    ("paligemma_with_expert.paligemma.language_model.lm_head.", "paligemma_with_expert.paligemma.lm_head."),
    ("paligemma_with_expert.paligemma.vision_tower.", "paligemma_with_expert.paligemma.model.vision_tower."),
    ("paligemma_with_expert.paligemma.multi_modal_projector.",
     "paligemma_with_expert.paligemma.model.multi_modal_projector."),
    ("action_time_mlp_in.", "time_mlp_in."),
    ("action_time_mlp_out.", "time_mlp_out."),
)

_EMBED_KEY = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
_LM_HEAD_KEY = "model.paligemma_with_expert.paligemma.lm_head.weight"


def remap_pi05_state_dict(state_dict: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """pi05 checkpoint keys -> this policy's keys. Returns (remapped, ignored keys)."""
    remapped, ignored = {}, []
    for key, value in state_dict.items():
        bare = key[len("model."):] if key.startswith("model.") else key
        for old, new in _LEGACY_PREFIXES:
            if bare.startswith(old):
                bare = new + bare[len(old):]
                break
        full = f"model.{bare}"
        if any(p.search(full) for p in _IGNORED_PI05_KEYS):
            ignored.append(key)
            continue
        remapped[full] = value
    # The LM head and token embedding are one tied matrix; a checkpoint may hold either name.
    if _EMBED_KEY not in remapped and _LM_HEAD_KEY in remapped:
        remapped[_EMBED_KEY] = remapped[_LM_HEAD_KEY]
    remapped.pop(_LM_HEAD_KEY, None)
    return remapped, ignored


def load_pi05_weights(policy: nn.Module, source: str | Path) -> list[str]:
    """Strictly load a pi05-layout ``model.safetensors`` (Hub id, dir or file) into ``policy``.

    Raises ValueError listing missing keys, unexpected keys and shape mismatches. Returns the ignored keys.
    """
    from safetensors.torch import load_file

    path = Path(source)
    if path.is_dir():
        path = path / "model.safetensors"
    elif not path.is_file():
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(repo_id=str(source), filename="model.safetensors"))
        except Exception as err:  # noqa: BLE001  (any hub/network failure gets the same actionable message)
            raise FileNotFoundError(
                f"--policy.base_model={source!r}: no local file/dir and the Hub download failed ({err}). "
                "Pass a local directory holding model.safetensors, or go online / pre-download it."
            ) from err
    if not path.is_file():
        raise FileNotFoundError(f"--policy.base_model: {path} does not exist")
    remapped, ignored = remap_pi05_state_dict(load_file(str(path)))
    own = {k: v for k, v in policy.state_dict().items() if k != _LM_HEAD_KEY and not _NOT_IN_PI05.search(k)}
    missing = sorted(set(own) - set(remapped))
    unexpected = sorted(set(remapped) - set(own))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(remapped[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(remapped)
        if remapped[k].shape != own[k].shape
    )
    if missing or unexpected or mismatched:
        def listing(items: list[str]) -> str:
            return "\n    ".join(items[:20]) + (f"\n    ... {len(items) - 20} more" if len(items) > 20 else "")

        raise ValueError(
            f"{path} does not match this pi06_recap model (check --policy.paligemma_variant/"
            f"action_expert_variant/vision_variant/vlm_vocab_size/max_action_dim/image_resolution):\n"
            f"  missing ({len(missing)}):\n    {listing(missing)}\n"
            f"  unexpected ({len(unexpected)}):\n    {listing(unexpected)}\n"
            f"  shape mismatches ({len(mismatched)}):\n    {listing(mismatched)}"
        )
    with torch.no_grad():
        for key, param in own.items():
            param.copy_(remapped[key].to(param.dtype))
    return ignored


# ---------------------------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------------------------
class PI06RecapPolicy(PreTrainedPolicy):
    """The advantage-conditioned pi0.5-class policy, trained and served by the stock LeRobot CLIs."""

    config_class = PI06RecapConfig
    name = "pi06_recap"

    def __init__(self, config: PI06RecapConfig, **kwargs: Any):
        super().__init__(config)
        from lerobot_recap.data.frame_labels import FrameLabels

        config.validate_features()
        self.config = config
        self.model = PI06RecapModel(config)
        self._tokenizer = None
        self._tokenizer_source = kwargs.get("tokenizer_dir") or config.tokenizer_name
        self.frame_labels = None
        self._label_names: tuple[str, ...] = ()
        if config.per_arm_indicator:
            self.frame_labels = FrameLabels.from_policy_kwargs(kwargs, names=PER_ARM_COLUMNS)
            self._label_names = PER_ARM_COLUMNS if self.frame_labels is not None else ()
        if self.frame_labels is None:
            self.frame_labels = FrameLabels.from_policy_kwargs(kwargs, names=(ADV_IND,))
            self._label_names = (ADV_IND,) if self.frame_labels is not None else ()
        self._warned_unlabeled = False
        self._warned_truncation = False
        if config.delta_actions and config.delta_action_mask is None:
            config.delta_action_mask = default_delta_mask(kwargs.get("dataset_meta"), self._action_dim)
        if config.base_model and not kwargs.get("skip_base_model", False):
            ignored = load_pi05_weights(self, config.base_model)
            logger.info("Loaded pi0.5 weights from %s (ignored known-unused keys: %s)", config.base_model, ignored)
        self.model.to(config.device)
        self.reset()

    # -- checkpoints ---------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_name_or_path, *, config=None, strict: bool = True, **kwargs):
        """Load a pi06_recap checkpoint (strictly), with the tokenizer saved beside it when there is one."""
        from lerobot.configs.policies import PreTrainedConfig

        hub_keys = ("force_download", "resume_download", "proxies", "token", "cache_dir", "local_files_only", "revision")
        hub_kwargs = {k: kwargs.pop(k) for k in hub_keys if k in kwargs}
        if config is None:
            config = PreTrainedConfig.from_pretrained(pretrained_name_or_path, **hub_kwargs)
        kwargs.setdefault("tokenizer_dir", _find_checkpoint_tokenizer(pretrained_name_or_path, hub_kwargs))
        kwargs["skip_base_model"] = True  # the checkpoint's own weights replace the base model's anyway
        return super().from_pretrained(pretrained_name_or_path, config=config, strict=strict, **hub_kwargs, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        super()._save_pretrained(save_directory)
        try:
            tokenizer = self.tokenizer
        except Exception as err:  # noqa: BLE001  (an unreachable tokenizer must not lose the weights)
            logger.warning("Could not save the tokenizer with the checkpoint (%s)", err)
            return
        tokenizer.save_pretrained(str(Path(save_directory) / TOKENIZER_SUBDIR))

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._tokenizer_source == LOCAL_TOKENIZER:
                from lerobot_recap.models.local_tokenizer import build_local_tokenizer

                self._tokenizer = build_local_tokenizer(vocab_size=self.config.vlm_vocab_size)
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self._tokenizer_source))
        return self._tokenizer

    # -- LeRobot API ---------------------------------------------------------------------------------------------
    def get_optim_params(self):
        return [p for p in self.parameters() if p.requires_grad]

    def reset(self) -> None:
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)

    def _get_default_peft_targets(self) -> dict[str, Any]:
        """LoRA on attention and MLP projections of both Gemmas, plus the action/time projections."""
        gemma = r".*\.(language_model|gemma_expert\.model)\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
        heads = r"model\.(action_in_proj|action_out_proj|time_mlp_in|time_mlp_out)"
        return {"target_modules": rf"({gemma}|{heads})", "modules_to_save": []}

    def _validate_peft_config(self, peft_config) -> None:
        # LeRobot asks for a pretrained_path; here pi0.5 weights may also come from base_model.
        if not (self.config.pretrained_path or self.config.base_model):
            raise ValueError(
                "LoRA on random weights is unlikely to learn: start from pi0.5 weights with "
                "--policy.base_model=lerobot/pi05_base (or a pi06_recap checkpoint with --policy.path)"
            )

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        self.eval()
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch, **kwargs)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None, **kwargs: Any) -> Tensor:
        self.eval()
        images, img_masks = self._prepare_images(batch)
        cond_prompts, uncond_prompts = self.inference_prompts(batch)
        cond_codes = [ADV_IND_CODES[self.config.inference_advantage]] * len(cond_prompts)
        device = images[0].device
        tokens, masks = self._tokenize(cond_prompts, device)
        uncond_tokens = uncond_masks = None
        if uncond_prompts is not None:
            uncond_tokens, uncond_masks = self._tokenize(uncond_prompts, device)
        actions = self.model.sample_actions(
            images, img_masks, tokens, masks, noise=noise,
            uncond_tokens=uncond_tokens, uncond_masks=uncond_masks, cfg_beta=self.config.cfg_beta,
            state=self._state_token_input(batch), indicator=self._indicator_input(cond_codes, device),
        )
        actions = actions[:, :, : self._action_dim]
        if self.config.delta_actions:
            actions = actions + self._delta_reference(batch).to(actions.dtype)[:, None, :]
        return actions

    def forward(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, dict]:
        images, img_masks = self._prepare_images(batch)
        prompts, codes = self.training_prompts(batch)
        tokens, masks = self._tokenize(prompts, images[0].device)
        actions = batch[ACTION].float()
        if self.config.delta_actions:
            actions = actions - self._delta_reference(batch)[:, None, :]
        actions = pad_last_dim(actions, self.config.max_action_dim)
        losses = self.model(
            images, img_masks, tokens, masks, actions,
            state=self._state_token_input(batch), indicator=self._indicator_input(codes, images[0].device),
        )
        losses = losses[:, :, : self._action_dim]
        per_step = losses.mean(-1)
        valid = torch.ones_like(per_step)
        if "action_is_pad" in batch:  # steps past the episode end repeat its last action: no signal there
            valid = (~batch["action_is_pad"].bool()).to(per_step.dtype)
        per_sample = (per_step * valid).sum(1) / valid.sum(1).clamp(min=1.0)
        info = {"loss_per_dim": losses.mean(dim=(0, 1)).detach().float().cpu().tolist()}
        flat = np.array(_flat_codes(codes))
        info["clause_positive"] = float((flat > 0).mean())
        info["clause_negative"] = float((flat < 0).mean())
        if reduction == "none":
            info["loss"] = per_sample.mean().item()
            return per_sample, info
        loss = per_sample.mean()
        info["loss"] = loss.item()
        return loss, info

    # -- prompts -------------------------------------------------------------------------------------------------
    def training_prompts(self, batch: dict[str, Any]) -> tuple[list[str], list]:
        """Training prompts (clause from each frame's adv_ind, dropped with indicator_dropout) and their codes."""
        heads = self._prompt_heads(batch)
        codes = self._training_codes(batch, len(heads))
        return [build_prompt(h, c) for h, c in zip(heads, codes, strict=True)], codes

    def inference_prompts(self, batch: dict[str, Any]) -> tuple[list[str], list[str] | None]:
        """Conditional prompts (inference_advantage clause) and, with guidance, the clause-free ones."""
        heads = self._prompt_heads(batch)
        code = ADV_IND_CODES[self.config.inference_advantage]
        per_arm = self.config.per_arm_indicator
        cond = [build_prompt(h, (code, code) if per_arm else code) for h in heads]
        if self.config.cfg_beta == 1.0:
            return cond, None
        return cond, [build_prompt(h, (0, 0) if per_arm else 0) for h in heads]

    # -- batch preparation ---------------------------------------------------------------------------------------
    @property
    def _action_dim(self) -> int:
        feature = self.config.action_feature
        return feature.shape[0] if feature is not None else self.config.max_action_dim

    def _indicator_input(self, codes: list, device: torch.device) -> Tensor | None:
        """Per-sample indicator codes (B,) for ``indicator_conditioning`` (None when it is off); per-arm: the larger."""
        if not self.config.indicator_conditioning:
            return None
        return torch.tensor(_flat_codes(codes), dtype=torch.long, device=device)

    def _state_token_input(self, batch: dict[str, Tensor]) -> Tensor | None:
        """The normalized state padded to max_state_dim, for the continuous state token (None when it is off)."""
        if not self.config.state_token:
            return None
        return pad_last_dim(_latest_state(batch, "--policy.state_token=true"), self.config.max_state_dim)

    def _delta_reference(self, batch: dict[str, Tensor]) -> Tensor:
        """The (normalized) state on the delta dims, zero on absolute ones: actions are predicted relative to it."""
        state = _latest_state(batch, "--policy.delta_actions=true")
        mask = torch.tensor(self.config.delta_action_mask, dtype=state.dtype, device=state.device)
        if state.shape[-1] < mask.shape[0]:
            raise ValueError(
                f"--policy.delta_actions=true: the state has {state.shape[-1]} dims but the action "
                f"{mask.shape[0]}; delta actions need the state to list the action's joints first, in order"
            )
        return state[..., : mask.shape[0]] * mask

    def _prepare_images(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Cameras -> (B, 3, S, S) in [-1, 1]; a camera missing from the batch becomes a masked blank image."""
        device = next(self.parameters()).device
        size = self.config.image_resolution[0]
        present = [k for k in self.config.image_features if k in batch]
        if not present:
            raise ValueError(
                f"none of the policy's cameras {list(self.config.image_features)} is in the batch "
                f"(keys: {sorted(batch)}); use --rename_map to map the env/robot camera names"
            )
        images, masks = [], []
        for key in self.config.image_features:
            if key not in batch:
                continue
            image = batch[key].to(device=device, dtype=torch.float32)
            if image.dim() == 3:
                image = image[None]
            if image.shape[-1] == 3 and image.shape[1] != 3:  # channels-last input
                image = image.permute(0, 3, 1, 2)
            if image.shape[-2:] != (size, size):
                image = resize_with_pad(image, size, size)
            images.append(image * 2.0 - 1.0)
            masks.append(torch.ones(image.shape[0], dtype=torch.bool, device=device))
        for _ in range(len(self.config.image_features) - len(present)):
            images.append(torch.full_like(images[0], -1.0))
            masks.append(torch.zeros_like(masks[0]))
        return images, masks

    def _prompt_heads(self, batch: dict[str, Any]) -> list[str]:
        heads = batch.get("task")
        if heads is None:
            raise ValueError(
                "the batch has no 'task' prompt: run it through the pi06_recap pre-processor "
                "(make_pi06_recap_pre_post_processors or the checkpoint's policy_preprocessor.json)"
            )
        return [heads] if isinstance(heads, str) else list(heads)

    def _training_codes(self, batch: dict[str, Any], size: int) -> list:
        """Per-sample indicator codes for training prompts, with clause dropout applied."""
        labels = None
        if self.frame_labels is not None and "index" in batch:
            table = self.frame_labels.lookup(batch["index"])
            labels = np.stack([_to_numpy(table[n]).reshape(-1) for n in self._label_names], axis=1)
        elif ADV_IND in batch:
            labels = _to_numpy(batch[ADV_IND]).reshape(size, 1)
        if labels is None:
            if not self._warned_unlabeled:
                logger.warning("pi06_recap: no adv_ind labels for this dataset: training without the clause")
                self._warned_unlabeled = True
            labels = np.zeros((size, 1), dtype=np.int64)
        labels = labels.astype(np.int64)
        if not np.isin(labels, (-1, 0, 1)).all():
            raise ValueError(f"adv_ind codes must be +1/-1/0, got {sorted(set(labels.ravel().tolist()))}")
        if self.training and self.config.indicator_dropout > 0:
            dropped = (torch.rand(size) < self.config.indicator_dropout).numpy()
            labels[dropped] = 0
        if self.config.per_arm_indicator:
            labels = np.repeat(labels, 2, axis=1) if labels.shape[1] == 1 else labels
            return [(int(l), int(r)) for l, r in labels]
        return [int(c) for c in labels[:, 0]]

    def _tokenize(self, prompts: list[str], device: torch.device) -> tuple[Tensor, Tensor]:
        # Padded to the batch's longest prompt, not to max_length: padding is masked out anyway, and on small
        # models it would be most of the compute.
        encoded = self.tokenizer(
            prompts,
            padding="longest",
            max_length=self.config.tokenizer_max_length,
            truncation=True,
            return_tensors="pt",
        )
        tokens, masks = encoded["input_ids"], encoded["attention_mask"].bool()
        if int(tokens.max()) >= self.config.vlm_vocab_size:
            raise ValueError(
                f"the tokenizer {self._tokenizer_source} emits ids up to {int(tokens.max())} but the model's "
                f"vocab_size is {self.config.vlm_vocab_size}: set --policy.vlm_vocab_size to the tokenizer's size"
            )
        if tokens.shape[1] >= self.config.tokenizer_max_length and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "pi06_recap: a prompt filled all %d tokens and may be truncated (raise --policy.tokenizer_max_length)",
                self.config.tokenizer_max_length,
            )
        return tokens.to(device), masks.to(device)


def _flat_codes(codes: list) -> list[int]:
    """One code per sample: per-arm (left, right) pairs count as the one with the larger magnitude."""
    return [c if isinstance(c, int) else max(c, key=abs) for c in codes]


def _latest_state(batch: dict[str, Tensor], needed_by: str) -> Tensor:
    """The batch's (normalized) state as float (B, D), the latest frame when it holds several."""
    state = batch.get(OBS_STATE)
    if state is None:
        raise ValueError(f"{needed_by} needs {OBS_STATE!r} in the batch")
    state = state.float()
    return state[:, -1] if state.dim() == 3 else state  # (B, n_obs_steps, D): the latest observation


def _to_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def _pad_tokens(values: Tensor, length: int) -> Tensor:
    """Right-pad token ids or masks (B, L) with zeros (pad id / masked) to ``length``."""
    return F.pad(values, (0, length - values.shape[1]))


def default_delta_mask(dataset_meta, action_dim: int) -> list[bool]:
    """Delta on every action dim except grippers (named ``*gripper*`` in the dataset), as openpi does for arms."""
    names = None
    if dataset_meta is not None:
        names = (dataset_meta.features.get(ACTION) or {}).get("names")
    if isinstance(names, dict):  # LeRobot sometimes nests names as {"motors": [...]}
        names = next(iter(names.values()), None)
    if not names or len(names) != action_dim:
        logger.warning("pi06_recap: no action names to find the grippers; every action dim is a delta")
        return [True] * action_dim
    return ["gripper" not in str(name).lower() for name in names]


def _find_checkpoint_tokenizer(path_or_id, hub_kwargs: dict) -> str | None:
    """The ``tokenizer/`` folder of a checkpoint (local dir or Hub repo), or None."""
    local = Path(str(path_or_id)) / TOKENIZER_SUBDIR
    if local.is_dir():
        return str(local)
    if os.path.isdir(str(path_or_id)):
        return None
    try:
        from huggingface_hub import snapshot_download

        root = snapshot_download(
            repo_id=str(path_or_id),
            allow_patterns=[f"{TOKENIZER_SUBDIR}/*"],
            revision=hub_kwargs.get("revision"),
            cache_dir=hub_kwargs.get("cache_dir"),
            token=hub_kwargs.get("token"),
        )
    except Exception:  # noqa: BLE001  (no tokenizer in the repo or offline: fall back to config.tokenizer_name)
        return None
    candidate = Path(root) / TOKENIZER_SUBDIR
    return str(candidate) if candidate.is_dir() else None
