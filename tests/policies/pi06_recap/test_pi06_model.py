"""The pi0.5 network on stock transformers: masks, joint vs cached attention, cache integrity, training, CFG."""

from __future__ import annotations

import pytest
import torch

from lerobot_recap.models.paligemma_with_expert import make_attention_2d


def _model_inputs(policy, batch, prompts=None):
    images, img_masks = policy._prepare_images(batch)
    if prompts is None:
        prompts, _ = policy.inference_prompts(batch)
    tokens, masks = policy._tokenize(prompts, images[0].device)
    return images, img_masks, tokens, masks


def test_block_attention_mask_is_prefix_lm():
    # 3 prefix tokens (last one padding) then a 2-token action block
    pad = torch.tensor([[True, True, False, True, True]])
    starts = torch.tensor([[False, False, False, True, False]])
    allowed = make_attention_2d(pad, starts)[0]
    assert allowed[0, 1] and allowed[1, 0]  # prefix is bidirectional
    assert not allowed[0, 3] and not allowed[1, 4]  # prefix never sees the actions
    assert allowed[3, 0] and allowed[4, 1] and allowed[3, 4] and allowed[4, 3]  # actions see prefix and each other
    assert not allowed[:, 2].any() and not allowed[2].any()  # padding neither attends nor is attended


