"""LeRobot's pi0.5 backbone (PaliGemma + a time-adaptive Gemma action expert) at any size, tiny ones included.

LeRobot 0.6 builds its ``PaliGemmaWithExpertModel`` for exactly two Gemma sizes (``gemma_2b`` and ``gemma_300m``,
looked up in a module-level table) with a fixed vocabulary and a fixed SigLIP so400m tower, so a model small enough
for CPU tests and the embedded default cannot be asked of it. :class:`SizedPaliGemmaWithExpert` subclasses it and
only replaces the constructor: it builds the same stock modules (transformers' PaliGemma with LeRobot's
``PiGemmaModel`` as language model, LeRobot's ``PiGemmaForCausalLM`` as the expert) from a :class:`GemmaSize`,
:class:`VisionSize` and vocabulary size. Everything that runs (the joint attention of both streams, embedding,
precision handling, freezing, gradient checkpointing) is LeRobot's own code, inherited.

At the full size the module has LeRobot's parameter names and shapes, so ``lerobot/pi05_*`` checkpoints load into
it, with one deliberate difference: the two language-model heads that pi0.5 never uses (PaliGemma's untied
``lm_head``, 527M parameters, and the expert's, 263M) are not built, which saves 3.2 GB of float32 weights. Loading
a pi05 checkpoint skips their keys by name (see ``modeling_pi06_recap.UNUSED_PI05_KEYS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lerobot.policies.pi05.modeling_pi05 import PaliGemmaWithExpertModel
from lerobot.policies.pi_gemma import PaliGemmaForConditionalGenerationWithPiGemma, PiGemmaForCausalLM
from torch import nn
from transformers import GemmaConfig, PaliGemmaConfig

JOINT_ATTENTION_HEADS = 8
"""LeRobot's joint attention of the two streams reshapes its output to 8 heads (modeling_pi05.compute_layer_complete)."""


@dataclass(frozen=True)
class GemmaSize:
    """Width and depth of one Gemma stream (openpi's ``gemma.Config`` fields)."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class VisionSize:
    """Size of the SigLIP vision tower."""

    hidden_size: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch_size: int


GEMMA_SIZES: dict[str, GemmaSize] = {
    "gemma_2b": GemmaSize(width=2048, depth=18, mlp_dim=16_384, num_heads=8, num_kv_heads=1, head_dim=256),
    "gemma_300m": GemmaSize(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256),
    "tiny": GemmaSize(width=64, depth=2, mlp_dim=128, num_heads=8, num_kv_heads=1, head_dim=8),
    "tiny_wide": GemmaSize(width=128, depth=2, mlp_dim=512, num_heads=8, num_kv_heads=1, head_dim=8),
}
"""pi0.5's pair (VLM gemma_2b, expert gemma_300m, as LeRobot's ``get_gemma_config``) and tiny sizes for CPU.
``tiny_wide`` is tiny with a wider residual stream and MLP (same attention shape, so it pairs with a tiny VLM as the
action expert: on the embedded task it reached 77% success after 1500 steps where ``tiny`` reached 25%)."""

VISION_SIZES: dict[str, VisionSize] = {
    "so400m": VisionSize(hidden_size=1152, depth=27, mlp_dim=4304, num_heads=16, patch_size=14),
    "tiny": VisionSize(hidden_size=32, depth=1, mlp_dim=64, num_heads=2, patch_size=14),
}
"""SigLIP so400m/14 (pi0.5's tower, with LeRobot's MLP width 4304) and a one-layer tower for CPU."""

PALIGEMMA_VOCAB_SIZE = 257_152


def paligemma_config(vlm: GemmaSize, vision: VisionSize, vocab_size: int, image_size: int) -> PaliGemmaConfig:
    """The transformers config of the prefix model: PaliGemma's defaults with the given sizes (float32)."""
    config = PaliGemmaConfig()
    config._vocab_size = vocab_size  # noqa: SLF001  (PaliGemmaConfig keeps the vocabulary size privately too)
    config.image_token_index = vocab_size
    text = config.text_config
    text.vocab_size = vocab_size
    text.hidden_size = vlm.width
    text.intermediate_size = vlm.mlp_dim
    text.num_hidden_layers = vlm.depth
    text.num_attention_heads = vlm.num_heads
    text.num_key_value_heads = vlm.num_kv_heads
    text.head_dim = vlm.head_dim
    text.hidden_activation = "gelu_pytorch_tanh"
    text.use_adarms = False
    text.adarms_cond_dim = None
    text.dtype = "float32"
    sight = config.vision_config
    sight.hidden_size = vision.hidden_size
    sight.intermediate_size = vision.mlp_dim
    sight.num_hidden_layers = vision.depth
    sight.num_attention_heads = vision.num_heads
    sight.patch_size = vision.patch_size
    sight.image_size = image_size
    sight.projection_dim = vlm.width  # the projector maps image features into the language model's width
    sight.projector_hidden_act = "gelu_fast"
    sight.dtype = "float32"
    return config


