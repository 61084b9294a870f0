"""recap_value with the optional state input (--policy.state_token): the model, its processors, the checkpoint, label."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from lerobot.utils.constants import OBS_STATE

from lerobot_recap.policies.recap_value.modeling_recap_value import RecapValuePolicy
from lerobot_recap.policies.recap_value.processor_recap_value import make_recap_value_pre_post_processors
from tests.value.conftest import make_tiny_policy

STATE_PARAMS = {"encoder.state_projection.weight", "encoder.state_projection.bias"}


def _raw_batch(root, size=12):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/value", root=root)
    loader = torch.utils.data.DataLoader(dataset, batch_size=size, shuffle=True, generator=torch.Generator().manual_seed(0))
    return next(iter(loader))


def _far_stats(dim: int) -> dict:
    """State stats far from the data's (sin values in [-1, 1]), so normalized and raw states differ a lot."""
    return {OBS_STATE: {"mean": np.full(dim, 0.5, np.float32), "std": np.full(dim, 0.1, np.float32)}}


def _state_model(root, seed=0):
    torch.manual_seed(seed)
    policy = make_tiny_policy(root, state_token=True, val_fraction=0.0, head_dropout=0.0)
    # Random small weights give near-uniform bins (V ~ -0.5 whatever the input): sharpen the projection and the
    # head's output layer so that a change of input visibly moves V.
    with torch.no_grad():
        policy.encoder.state_projection.weight.mul_(50.0)
        policy.head[-1].weight.mul_(50.0)
    return policy.eval()


def test_state_off_keeps_the_model_and_ignores_the_state(annotated_root):
    torch.manual_seed(0)
    off = make_tiny_policy(annotated_root, val_fraction=0.0).eval()
    on = make_tiny_policy(annotated_root, state_token=True, val_fraction=0.0)
    off_names = set(off.state_dict())
    assert set(on.state_dict()) == off_names | STATE_PARAMS
    assert not any("state" in name for name in off_names)
    assert off.config.state_token is False

    batch = _raw_batch(annotated_root)
    preprocessor, _ = make_recap_value_pre_post_processors(off.config)
    shifted = dict(batch, **{OBS_STATE: batch[OBS_STATE] + 3.0})
    torch.testing.assert_close(off.predict_value(preprocessor(batch)), off.predict_value(preprocessor(shifted)))


def test_state_on_changes_the_value_and_trains_the_projection(annotated_root):
    policy = _state_model(annotated_root)
    dim = policy.config.state_dim
    assert dim == 6
    preprocessor, _ = make_recap_value_pre_post_processors(policy.config, dataset_stats=_far_stats(dim))
    batch = _raw_batch(annotated_root)
    shifted = dict(batch, **{OBS_STATE: batch[OBS_STATE] + 0.5})
    values = policy.predict_value(preprocessor(batch))
    assert (values - policy.predict_value(preprocessor(shifted))).abs().max() > 1e-4

    policy.train()
    loss, _ = policy.forward(preprocessor(batch))
    loss.backward()
    assert policy.encoder.state_projection.weight.grad is not None
    assert policy.encoder.state_projection.weight.grad.abs().sum() > 0


def test_preprocessor_z_scores_the_state(annotated_root):
    policy = make_tiny_policy(annotated_root, state_token=True)
    preprocessor, _ = make_recap_value_pre_post_processors(policy.config, dataset_stats=_far_stats(6))
    batch = _raw_batch(annotated_root)
    out = preprocessor(batch)
    torch.testing.assert_close(out[OBS_STATE], (batch[OBS_STATE] - 0.5) / (0.1 + 1e-8))


def test_state_model_refuses_to_run_without_stats(annotated_root):
    policy = make_tiny_policy(annotated_root, state_token=True)
    with pytest.raises(ValueError, match="observation.state stats"):
        make_recap_value_pre_post_processors(policy.config)


def test_state_of_another_size_is_refused_clearly(annotated_root):
    policy = _state_model(annotated_root)
    preprocessor, _ = make_recap_value_pre_post_processors(policy.config, dataset_stats=_far_stats(6))
    batch = preprocessor(_raw_batch(annotated_root))
    batch[OBS_STATE] = batch[OBS_STATE][:, :4]
    with pytest.raises(ValueError, match="6-dim observation.state"):
        policy.predict_value(batch)


def test_state_token_needs_a_state_feature(annotated_root):
    from lerobot.configs.types import FeatureType, PolicyFeature

    from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

    config = RecapValueConfig(size="tiny", state_token=True)
    config.input_features = {"observation.images.top": PolicyFeature(type=FeatureType.VISUAL, shape=(3, 16, 16))}
    with pytest.raises(ValueError, match="state_token=false"):
        config.validate_features()


def test_lora_keeps_the_state_projection_trainable(annotated_root):
    pytest.importorskip("peft")
    policy = make_tiny_policy(annotated_root, state_token=True, val_fraction=0.0)
    wrapped = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert any("state_projection" in n for n in trainable)
    assert any("lora_A" in n and "language" in n for n in trainable)


@pytest.fixture(scope="module")
def state_checkpoint(annotated_root, tmp_path_factory):
    """A state_token checkpoint saved as lerobot-train saves one: the model plus its pre/post-processors."""
    policy = _state_model(annotated_root)
    preprocessor, postprocessor = make_recap_value_pre_post_processors(policy.config, dataset_stats=_far_stats(6))
    path = tmp_path_factory.mktemp("state_ckpt") / "pretrained_model"
    policy.save_pretrained(path)
    preprocessor.save_pretrained(path)
    postprocessor.save_pretrained(path)
    return path