def test_shapes_and_padding_mask(make_policy, batch):
    policy = make_policy()
    images, img_masks, tokens, masks = _model_inputs(policy, batch)
    assert images[0].shape == (4, 3, 28, 28)
    # Padded to the longest prompt of the batch (at most tokenizer_max_length), which fills its last position.
    assert tokens.shape == masks.shape and tokens.shape[0] == 4
    assert tokens.shape[1] <= policy.config.tokenizer_max_length and masks[:, -1].any()
    prefix, pad, starts = policy.model.embed_prefix(images, img_masks, tokens, masks)
    n_patches = (28 // 14) ** 2
    assert prefix.shape == (4, n_patches + tokens.shape[1], 64)
    assert pad[:, :n_patches].all() and torch.equal(pad[:, n_patches:], masks)
    assert not starts.any()
    actions = policy.predict_action_chunk(batch)
    assert actions.shape == (4, policy.config.chunk_size, 6)
    loss, info = policy.forward(batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and len(info["loss_per_dim"]) == 6
    per_sample, _ = policy.forward(batch, reduction="none")
    assert per_sample.shape == (4,)


def test_non_square_camera_is_padded_black_not_minus_three(make_policy, batch):
    policy = make_policy()
    batch["observation.images.top"] = torch.ones_like(batch["observation.images.top"])  # white 24x32 frame
    images, _ = policy._prepare_images(batch)
    image = images[0]
    assert image.min().item() == pytest.approx(-1.0)  # LeRobot 0.4.4 pads to -3 here
    assert image[:, :, 0, :].max().item() == pytest.approx(-1.0)  # top rows are padding (black)
    assert image[:, :, 14, :].min().item() == pytest.approx(1.0)  # middle rows are the white frame


def test_joint_pass_equals_cached_prefix_then_suffix(make_policy, batch):
    """The training path (one joint pass) and the inference path (prefix cache + suffix) give one velocity."""
    policy = make_policy().eval()
    prompts = ["short", "a much longer prompt with many more tokens in it", "x", "medium length prompt"]
    images, img_masks, tokens, masks = _model_inputs(policy, batch, prompts)
    x_t = torch.randn(4, 10, 8)
    time = torch.tensor([0.9, 0.5, 0.3, 0.05])
    state = policy._state_token_input(batch)
    with torch.no_grad():
        joint = policy.model.velocity(images, img_masks, tokens, masks, x_t, time, state)
        cache, prefix_pad = policy.model.prefix_cache(images, img_masks, tokens, masks)
        cached = policy.model.denoise_step(cache, prefix_pad, x_t, time, state)
    torch.testing.assert_close(cached, joint, rtol=1e-4, atol=1e-5)
    assert joint.abs().mean() > 1e-3  # a non-degenerate output


def test_kv_cache_is_unchanged_by_sampling(make_policy, batch):
    policy = make_policy().eval()
    images, img_masks, tokens, masks = _model_inputs(policy, batch)
    state = policy._state_token_input(batch)
    with torch.no_grad():
        cache, prefix_pad = policy.model.prefix_cache(images, img_masks, tokens, masks)
        snapshot = [(k.clone(), v.clone()) for k, v in cache]
        x_t = torch.randn(4, 10, 8)
        first = policy.model.denoise_step(cache, prefix_pad, x_t, torch.full((4,), 1.0), state)
        for step in range(5):
            policy.model.denoise_step(cache, prefix_pad, torch.randn(4, 10, 8), torch.full((4,), 0.8 - 0.1 * step), state)
        again = policy.model.denoise_step(cache, prefix_pad, x_t, torch.full((4,), 1.0), state)
    for (k, v), (k0, v0) in zip(cache, snapshot, strict=True):
        assert torch.equal(k, k0) and torch.equal(v, v0)
    assert torch.equal(first, again)
    noise = torch.randn(4, 10, 8)
    a = policy.model.sample_actions(images, img_masks, tokens, masks, noise=noise.clone(), state=state)
    b = policy.model.sample_actions(images, img_masks, tokens, masks, noise=noise.clone(), state=state)
    assert torch.equal(a, b)


def test_loss_falls_when_overfitting_a_few_samples(make_policy, batch):
    """With the noise and flow time held fixed the flow-matching target is fixed: the network must fit it."""
    torch.manual_seed(0)
    policy = make_policy(indicator_dropout=0.0).train()
    images, img_masks = policy._prepare_images(batch)
    tokens, masks = policy._tokenize(policy.training_prompts(batch)[0], images[0].device)
    actions = torch.nn.functional.pad(batch["action"], (0, policy.config.max_action_dim - batch["action"].shape[-1]))
    noise, time = torch.randn_like(actions), torch.tensor([0.9, 0.6, 0.4, 0.1])
    state = policy._state_token_input(batch)
    optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=2e-3)
    losses = []
    for _ in range(60):
        loss = policy.model(images, img_masks, tokens, masks, actions, noise=noise, time=time, state=state).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.2 * first, (first, last)


def test_cfg_beta_one_equals_conditional_exactly(make_policy, batch):
    policy = make_policy().eval()
    images, img_masks, cond_tokens, cond_masks = _model_inputs(policy, batch)
    uncond_prompts = [p.replace(", Advantage: positive", "") for p in policy.inference_prompts(batch)[0]]
    _, _, uncond_tokens, uncond_masks = _model_inputs(policy, batch, uncond_prompts)
    assert not torch.equal(cond_tokens, uncond_tokens)
    noise = torch.randn(4, 10, 8)
    state = policy._state_token_input(batch)
    plain = policy.model.sample_actions(images, img_masks, cond_tokens, cond_masks, noise=noise, state=state)
    guided = policy.model.sample_actions(
        images, img_masks, cond_tokens, cond_masks, noise=noise, state=state,
        uncond_tokens=uncond_tokens, uncond_masks=uncond_masks, cfg_beta=1.0,
    )
    assert torch.equal(plain, guided)


def test_cfg_combines_conditional_and_unconditional_velocities(make_policy, batch):
    beta = 2.5
    policy = make_policy(cfg_beta=beta, num_inference_steps=1).eval()
    cond_prompts, uncond_prompts = policy.inference_prompts(batch)
    assert all(", Advantage: positive;" in p for p in cond_prompts)
    assert all("Advantage" not in p for p in uncond_prompts)
    images, img_masks, ct, cm = _model_inputs(policy, batch, cond_prompts)
    _, _, ut, um = _model_inputs(policy, batch, uncond_prompts)
    noise = torch.randn(4, 10, 8)
    with torch.no_grad():
        one = torch.ones(4)
        state = policy._state_token_input(batch)
        v_c = policy.model.velocity(images, img_masks, ct, cm, noise, one, state)
        v_u = policy.model.velocity(images, img_masks, ut, um, noise, one, state)
    guided = policy.predict_action_chunk(batch, noise=noise)
    expected = (noise - (v_u + beta * (v_c - v_u)))[:, :, :6]  # one Euler step from t=1 to t=0
    torch.testing.assert_close(guided, expected, rtol=1e-4, atol=1e-5)
    unguided = make_policy(num_inference_steps=1).eval().predict_action_chunk(batch, noise=noise)
    assert not torch.allclose(guided, unguided, atol=1e-4)


def test_bfloat16_trains_and_samples(make_policy, batch):
    policy = make_policy(dtype="bfloat16")
    pwe = policy.model.paligemma_with_expert
    assert pwe.language_model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert pwe.expert_model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert pwe.vision_tower.vision_model.embeddings.patch_embedding.weight.dtype == torch.float32
    assert pwe.language_model.layers[0].input_layernorm.weight.dtype == torch.float32
    policy.train()
    loss, _ = policy.forward(batch)
    loss.backward()
    assert torch.isfinite(loss)
    actions = policy.predict_action_chunk(batch)
    assert actions.dtype == torch.float32 and torch.isfinite(actions).all()


def test_gradient_checkpointing_gives_the_same_gradients(make_policy, batch):
    grads = []
    for checkpointing in (False, True):
        policy = make_policy(seed=3, gradient_checkpointing=checkpointing, indicator_dropout=0.0).train()
        torch.manual_seed(7)
        loss, _ = policy.forward(batch)
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_freeze_options(make_policy, batch):
    policy = make_policy(freeze_vision_encoder=True).train()
    pwe = policy.model.paligemma_with_expert
    assert not any(p.requires_grad for p in pwe.vision_tower.parameters())
    assert not pwe.vision_tower.training and pwe.expert_model.training
    trainable = {id(p) for p in policy.get_optim_params()}
    assert not any(id(p) in trainable for p in pwe.vision_tower.parameters())
    assert all(p.requires_grad for p in pwe.language_model.parameters())

    policy = make_policy(train_expert_only=True).train()
    pwe = policy.model.paligemma_with_expert
    assert not any(p.requires_grad for p in pwe.paligemma.parameters())
    assert all(p.requires_grad for p in pwe.expert_model.parameters())
    loss, _ = policy.forward(batch)
    loss.backward()
    assert all(p.grad is None for p in pwe.paligemma.parameters())
    assert policy.model.action_out_proj.weight.grad is not None


def test_lora_needs_pretrained_weights(make_policy):
    with pytest.raises(ValueError, match="base_model"):
        make_policy().wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})


