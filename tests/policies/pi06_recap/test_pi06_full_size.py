"""The full pi0.5 sizes build (on the meta device: no memory) with the parameter counts of LeRobot's pi05."""

from __future__ import annotations

import torch

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapModel


def _unique_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def test_full_size_parameter_counts_match_pi05():
    with torch.device("meta"):
        model = PI06RecapModel(PI06RecapConfig(device="cpu"))
    pwe = model.paligemma_with_expert
    # Reference counts (LeRobot 0.4.4 pi05 built on transformers 4.57, see reference/lerobot.md section 2.7)
    assert _unique_count(pwe.paligemma) == 2_923_335_408  # lm_head tied to the token embedding
    assert _unique_count(pwe.vision_tower) == 412_442_352
    assert _unique_count(pwe.paligemma.model.multi_modal_projector) == 2_361_344
    assert _unique_count(pwe.language_model) == 2_508_531_712
    # pi05's expert is 691,256,320 including an unused 257152x1024 lm_head, which is not allocated here
    assert _unique_count(pwe.gemma_expert) == 691_256_320 - 257_152 * 1024
    heads = (model.action_in_proj, model.action_out_proj, model.time_mlp_in, model.time_mlp_out)
    assert sum(_unique_count(h) for h in heads) == 2_165_792
    assert _unique_count(model) == 3_353_433_872
    layer = pwe.expert_model.layers[0]
    assert layer.input_layernorm.dense.weight.shape == (3 * 1024, 1024)  # adaptive norm: scale, shift, gate
    assert pwe.language_model.layers[0].self_attn.q_proj.weight.shape == (8 * 256, 2048)
