"""Gemma pieces for pi0.5-class models, built on stock ``transformers`` 4.57 classes.

pi0.5's action expert is a Gemma whose RMSNorms are *adaptive* on the flow-matching time: the norm's scale and
shift come from a linear map of a conditioning vector, and a third output gates the residual branch. Stock Gemma
has none of this, and LeRobot 0.4.4 only gets it from an uninstallable transformers fork. Here the stock
``GemmaModel`` is subclassed: its decoder layers keep the stock attention and MLP modules (so parameter names match
LeRobot's pi05 checkpoints), and only the norms are swapped for :class:`AdaptiveRMSNorm`.

The stock ``GemmaModel.forward`` is never called: it multiplies embeddings by sqrt(width) and mutates the KV cache,
both wrong for pi0.5. The joint forward lives in :mod:`lerobot_recap.models.paligemma_with_expert`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.gemma.configuration_gemma import GemmaConfig
from transformers.models.gemma.modeling_gemma import GemmaModel


class AdaptiveRMSNorm(nn.Module):
    """RMSNorm whose scale/shift come from a conditioning vector; also returns a gate for the residual branch.

    The only parameters are ``dense.weight``/``dense.bias`` (the names pi05 checkpoints use). The weight starts at
    zero, as in pi05, so at initialisation the modulation does not depend on the time and comes from the bias alone.
    """

    def __init__(self, dim: int, cond_dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.dense = nn.Linear(cond_dim, 3 * dim, bias=True)
        nn.init.zeros_(self.dense.weight)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Normalise in fp32 whatever the activation dtype (bf16 variance is too coarse).
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        modulation = self.dense(cond.to(self.dense.weight.dtype)).float()
        if modulation.dim() == 2:  # one cond per sample, broadcast over the sequence
            modulation = modulation[:, None, :]
        scale, shift, gate = modulation.chunk(3, dim=-1)
        return (normed * (1.0 + scale) + shift).to(x.dtype), gate.to(x.dtype)


def apply_norm(norm: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run a plain (``GemmaRMSNorm``) or adaptive norm; returns ``(normed, gate or None)``."""
    if isinstance(norm, AdaptiveRMSNorm):
        if cond is None:
            raise ValueError("an adaptive RMSNorm needs the flow-matching time conditioning (adarms_cond)")
        return norm(x, cond)
    return norm(x), None


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    """``x + y * gate``; a plain residual where the norm has no gate."""
    return x + y if gate is None else x + y * gate


class PiGemmaModel(GemmaModel):
    """A stock ``GemmaModel`` whose norms are adaptive (when ``adaptive``) and that has no token embedding.

    Used for the action expert: its inputs are action embeddings, never tokens, so ``embed_tokens`` is dropped
    (pi05 sets it to None too), which keeps the expert's state dict free of an unused vocabulary matrix.
    """

    def __init__(self, config: GemmaConfig, adaptive: bool = True):
        super().__init__(config)
        self.embed_tokens = None
        if adaptive:
            width, eps = config.hidden_size, config.rms_norm_eps
            for layer in self.layers:
                layer.input_layernorm = AdaptiveRMSNorm(width, width, eps)
                layer.post_attention_layernorm = AdaptiveRMSNorm(width, width, eps)
            self.norm = AdaptiveRMSNorm(width, width, eps)

    def get_input_embeddings(self):  # the stock accessor would return None and confuse PEFT / resize helpers
        return None


class ActionExpert(nn.Module):
    """Holder whose single child is named ``model``, so the expert's keys read ``gemma_expert.model.*`` as in pi05.

    LeRobot 0.4.4 builds a full ``GemmaForCausalLM`` here and keeps its 257152-row ``lm_head`` (263M parameters at
    the 300M size) although nothing reads it; this project does not allocate it, and the checkpoint loader drops
    that one known-unused key.
    """

    def __init__(self, config: GemmaConfig, adaptive: bool = True):
        super().__init__()
        self.config = config
        self.model = PiGemmaModel(config, adaptive=adaptive)
