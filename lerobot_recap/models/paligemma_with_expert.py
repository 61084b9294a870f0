"""PaliGemma (SigLIP + Gemma) and a Gemma action expert attending jointly, on stock ``transformers`` 4.57.

Layout and parameter names follow LeRobot's pi05 (``paligemma_with_expert.paligemma.model.{vision_tower,
multi_modal_projector,language_model}.*`` and ``paligemma_with_expert.gemma_expert.model.*``), so its checkpoints
load into this module. What differs from running the stock forward passes, and why:

* Embeddings are not multiplied by sqrt(width) inside the language model: the caller scales token embeddings,
  image features are not (pi0.5 convention), and the action expert has no token embedding at all.
* Image features are ``projector(siglip(x))`` without the stock division by sqrt(text width).
* The prefix KV cache is a plain tuple of per-layer ``(key, value)`` tensors produced once and only *read* by
  each denoising step (new tensors are concatenated, nothing is updated in place), so ten Euler steps reuse one
  cache without copying it and without corrupting it.
* Attention of the two streams is joint: queries, keys and values of the VLM prefix and of the expert suffix are
  concatenated along the sequence, so both Gemmas must share head count, KV head count and head size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]
"""Per layer: keys and values (after RoPE) of the prefix, shaped (batch, kv_heads, prefix_len, head_dim)."""

ATTENTION_MASK_VALUE = -2.3819763e38
"""Additive mask value for blocked pairs (finite, so fully masked padding rows give no NaN; fits bf16)."""


@dataclass(frozen=True)
class GemmaSize:
    """Width/depth of one Gemma stream."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class VisionSize:
    """SigLIP vision tower size."""

    hidden_size: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch_size: int


GEMMA_VARIANTS: dict[str, GemmaSize] = {
    "gemma_2b": GemmaSize(width=2048, depth=18, mlp_dim=16_384, num_heads=8, num_kv_heads=1, head_dim=256),
    "gemma_300m": GemmaSize(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256),
    "tiny": GemmaSize(width=64, depth=2, mlp_dim=128, num_heads=8, num_kv_heads=1, head_dim=8),
    "tiny_wide": GemmaSize(width=128, depth=2, mlp_dim=512, num_heads=8, num_kv_heads=1, head_dim=8),
}
"""Gemma sizes: pi0.5's pair (VLM gemma_2b, expert gemma_300m) and tiny ones for CPU tests and the default demo
(tiny_wide is tiny with a wider MLP and residual stream; same attention shape, so it pairs with a tiny VLM as the
action expert: on the embedded task it reached 77% success after 1500 steps where tiny reached 25%)."""

VISION_VARIANTS: dict[str, VisionSize] = {
    "so400m": VisionSize(hidden_size=1152, depth=27, mlp_dim=4304, num_heads=16, patch_size=14),
    "tiny": VisionSize(hidden_size=32, depth=1, mlp_dim=64, num_heads=2, patch_size=14),
}

PALIGEMMA_VOCAB_SIZE = 257_152


def _gemma_config(size: GemmaSize, vocab_size: int):
    from transformers import GemmaConfig

    return GemmaConfig(
        vocab_size=vocab_size,
        hidden_size=size.width,
        intermediate_size=size.mlp_dim,
        num_hidden_layers=size.depth,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_kv_heads,
        head_dim=size.head_dim,
        hidden_act="gelu_pytorch_tanh",
        hidden_activation="gelu_pytorch_tanh",
        pad_token_id=0,
    )


