"""Delta actions: joints predicted relative to the current state, grippers absolute; exact against the plain path."""

import torch

from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import default_delta_mask

MASK = [True, True, True, True, True, False]  # the last of the 6 action dims plays the gripper


def test_default_mask_keeps_grippers_absolute():
    names = ["left_joint_0.pos", "left_gripper.pos", "right_joint_0.pos", "right_gripper.pos"]
    assert default_delta_mask(names, 4) == [True, False, True, False]
    assert default_delta_mask({"motors": names}, 4) == [True, False, True, False]
    # Without names (or with a different count) every dim is a delta, with a warning.
    assert default_delta_mask(None, 3) == [True, True, True]
    assert default_delta_mask(names, 5) == [True] * 5


def _pair(make_policy):
    delta = make_policy(delta_actions=True, delta_action_mask=MASK, indicator_dropout=0.0)
    plain = make_policy(indicator_dropout=0.0)
    plain.load_state_dict(delta.state_dict())
    return delta, plain


def test_training_target_is_the_action_minus_the_state_on_delta_dims(make_policy, batch):
    delta, plain = _pair(make_policy)
    reference = batch["observation.state"] * torch.tensor(MASK, dtype=torch.float32)
    shifted = {**batch, "action": batch["action"] - reference[:, None, :]}
    torch.manual_seed(3)
    loss_delta, _ = delta.forward(batch)
    torch.manual_seed(3)
    loss_plain, _ = plain.forward(shifted)
    torch.testing.assert_close(loss_delta, loss_plain)


def test_sampled_chunk_adds_the_state_back(make_policy, batch):
    delta, plain = _pair(make_policy)
    noise = torch.randn(4, delta.config.chunk_size, delta.config.max_action_dim)
    with_delta = delta.predict_action_chunk(batch, noise=noise)
    without = plain.predict_action_chunk(batch, noise=noise)
    reference = batch["observation.state"] * torch.tensor(MASK, dtype=torch.float32)
    torch.testing.assert_close(with_delta, without + reference[:, None, :])
    # The gripper dim is untouched by the state.
    torch.testing.assert_close(with_delta[..., 5], without[..., 5])


def test_mask_is_filled_from_the_dataset_and_saved(make_config, tmp_path):
    from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy

    names = [f"j{i}.pos" for i in range(5)] + ["gripper.pos"]
    # make_policy copies the dataset's action names into the config (LeRobot does it for relative actions)
    policy = PI06RecapPolicy(make_config(delta_actions=True, action_feature_names=names))
    assert policy.config.delta_action_mask == MASK
    policy.config.save_pretrained(tmp_path)
    assert '"delta_action_mask"' in (tmp_path / "config.json").read_text()