def _stock_values(checkpoint, batch):
    """V through the stock loading path (make_pre_post_processors with the pretrained directory)."""
    from lerobot.policies.factory import make_pre_post_processors

    policy = RecapValuePolicy.from_pretrained(checkpoint).eval()
    preprocessor, _ = make_pre_post_processors(policy.config, pretrained_path=str(checkpoint))
    return policy, policy.predict_value(preprocessor(batch))


def test_state_checkpoint_round_trip(annotated_root, state_checkpoint):
    saved = json.loads((state_checkpoint / "config.json").read_text())
    assert saved["state_token"] is True
    assert saved["input_features"][OBS_STATE]["shape"] == [6]

    batch = _raw_batch(annotated_root)
    reloaded, stock = _stock_values(state_checkpoint, batch)
    assert reloaded.config.state_token and set(reloaded.state_dict()) >= STATE_PARAMS
    # The factory rebuilt from the checkpoint's config alone (what lerobot-recap-label does) finds the saved stats.
    reloaded.config.pretrained_path = state_checkpoint
    rebuilt, _ = make_recap_value_pre_post_processors(reloaded.config)
    torch.testing.assert_close(reloaded.predict_value(rebuilt(batch)), stock)
    # The same weights in a fresh model give the same values: nothing is lost in the round trip.
    fresh = _state_model(annotated_root, seed=1)
    fresh.load_state_dict(reloaded.state_dict())
    fresh_pre, _ = make_recap_value_pre_post_processors(fresh.config, dataset_stats=_far_stats(6))
    torch.testing.assert_close(fresh.predict_value(fresh_pre(batch)), stock)


def test_label_with_a_state_checkpoint_uses_its_saved_stats(annotated_root, state_checkpoint, tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.data import contract as C
    from lerobot_recap.data.dataset_io import read_frame_columns
    from lerobot_recap.data.label import LabelConfig, label_dataset

    label_dataset(
        LabelConfig(root=annotated_root, value_path=str(state_checkpoint), output_root=tmp_path / "labeled",
                    num_workers=0, batch_size=16, plots=False, progress=False, device="cpu")
    )
    columns = read_frame_columns(tmp_path / "labeled", ["index", C.VALUE])
    labeled = dict(zip(columns["index"].reshape(-1).tolist(), columns[C.VALUE].reshape(-1).tolist(), strict=True))

    dataset = LeRobotDataset("local/value", root=annotated_root)
    every = next(iter(torch.utils.data.DataLoader(dataset, batch_size=len(dataset))))
    policy, stock = _stock_values(state_checkpoint, every)
    got = torch.tensor([labeled[int(i)] for i in every["index"]])
    torch.testing.assert_close(got, stock, atol=1e-6, rtol=0)
    # And the state was normalized: the raw state would have given other values.
    raw = policy.predict_value(every)  # the same frames, state not normalized
    assert (raw - stock).abs().max() > 1e-4


def test_checkpoint_from_before_state_token_still_loads(annotated_root, tiny_checkpoint, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_checkpoint, old)
    config = json.loads((old / "config.json").read_text())
    config.pop("state_token")
    (old / "config.json").write_text(json.dumps(config))
    reloaded = RecapValuePolicy.from_pretrained(old)
    assert reloaded.config.state_token is False
    assert not any("state" in name for name in reloaded.state_dict())


def test_time_input_reads_the_elapsed_time_scaled_by_the_longest_episode(annotated_root):
    """--policy.time_input: the state token also carries timestamp / (L / fps); time then moves V."""
    from lerobot_recap.data.metadata import load_recap_metadata

    torch.manual_seed(0)
    policy = make_tiny_policy(annotated_root, time_input=True, val_fraction=0.0, head_dropout=0.0)
    longest = max(t.norm_length for t in load_recap_metadata(annotated_root).tasks.values())
    fps = json.loads((annotated_root / "meta" / "info.json").read_text())["fps"]
    assert policy.config.time_horizon_s == pytest.approx(longest / fps)
    assert policy.encoder.state_projection.in_features == 1  # time alone: no state token asked for
    with torch.no_grad():
        policy.encoder.state_projection.weight.mul_(50.0)
        policy.head[-1].weight.mul_(50.0)
    policy.eval()

    preprocessor, _ = make_recap_value_pre_post_processors(policy.config)
    batch = preprocessor(_raw_batch(annotated_root))
    state = policy._state(batch, batch["timestamp"].shape[0])
    torch.testing.assert_close(state[:, 0], batch["timestamp"].float() / policy.config.time_horizon_s)
    later = dict(batch, timestamp=batch["timestamp"] + policy.config.time_horizon_s / 2)
    assert (policy.predict_value(batch) - policy.predict_value(later)).abs().max() > 1e-4
    with pytest.raises(KeyError, match="timestamp"):
        policy.predict_value({k: v for k, v in batch.items() if k != "timestamp"})

    both = make_tiny_policy(annotated_root, time_input=True, state_token=True, val_fraction=0.0)
    assert both.encoder.state_projection.in_features == both.config.state_dim + 1