class PaliGemmaWithExpert(nn.Module):
    """The pi0.5 backbone: a stock PaliGemma (prefix) and a time-adaptive Gemma expert (suffix), joint attention."""

    def __init__(
        self,
        vlm: GemmaSize,
        expert: GemmaSize,
        vision: VisionSize,
        image_size: int = 224,
        vocab_size: int = PALIGEMMA_VOCAB_SIZE,
        dtype: str = "float32",
        freeze_vision_encoder: bool = False,
        train_expert_only: bool = False,
    ):
        super().__init__()
        from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, SiglipVisionConfig

        from lerobot_recap.models.pi_gemma import ActionExpert

        if (vlm.num_heads, vlm.num_kv_heads, vlm.head_dim) != (expert.num_heads, expert.num_kv_heads, expert.head_dim):
            raise ValueError(
                "joint attention concatenates the VLM's and the expert's heads: both Gemma sizes need the same "
                f"num_heads/num_kv_heads/head_dim (got {vlm} and {expert})"
            )
        if image_size % vision.patch_size:
            raise ValueError(f"image size {image_size} is not a multiple of the patch size {vision.patch_size}")
        vision_config = SiglipVisionConfig(
            hidden_size=vision.hidden_size,
            intermediate_size=vision.mlp_dim,
            num_hidden_layers=vision.depth,
            num_attention_heads=vision.num_heads,
            patch_size=vision.patch_size,
            image_size=image_size,
            projection_dim=vlm.width,
            projector_hidden_act="gelu_fast",
            vision_use_head=False,
        )
        text_config = _gemma_config(vlm, vocab_size)
        paligemma_config = PaliGemmaConfig(
            vision_config=vision_config.to_dict(),
            text_config=text_config.to_dict(),
            image_token_index=vocab_size,
            vocab_size=vocab_size,
            projection_dim=vlm.width,
            hidden_size=vlm.width,
        )
        self.paligemma = PaliGemmaForConditionalGeneration(paligemma_config)
        self.gemma_expert = ActionExpert(_gemma_config(expert, vocab_size), adaptive=True)
        self.vlm_size, self.expert_size = vlm, expert
        self.freeze_vision_encoder = freeze_vision_encoder
        self.train_expert_only = train_expert_only
        self.gradient_checkpointing = False
        self.set_precision(dtype)
        self._set_requires_grad()

    # -- module access -------------------------------------------------------------------------------------------
    @property
    def language_model(self):
        return self.paligemma.model.language_model

    @property
    def vision_tower(self):
        return self.paligemma.model.vision_tower

    @property
    def expert_model(self):
        return self.gemma_expert.model

    # -- precision / freezing ------------------------------------------------------------------------------------
    def set_precision(self, dtype: str) -> None:
        """fp32, or bf16 with the vision tower, projector and norms kept in fp32 (as pi0.5 trains)."""
        if dtype == "float32":
            self.to(torch.float32)
            return
        if dtype != "bfloat16":
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
        self.to(torch.bfloat16)
        # SigLIP's LayerNorms cannot mix a bf16 input with fp32 parameters on CPU, so the whole tower (and the
        # projector reading it) stays fp32 and its output is cast to the language model's dtype.
        self.paligemma.model.vision_tower.to(torch.float32)
        self.paligemma.model.multi_modal_projector.to(torch.float32)
        for name, module in self.named_modules():
            if name.endswith(("input_layernorm", "post_attention_layernorm", ".norm")):
                module.to(torch.float32)

    def _set_requires_grad(self) -> None:
        if self.freeze_vision_encoder:
            for param in self.vision_tower.parameters():
                param.requires_grad = False
        if self.train_expert_only:
            for param in self.paligemma.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen parts stay in eval mode so their dropout/stochastic layers never switch on.
        if self.freeze_vision_encoder:
            self.vision_tower.eval()
        if self.train_expert_only:
            self.paligemma.eval()
        return self

    def gradient_checkpointing_enable(self) -> None:
        self.gradient_checkpointing = True
        self.vision_tower.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def gradient_checkpointing_disable(self) -> None:
        self.gradient_checkpointing = False
        self.vision_tower.gradient_checkpointing_disable()

    # -- embeddings ----------------------------------------------------------------------------------------------
    @property
    def lm_dtype(self) -> torch.dtype:
        return self.language_model.layers[0].self_attn.q_proj.weight.dtype

    def embed_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, num_patches, vlm width), not divided by sqrt(width)."""
        tower = self.vision_tower
        pixels = pixels.to(tower.vision_model.embeddings.patch_embedding.weight.dtype)
        features = tower(pixel_values=pixels).last_hidden_state
        return self.paligemma.model.multi_modal_projector(features).to(self.lm_dtype)

    def embed_language(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> embeddings scaled by sqrt(width) (Gemma's convention, applied here and only here)."""
        emb = self.language_model.embed_tokens(tokens)
        return emb * math.sqrt(emb.shape[-1])

    # -- transformer ---------------------------------------------------------------------------------------------
    def forward(
        self,
        inputs_embeds: list[torch.Tensor | None],
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        adarms_cond: list[torch.Tensor | None] | None = None,
        past_key_values: KVCache | None = None,
        return_key_values: bool = False,
    ) -> tuple[list[torch.Tensor | None], KVCache | None]:
        """Run the streams present in ``inputs_embeds`` ([prefix, suffix], either may be None) jointly.

        ``attention_mask`` is additive, (B, 1, queries, keys) where keys = cached prefix + present tokens;
        ``position_ids`` (B, queries). With ``past_key_values`` the given prefix keys/values are read, never
        modified. ``return_key_values`` returns this call's keys/values per layer (to cache a prefix).
        """
        from transformers.models.gemma.modeling_gemma import apply_rotary_pos_emb

        adarms_cond = adarms_cond or [None, None]
        models = [self.language_model, self.expert_model]
        streams = [i for i, h in enumerate(inputs_embeds) if h is not None]
        hiddens = [inputs_embeds[i].to(self.lm_dtype) for i in streams]
        conds = [adarms_cond[i] for i in streams]
        layer_sets = [models[i].layers for i in streams]
        mask = attention_mask.to(self.lm_dtype)
        cos, sin = self.language_model.rotary_emb(hiddens[0], position_ids)
        depth = len(layer_sets[0])
        new_cache: list[tuple[torch.Tensor, torch.Tensor]] = []

        def run_layer(idx: int, past: tuple[torch.Tensor, torch.Tensor] | None, *hs: torch.Tensor):
            layers = [layer_set[idx] for layer_set in layer_sets]
            qs, ks, vs, gates = [], [], [], []
            for layer, h, cond in zip(layers, hs, conds, strict=True):
                normed, gate = _norm(layer.input_layernorm, h, cond)
                gates.append(gate)
                attn = layer.self_attn
                shape = (*normed.shape[:-1], -1, attn.head_dim)
                qs.append(attn.q_proj(normed).view(shape).transpose(1, 2))
                ks.append(attn.k_proj(normed).view(shape).transpose(1, 2))
                vs.append(attn.v_proj(normed).view(shape).transpose(1, 2))
            q, k, v = torch.cat(qs, dim=2), torch.cat(ks, dim=2), torch.cat(vs, dim=2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            kv = (k, v)
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=layers[0].self_attn.scaling, enable_gqa=q.shape[1] != k.shape[1]
            )
            out = out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)
            results, start = [], 0
            for layer, h, cond, gate in zip(layers, hs, conds, gates, strict=True):
                end = start + h.shape[1]
                o = layer.self_attn.o_proj(out[:, start:end].to(layer.self_attn.o_proj.weight.dtype))
                start = end
                h = _gated(h, o, gate)
                normed, gate2 = _norm(layer.post_attention_layernorm, h, cond)
                m = layer.mlp(normed.to(layer.mlp.up_proj.weight.dtype))
                results.append(_gated(h, m, gate2))
            return (*results, *kv)

        checkpoint = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for idx in range(depth):
            past = past_key_values[idx] if past_key_values is not None else None
            if checkpoint:
                outputs = torch.utils.checkpoint.checkpoint(
                    run_layer, idx, past, *hiddens, use_reentrant=False, preserve_rng_state=False
                )
            else:
                outputs = run_layer(idx, past, *hiddens)
            hiddens = list(outputs[: len(hiddens)])
            if return_key_values:
                new_cache.append((outputs[-2], outputs[-1]))

        result: list[torch.Tensor | None] = [None, None]
        for i, h, cond in zip(streams, hiddens, conds, strict=True):
            result[i] = _norm(models[i].norm, h, cond)[0]
        return result, (tuple(new_cache) if return_key_values else None)