def action_expert_config(expert: GemmaSize, vocab_size: int) -> GemmaConfig:
    """The transformers config of the action expert: a Gemma whose norms adapt to the flow-matching time."""
    return GemmaConfig(
        vocab_size=vocab_size,
        hidden_size=expert.width,
        intermediate_size=expert.mlp_dim,
        num_hidden_layers=expert.depth,
        num_attention_heads=expert.num_heads,
        num_key_value_heads=expert.num_kv_heads,
        head_dim=expert.head_dim,
        hidden_activation="gelu_pytorch_tanh",
        dtype="float32",
        use_adarms=True,
        adarms_cond_dim=expert.width,
    )


def check_joint_attention(vlm: GemmaSize, expert: GemmaSize, vision: VisionSize, image_size: int) -> None:
    """Refuse sizes LeRobot's joint attention cannot run (it concatenates both streams' heads)."""
    shapes = {(s.num_heads, s.num_kv_heads, s.head_dim) for s in (vlm, expert)}
    if len(shapes) != 1:
        raise ValueError(
            f"the VLM {vlm} and the action expert {expert} must share num_heads, num_kv_heads and head_dim: "
            "their attention runs jointly"
        )
    if vlm.num_heads != JOINT_ATTENTION_HEADS:
        raise ValueError(f"LeRobot's pi0.5 attention needs {JOINT_ATTENTION_HEADS} heads, got {vlm.num_heads}")
    if image_size % vision.patch_size:
        raise ValueError(f"image size {image_size} is not a multiple of the SigLIP patch size {vision.patch_size}")


def init_decoder_projections(decoder: nn.Module) -> None:
    """Gemma's own initialization, normal(0, initializer_range), for the attention and MLP projections of a decoder.

    transformers initializes a model's weights as it builds it, but LeRobot's ``PiGemmaModel`` builds its decoder
    layers again afterwards, so they keep PyTorch's default initialization (std 0.07 at width 64, over three times
    Gemma's 0.02). Pretrained weights replace either; a model trained from scratch (the tiny size) learns from
    Gemma's. The adaptive norms keep LeRobot's initialization (a zero weight: time enters through the bias first).
    """
    std = decoder.config.initializer_range
    for layer in decoder.layers:
        for module in (*layer.self_attn.children(), *layer.mlp.children()):
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


class SizedPaliGemmaWithExpert(PaliGemmaWithExpertModel):
    """LeRobot's ``PaliGemmaWithExpertModel`` built at the given sizes; all its behaviour is inherited."""

    def __init__(
        self,
        vlm: GemmaSize,
        expert: GemmaSize,
        vision: VisionSize,
        vocab_size: int = PALIGEMMA_VOCAB_SIZE,
        image_size: int = 224,
        precision: Literal["bfloat16", "float32"] = "float32",
        freeze_vision_encoder: bool = False,
        train_expert_only: bool = False,
    ):
        # The parent constructor hard-codes LeRobot's two sizes; nn.Module's sets up the module registry instead.
        nn.Module.__init__(self)
        check_joint_attention(vlm, expert, vision, image_size)
        self.freeze_vision_encoder = freeze_vision_encoder
        self.train_expert_only = train_expert_only
        self.paligemma = PaliGemmaForConditionalGenerationWithPiGemma(
            config=paligemma_config(vlm, vision, vocab_size, image_size)
        )
        self.gemma_expert = PiGemmaForCausalLM(config=action_expert_config(expert, vocab_size))
        # Inputs of the expert are action embeddings and pi0.5 reads hidden states, never logits: no token
        # embedding for the expert (as LeRobot) and neither of the two vocabulary-sized heads (unlike LeRobot).
        self.gemma_expert.model.embed_tokens = None
        self.gemma_expert.lm_head = None
        self.paligemma.lm_head = None
        for decoder in (self.paligemma.model.language_model, self.gemma_expert.model):
            init_decoder_projections(decoder)
        self.to_bfloat16_for_selected_params(precision)
        self._set_requires_grad()
