"""SigLIP vision tower + Gemma3 language model over image tokens and a text prompt, on stock transformers classes.

This is the backbone of ``recap_value`` (the paper's ~670M value model: SigLIP so400m + Gemma3-270M). Every camera
image becomes a grid of SigLIP patch tokens, a linear projection maps them into Gemma3's embedding space, the
tokenized prompt follows, and Gemma3 runs over the whole prefix with bidirectional attention (a value function
reads, it never generates). The output is the masked mean of the last hidden states: one vector per sample.

Optionally (``state_dim``) a normalized proprioceptive state vector becomes one more token, a linear projection to
Gemma3's width placed between the image tokens and the prompt: there its position (and so its rotary phase) is the
same for every sample whatever the prompt's length, and the prompt's padding stays at the end of the sequence.
The output is then the masked mean followed by the state token's own last hidden state (``output_size`` is twice
the width): in a mean over some 50 tokens, most of them the same prompt for every frame, the one state token is
diluted to a few percent of the pooled vector, and a small model learned nothing from it in hundreds of steps.
Without ``state_dim`` no such parameter exists, so state-free checkpoints keep their parameter names.

Only what is used is built: ``SiglipVisionModel`` (no text tower, no ``logit_scale``/``logit_bias``; the MAP
pooling head is switched off since patch tokens are what the LM reads) and ``Gemma3TextModel`` (no LM head).
Unused parameters are what broke Evo-RL's multi-GPU value training under DDP.

transformers is imported lazily, inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

SIGLIP_MEAN = 0.5
SIGLIP_STD = 0.5
"""SigLIP normalizes pixels to [-1, 1]."""


@dataclass(frozen=True)
class BackboneSpec:
    """Where the two backbones come from and how big the tiny ones are."""

    vision: str
    """Hub id or local path of a SigLIP (or SigLIP2 fixed-resolution) checkpoint, or `tiny`."""
    language: str
    """Hub id or local path of a Gemma3 checkpoint (CausalLM or text model), or `tiny`."""
    image_size: int = 224
    load_weights: bool = True
    """False - build from the checkpoints' configs with random weights (the policy's own safetensors follow)."""
    tiny_vocab_size: int = 512


def tiny_vision_config(image_size: int):
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_channels=3,
        image_size=image_size,
        patch_size=max(image_size // 4, 1),
        vision_use_head=False,
    )


def tiny_language_config(vocab_size: int):
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )


SIGLIP_UNUSED_PREFIXES = ("text_model.", "logit_scale", "logit_bias", "vision_model.head.")
"""Parts of a SigLIP checkpoint the value model does not build (text tower, contrastive scale/bias, pooling head)."""


def load_strictly(model_class: type, source: str, config: Any, unused_prefixes: tuple[str, ...]) -> nn.Module:
    """``model_class.from_pretrained`` that refuses what transformers only warns about.

    transformers initializes missing weights randomly and drops unexpected ones with a log line; a value model
    trained on top of half-random backbones would look like a bad run, not a bad checkpoint. Here a missing key, a
    shape mismatch, an unexpected key outside ``unused_prefixes`` or an unreadable file is a ValueError naming them.
    """
    from safetensors import SafetensorError

    try:
        model, info = model_class.from_pretrained(source, config=config, output_loading_info=True)
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise ValueError(f"cannot load {model_class.__name__} weights from {source!r}: {err}") from err
    unexpected = [key for key in info["unexpected_keys"] if not key.startswith(unused_prefixes)]
    problems = {
        "missing": sorted(info["missing_keys"]),
        "unexpected": sorted(unexpected),
        "shape mismatches": sorted(str(item) for item in info["mismatched_keys"]),
    }
    if any(problems.values()):
        listing = "; ".join(f"{kind} ({len(keys)}): {', '.join(keys[:8])}" for kind, keys in problems.items() if keys)
        raise ValueError(f"{source!r} does not match a {model_class.__name__} of its own config: {listing}")
    return model


def build_vision_tower(spec: BackboneSpec) -> nn.Module:
    """A ``SiglipVisionModel`` without its pooling head, from a checkpoint or the tiny config."""
    from transformers import AutoConfig, SiglipVisionConfig, SiglipVisionModel

    if spec.vision == "tiny":
        return SiglipVisionModel(tiny_vision_config(spec.image_size))
    config = AutoConfig.from_pretrained(spec.vision)
    vision_config = getattr(config, "vision_config", config)
    if not isinstance(vision_config, SiglipVisionConfig):
        raise ValueError(
            f"{spec.vision} is a {type(vision_config).__name__} checkpoint, not SigLIP: pass a SigLIP vision "
            "checkpoint (e.g. google/siglip2-so400m-patch14-224) as --policy.vision_model"
        )
    vision_config.vision_use_head = False  # the LM reads patch tokens; an unused head breaks DDP
    if spec.load_weights:
        # A full SigLIP checkpoint also holds the text tower and the contrastive head: only those may go unread.
        return load_strictly(SiglipVisionModel, spec.vision, vision_config, SIGLIP_UNUSED_PREFIXES)
    return SiglipVisionModel(vision_config)


def build_language_model(spec: BackboneSpec) -> nn.Module:
    """A ``Gemma3TextModel`` (no LM head) with bidirectional attention, from a checkpoint or the tiny config."""
    from transformers import AutoConfig, Gemma3ForCausalLM, Gemma3TextConfig, Gemma3TextModel

    if spec.language == "tiny":
        config = tiny_language_config(spec.tiny_vocab_size)
        config.use_bidirectional_attention = True
        return Gemma3TextModel(config)
    config = AutoConfig.from_pretrained(spec.language)
    text_config = getattr(config, "text_config", config)
    if not isinstance(text_config, Gemma3TextConfig):
        raise ValueError(
            f"{spec.language} is a {type(text_config).__name__} checkpoint, not a Gemma3 text model: pass e.g. "
            "google/gemma-3-270m as --policy.language_model"
        )
    text_config.use_bidirectional_attention = True
    if not spec.load_weights:
        return Gemma3TextModel(text_config)
    # Gemma3-270M ships as a CausalLM: keep its decoder, drop the (tied) LM head.
    causal = load_strictly(Gemma3ForCausalLM, spec.language, text_config, ())
    model = causal.model
    del causal
    return model


class SiglipGemma3Encoder(nn.Module):
    """Images of several cameras + a tokenized prompt (+ a state) -> one vector per sample (``output_size`` wide)."""

    def __init__(self, spec: BackboneSpec, state_dim: int | None = None):
        super().__init__()
        self.spec = spec
        self.vision = build_vision_tower(spec)
        self.language = build_language_model(spec)
        vision_width = self.vision.config.hidden_size
        self.hidden_size = self.language.config.hidden_size
        self.image_projection = nn.Linear(vision_width, self.hidden_size)
        nn.init.normal_(self.image_projection.weight, std=0.02)
        nn.init.zeros_(self.image_projection.bias)
        # Text embeddings are scaled by sqrt(width) inside Gemma3's embedding; projected image tokens are not, so
        # they start at a comparable magnitude only if scaled the same way.
        self.image_scale = self.hidden_size**0.5
        self.state_dim = state_dim
        self.output_size = self.hidden_size * (2 if state_dim is not None else 1)
        """Width of :meth:`forward`'s output: the pooled vector, and with a state its token's output after it."""
        if state_dim is not None:
            self.state_projection = nn.Linear(state_dim, self.hidden_size)
            nn.init.normal_(self.state_projection.weight, std=0.02)
            nn.init.zeros_(self.state_projection.bias)

    @property
    def vocab_size(self) -> int:
        return self.language.config.vocab_size

    def embed_images(self, images: list[torch.Tensor]) -> torch.Tensor:
        """Camera images (each (B, 3, H, W) in [0, 1], already at the tower's size) -> (B, n_cams*P, D)."""
        stacked = torch.cat(images, dim=0)  # one tower pass for every camera
        pixels = (stacked - SIGLIP_MEAN) / SIGLIP_STD
        dtype = next(self.vision.parameters()).dtype
        patches = self.vision(pixel_values=pixels.to(dtype)).last_hidden_state
        tokens = self.image_projection(patches.to(self.image_projection.weight.dtype)) * self.image_scale
        batch = images[0].shape[0]
        per_camera = tokens.split(batch, dim=0)
        return torch.cat(per_camera, dim=1)

    def embed_state(self, state: torch.Tensor) -> torch.Tensor:
        """A normalized state (B, state_dim) -> one token (B, 1, D), scaled like the image tokens."""
        if state.ndim != 2 or state.shape[1] != self.state_dim:
            raise ValueError(
                f"the value model reads a {self.state_dim}-dim observation.state, got a tensor of shape "
                f"{tuple(state.shape)}: use a dataset recorded with the same robot state"
            )
        weight = self.state_projection.weight
        return (self.state_projection(state.to(weight.device, weight.dtype)) * self.image_scale).unsqueeze(1)

    def forward(
        self,
        images: list[torch.Tensor],
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if (state is None) != (self.state_dim is None):
            raise ValueError(
                "this encoder reads the state: pass it" if state is None else "this encoder has no state input"
            )
        prefix = [self.embed_images(images)]
        if state is not None:
            prefix.append(self.embed_state(state))
        text_tokens = self.language.embed_tokens(input_ids)
        prefix_tokens = torch.cat(prefix, dim=1)
        embeds = torch.cat([prefix_tokens.to(text_tokens.dtype), text_tokens], dim=1)
        prefix_mask = torch.ones(prefix_tokens.shape[:2], dtype=attention_mask.dtype, device=attention_mask.device)
        mask = torch.cat([prefix_mask, attention_mask], dim=1)
        hidden = self.language(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        if state is None:
            return pooled
        state_position = prefix_tokens.shape[1] - 1  # the state token closes the prefix
        return torch.cat([pooled, hidden[:, state_position]], dim=-1)


def reference_full_configs():
    """The architectures of google/siglip2-so400m-patch14-224 (vision) and google/gemma-3-270m, written out.

    For sizing and offline benchmarks only (e.g. a GPU machine with no Hub access): real runs load the configs
    and weights of the checkpoints named in the policy config.
    """
    from transformers import Gemma3TextConfig, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        vision_use_head=False,
    )
    language = Gemma3TextConfig(
        vocab_size=262_144,
        hidden_size=640,
        intermediate_size=2048,
        num_hidden_layers=18,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=256,
        sliding_window=512,
        rope_theta=1_000_000.0,
        rope_local_base_freq=10_000.0,
        max_position_embeddings=32_768,
        query_pre_attn_scalar=256,
        layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(18)],
    )
    language.use_bidirectional_attention = True
    return vision, language