def test_default_lora_targets(make_policy, write_pi05_checkpoint, batch):
    base = write_pi05_checkpoint(make_policy(seed=1))
    policy = make_policy(base_model=str(base))
    peft_policy = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})
    trainable = [n for n, p in peft_policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for module in ("gemma_expert.model.layers.0.self_attn.q_proj", "language_model.layers.1.mlp.down_proj",
                   "model.action_in_proj", "model.time_mlp_out"):
        assert any(module in n for n in trainable), module
    assert not any("vision_tower" in n for n in trainable)
    loss, _ = peft_policy.forward(batch)
    loss.backward()
    # pi0.5 reads only the suffix output, so the VLM's last-layer o_proj/MLP get no gradient; the rest does.
    expert_grads = [p.grad for n, p in peft_policy.named_parameters() if p.requires_grad and "gemma_expert" in n]
    assert expert_grads and all(g is not None for g in expert_grads)
    assert peft_policy.base_model.model.model.paligemma_with_expert.language_model.layers[0].self_attn.q_proj.lora_A[
        "default"].weight.grad is not None


def test_padding_to_the_longest_prompt_changes_no_action(make_policy, batch):
    """Dynamic padding is exact: extra masked padding (as max_length padding adds) leaves the chunk unchanged."""
    policy = make_policy()
    images, img_masks, tokens, masks = _model_inputs(policy, batch)
    extra = 7
    padded_tokens = torch.cat([tokens, torch.zeros(tokens.shape[0], extra, dtype=tokens.dtype)], dim=1)
    padded_masks = torch.cat([masks, torch.zeros(masks.shape[0], extra, dtype=masks.dtype)], dim=1)
    noise = torch.randn(tokens.shape[0], policy.config.chunk_size, policy.config.max_action_dim)
    state = policy._state_token_input(batch)
    short = policy.model.sample_actions(images, img_masks, tokens, masks, noise=noise, state=state)
    long = policy.model.sample_actions(images, img_masks, padded_tokens, padded_masks, noise=noise, state=state)
    torch.testing.assert_close(short, long, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("state_token", [True, False])
def test_state_token_feeds_the_continuous_state_to_the_actions(make_policy, batch, state_token):
    """With the state token the velocity reads the continuous state itself; without, only the prompt's bins."""
    policy = make_policy(state_token=state_token).eval()
    images, img_masks, tokens, masks = _model_inputs(policy, batch)
    x_t, time = torch.randn(4, 10, 8), torch.full((4,), 0.5)
    nudged = dict(batch, **{"observation.state": batch["observation.state"] + 0.05})
    with torch.no_grad():
        base = policy.model.velocity(images, img_masks, tokens, masks, x_t, time, policy._state_token_input(batch))
        moved = policy.model.velocity(images, img_masks, tokens, masks, x_t, time, policy._state_token_input(nudged))
    assert hasattr(policy.model, "state_proj") == state_token
    assert (not torch.allclose(base, moved, atol=1e-6)) == state_token


def test_state_token_needs_the_state(make_policy, batch):
    policy = make_policy(state_token=True)
    del batch["observation.state"]
    with pytest.raises(ValueError, match="state_token"):
        policy.forward(batch)


def test_indicator_conditioning_reaches_the_action_expert(make_policy, batch_factory):
    """The optional indicator embedding starts as a no-op (zero init), trains, and then separates the clauses."""
    batch = batch_factory()
    policy = make_policy(indicator_conditioning=True, indicator_dropout=0.0)
    noise = torch.randn(4, 10, 8)

    def chunk(advantage: str) -> torch.Tensor:
        policy.config.inference_advantage = advantage
        return policy.eval().predict_action_chunk(batch, noise=noise.clone())

    plain = make_policy(indicator_conditioning=False).eval().predict_action_chunk(batch, noise=noise.clone())
    assert torch.equal(chunk("positive"), plain)  # zero-initialized: the same as without it
    batch["adv_ind"] = torch.tensor([1, -1, 1, -1])
    optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=1e-2)
    for _ in range(3):  # the adaptive norms' modulation starts at zero: the conditioning acts once it has moved
        loss, _ = policy.train().forward(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    grad = policy.model.indicator_embedding.weight.grad
    assert grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0 and grad[1].abs().sum() == 0  # codes -1 and +1 only
    assert not torch.allclose(chunk("positive"), chunk("negative"), atol=1e-5)
