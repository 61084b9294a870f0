"""Checkpoints: save -> load gives identical actions; pi05-layout weights load strictly; labels by frame index."""

from __future__ import annotations

import shutil

import pytest
import torch

from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy


def test_save_load_identical_actions_offline(make_policy, batch, tmp_path, tokenizer_dir):
    tok_copy = tmp_path / "tok_copy"
    shutil.copytree(tokenizer_dir, tok_copy)
    policy = make_policy(seed=5, tokenizer_name=str(tok_copy)).eval()
    noise = torch.randn(4, 10, 8)
    before = policy.predict_action_chunk(batch, noise=noise)
    policy.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    assert (tmp_path / "ckpt" / "tokenizer" / "tokenizer.json").is_file()
    shutil.rmtree(tok_copy)  # the checkpoint must not depend on where its tokenizer came from
    loaded = PI06RecapPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.config.chunk_size == 10 and not loaded.training
    assert torch.equal(loaded.predict_action_chunk(batch, noise=noise), before)


def test_own_checkpoint_loads_strictly(make_policy, tmp_path):
    from safetensors.torch import load_file, save_file

    make_policy().save_pretrained(tmp_path / "ckpt")
    weights = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    weights.pop("model.action_out_proj.bias")
    save_file(weights, str(tmp_path / "ckpt" / "model.safetensors"))
    with pytest.raises(ValueError, match="missing model.action_out_proj.bias"):
        PI06RecapPolicy.from_pretrained(tmp_path / "ckpt")


def test_stock_pi05_checkpoint_loads_into_the_same_weights(make_policy, write_pi05_checkpoint, batch):
    """A checkpoint written by stock PI05Policy.save_pretrained gives back exactly its weights and actions."""
    source = make_policy(seed=11, state_token=False).eval()
    folder = write_pi05_checkpoint(source)
    target = make_policy(seed=99, state_token=False, base_model=str(folder)).eval()
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    noise = torch.randn(4, 10, 8)
    assert torch.equal(target.predict_action_chunk(batch, noise=noise), source.predict_action_chunk(batch, noise=noise))
    # the file itself works too, and so do openpi-style key names (LeRobot's key fixing renames them)
    make_policy(base_model=str(folder / "model.safetensors"))

    def openpi_names(state):
        for key in list(state):
            if ".time_mlp_" in key:
                state[key.replace("model.time_mlp_", "action_time_mlp_")] = state.pop(key)

    renamed = make_policy(seed=98, state_token=False, base_model=str(write_pi05_checkpoint(source, "openpi", openpi_names)))
    assert torch.equal(renamed.model.time_mlp_in.weight, source.model.time_mlp_in.weight)


def test_pi05_weights_load_under_recap_parameters(make_policy, write_pi05_checkpoint):
    """pi0.5 has no state token or indicator embedding: its weights load strictly, those keep their fresh init."""
    source = make_policy(seed=11, state_token=False, indicator_conditioning=False)
    folder = write_pi05_checkpoint(source)
    fresh = make_policy(seed=99, state_token=True, indicator_conditioning=True)
    target = make_policy(seed=99, state_token=True, indicator_conditioning=True, base_model=str(folder))
    for name, value in target.state_dict().items():
        recap_own = name.startswith(("model.state_proj.", "model.indicator_embedding."))
        expected = fresh.state_dict()[name] if recap_own else source.state_dict()[name]
        assert torch.equal(value, expected), name


def test_pi05_loading_is_strict(make_policy, write_pi05_checkpoint):
    """LeRobot's own pi05 loader prints and keeps random weights; here every mismatch is an error naming it."""
    source = make_policy()

    def drop(state):
        del state["model.paligemma_with_expert.gemma_expert.model.layers.1.mlp.up_proj.weight"]

    def extra(state):
        state["model.some_new_head.weight"] = torch.zeros(3)

    def reshape(state):
        state["model.action_in_proj.weight"] = torch.zeros(64, 32)

    for mutate, needle in ((drop, "missing (1)"), (extra, "unexpected (1)"), (reshape, "shape mismatches (1)")):
        folder = write_pi05_checkpoint(source, name=mutate.__name__, mutate=mutate)
        with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")) as err:
            make_policy(base_model=str(folder))
        assert "--policy.paligemma_variant" in str(err.value)
    assert "layers.1.mlp.up_proj.weight" in _error(make_policy, write_pi05_checkpoint(source, "drop2", drop))
    # a base model that is not there, or not safetensors, is an error, never a silently random model
    with pytest.raises(FileNotFoundError, match="base_model"):
        make_policy(base_model=str(folder / "nope"))
    broken = folder / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot read .* as safetensors"):
        make_policy(base_model=str(broken))


def _error(make_policy, folder) -> str:
    with pytest.raises(ValueError) as err:
        make_policy(base_model=str(folder))
    return str(err.value)


def test_training_reads_adv_ind_by_frame_index(make_config, make_dataset, tmp_path):
    """Stock lerobot-train drops adv_ind from the batch; the policy reads it from the dataset by ``index``."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.data.annotate import AnnotateConfig, annotate_dataset
    from lerobot_recap.data.frame_labels import FrameLabels

    source = make_dataset("pi06_labels")
    annotated = tmp_path / "pi06_labels_recap"
    annotate_dataset(AnnotateConfig(root=source, output_root=annotated), progress=False)
    dataset = LeRobotDataset("local/pi06_labels_recap", root=annotated)
    policy = PI06RecapPolicy(make_config(indicator_dropout=0.0), dataset_meta=dataset.meta).train()
    table = FrameLabels.from_dataset_root(annotated, names=("adv_ind",))
    index = torch.arange(len(dataset))
    batch = {"task": ["Task: t, State: 1"] * len(index), "index": index}
    prompts, codes = policy.training_prompts(batch)
    expected = table.lookup(index.numpy())["adv_ind"].reshape(-1).tolist()
    assert codes == expected and {1} <= set(codes)
    for prompt, code in zip(prompts, codes, strict=True):
        assert ("Advantage: positive" in prompt) == (code == 1)
        assert ("Advantage: negative" in prompt) == (code == -1)
