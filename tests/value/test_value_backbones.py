"""recap_value's backbones load Hugging Face checkpoints strictly: SigLIP(2) vision from a full SigLIP checkpoint and
Gemma3 from a CausalLM checkpoint, both written by transformers' own ``save_pretrained`` (tiny, offline)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Gemma3ForCausalLM, SiglipConfig, SiglipModel

from lerobot_recap.models.siglip_gemma3 import tiny_language_config
from tests.value.conftest import make_tiny_policy

VOCAB = 512  # the local tokenizer's default size


@pytest.fixture(scope="module")
def hub_checkpoints(tmp_path_factory):
    """A tiny SigLIP (text + vision towers, contrastive head) and a tiny Gemma3 CausalLM, as the Hub serves them."""
    root = tmp_path_factory.mktemp("hf_checkpoints")
    torch.manual_seed(0)
    siglip = SiglipModel(
        SiglipConfig(
            text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             vocab_size=100),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=8),
        )
    )
    siglip.save_pretrained(root / "siglip")
    gemma = Gemma3ForCausalLM(tiny_language_config(VOCAB))
    gemma.save_pretrained(root / "gemma3")
    return root, siglip, gemma


def _full_size_policy(annotated_root, root, **overrides):
    options = dict(size="full", vision_model=str(root / "siglip"), language_model=str(root / "gemma3"),
                   tokenizer_name="local", image_resolution=(32, 32), head_hidden_dim=32)
    options.update(overrides)
    return make_tiny_policy(annotated_root, **options)


def test_backbones_load_the_checkpoints_weights(annotated_root, hub_checkpoints):
    root, siglip, gemma = hub_checkpoints
    policy = _full_size_policy(annotated_root, root)
    encoder = policy.encoder
    assert torch.equal(encoder.vision.vision_model.embeddings.patch_embedding.weight,
                       siglip.vision_model.embeddings.patch_embedding.weight)
    assert torch.equal(encoder.language.layers[1].mlp.up_proj.weight, gemma.model.layers[1].mlp.up_proj.weight)
    assert encoder.language.config.use_bidirectional_attention  # a value function reads, it never generates
    assert not hasattr(encoder.vision.vision_model, "head")  # the pooling head is not built
    value = policy.predict_value({
        "observation.images.top": torch.rand(2, 3, 32, 32), "task": ["pick", "place"],
    })
    assert value.shape == (2,) and ((value >= -1) & (value <= 0)).all()


@pytest.mark.parametrize(
    ("which", "key", "needle"),
    [
        ("gemma3", "model.layers.0.mlp.up_proj.weight", "missing (1): model.layers.0.mlp.up_proj.weight"),
        ("siglip", "vision_model.encoder.layers.1.mlp.fc1.weight", "missing (1)"),
    ],
)
def test_a_missing_weight_is_an_error_not_a_random_init(annotated_root, hub_checkpoints, tmp_path, which, key, needle):
    import shutil

    root, _, _ = hub_checkpoints
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    weights = load_file(str(broken / which / "model.safetensors"))
    del weights[key]
    save_file(weights, str(broken / which / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _full_size_policy(annotated_root, broken)


def test_an_unexpected_weight_or_an_unreadable_file_is_an_error(annotated_root, hub_checkpoints, tmp_path):
    import shutil

    root, _, _ = hub_checkpoints
    extra = tmp_path / "extra"
    shutil.copytree(root, extra)
    weights = load_file(str(extra / "gemma3" / "model.safetensors"))
    weights["model.some_adapter.weight"] = torch.zeros(2)
    save_file(weights, str(extra / "gemma3" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"unexpected \(1\): model.some_adapter.weight"):
        _full_size_policy(annotated_root, extra)

    garbage = tmp_path / "garbage"
    shutil.copytree(root, garbage)
    (garbage / "siglip" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="cannot load SiglipVisionModel weights"):
        _full_size_policy(annotated_root, garbage)


def test_a_language_checkpoint_that_is_not_gemma3_is_refused(annotated_root, hub_checkpoints):
    root, _, _ = hub_checkpoints
    with pytest.raises(ValueError, match="not a Gemma3 text model"):
        _full_size_policy(annotated_root, root, language_model=str(root / "siglip"))