def _norm(norm: nn.Module, x: torch.Tensor, cond: torch.Tensor | None):
    from lerobot_recap.models.pi_gemma import apply_norm

    return apply_norm(norm, x, cond)


def _gated(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    from lerobot_recap.models.pi_gemma import gated_residual

    return gated_residual(x, y.to(x.dtype), gate)


def make_attention_2d(pad_masks: torch.Tensor, block_starts: torch.Tensor) -> torch.Tensor:
    """Boolean (B, N, N) attention from padding and block-start flags (big_vision's prefix-LM scheme).

    A token attends to every non-padding token whose block index (cumulative count of block starts) is not
    greater than its own: the prefix (images + prompt, one block) is bidirectional, the action chunk (a new
    block) sees the prefix and itself, and the prefix never sees the actions.
    """
    blocks = torch.cumsum(block_starts.to(torch.int64), dim=1)
    allowed = blocks[:, None, :] <= blocks[:, :, None]
    return allowed & (pad_masks[:, None, :] & pad_masks[:, :, None])


def additive_mask(allowed: torch.Tensor) -> torch.Tensor:
    """Boolean (B, Q, K) -> additive float (B, 1, Q, K)."""
    zero = torch.zeros((), dtype=torch.float32, device=allowed.device)
    blocked = torch.full((), ATTENTION_MASK_VALUE, dtype=torch.float32, device=allowed.device)
    return torch.where(allowed[:, None], zero, blocked)
