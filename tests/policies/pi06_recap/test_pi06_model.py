"""pi06_recap's model: shapes, learning, guidance, dtypes, freezing, LoRA, the state token and the indicator embedding.

Attention masks, the KV cache and the Euler loop are LeRobot's (its pi05), checked against it in test_pi06_parity.py;
these tests cover what this project adds or configures.
"""

from __future__ import annotations

import pytest
import torch

from lerobot_recap.utils.config_errors import ConfigError


def test_shapes_and_reductions(make_policy, batch):
    policy = make_policy()
    actions = policy.predict_action_chunk(batch)
    assert actions.shape == (4, policy.config.chunk_size, 6)
    policy.train()
    loss, info = policy.forward(batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and len(info["loss_per_dim"]) == 6
    per_sample, _ = policy.forward(batch, reduction="none")
    assert per_sample.shape == (4,)
    action = policy.eval().select_action(batch)
    assert action.shape == (4, 6) and len(policy._action_queue) == policy.config.n_action_steps - 1


def test_tokens_are_padded_to_the_longest_prompt(make_policy, batch):
    policy = make_policy()
    prompts = ["short", "a much longer prompt with many more tokens in it", "x", "medium length prompt"]
    tokens = policy._with_tokens(batch, prompts)["observation.language.tokens"]
    masks = policy._with_tokens(batch, prompts)["observation.language.attention_mask"]
    assert tokens.shape == masks.shape and tokens.shape[0] == 4
    assert masks[1].all() and not masks[2].all()  # the longest prompt fills every position, the shortest does not


def test_loss_falls_when_overfitting_a_few_samples(make_policy, batch):
    """With the noise and flow time held fixed the flow-matching target is fixed: the network must fit it."""
    policy = make_policy(seed=0, indicator_dropout=0.0).train()
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(40):
        torch.manual_seed(0)  # the same noise and time at every step
        loss, _ = policy.forward(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.3 * first, (first, last)


def test_guidance_combines_the_conditional_and_unconditional_velocities(make_policy, batch):
    """One Euler step from t=1 moves the noise by -v: the guided chunk is x_u + beta (x_c - x_u) of the two plain ones."""
    beta = 2.5
    policy = make_policy(cfg_beta=beta, num_inference_steps=1).eval()
    cond_prompts, uncond_prompts = policy.inference_prompts(batch)
    assert all(", Advantage: positive;" in p for p in cond_prompts)
    assert all("Advantage" not in p for p in uncond_prompts)
    noise = torch.randn(4, 10, 8)
    guided = policy.predict_action_chunk(batch, noise=noise.clone())
    policy.config.cfg_beta = 1.0
    conditional = policy.predict_action_chunk(batch, noise=noise.clone())
    policy.config.inference_advantage = "none"
    unconditional = policy.predict_action_chunk(batch, noise=noise.clone())
    torch.testing.assert_close(guided, unconditional + beta * (conditional - unconditional), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(guided, conditional, atol=1e-4)


def test_guidance_without_given_noise_starts_both_halves_from_the_same_noise(make_policy, batch):
    """As lerobot-eval calls it (no noise): the guided chunk is still x_u + beta (x_c - x_u) from one noise draw."""
    beta = 2.0
    policy = make_policy(cfg_beta=beta, num_inference_steps=1).eval()
    drawn = []
    sample_noise = policy.model.sample_noise
    policy.model.sample_noise = lambda shape, device: drawn.append(sample_noise(shape, device)) or drawn[-1]
    guided = policy.predict_action_chunk(batch)
    assert [tuple(n.shape) for n in drawn] == [(4, 10, 8)]  # one observation's noise, shared by both halves
    noise = drawn[0]
    policy.config.cfg_beta = 1.0
    conditional = policy.predict_action_chunk(batch, noise=noise.clone())
    policy.config.inference_advantage = "none"
    unconditional = policy.predict_action_chunk(batch, noise=noise.clone())
    torch.testing.assert_close(guided, unconditional + beta * (conditional - unconditional), rtol=1e-4, atol=1e-5)


def test_bfloat16_trains_and_samples(make_policy, batch):
    policy = make_policy(dtype="bfloat16")
    pwe = policy.model.paligemma_with_expert
    language_model = pwe.paligemma.model.language_model
    assert language_model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert pwe.gemma_expert.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert pwe.paligemma.model.vision_tower.vision_model.embeddings.patch_embedding.weight.dtype == torch.float32
    assert language_model.layers[0].input_layernorm.weight.dtype == torch.float32
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
    vision = pwe.paligemma.model.vision_tower
    assert not any(p.requires_grad for p in vision.parameters())
    assert not vision.training and pwe.gemma_expert.training
    assert all(p.requires_grad for p in pwe.paligemma.model.language_model.parameters())

    policy = make_policy(train_expert_only=True).train()
    pwe = policy.model.paligemma_with_expert
    assert not any(p.requires_grad for p in pwe.paligemma.parameters())
    assert all(p.requires_grad for p in pwe.gemma_expert.parameters())
    loss, _ = policy.forward(batch)
    loss.backward()
    assert all(p.grad is None for p in pwe.paligemma.parameters())
    assert policy.model.action_out_proj.weight.grad is not None


def test_lora_needs_pretrained_weights(make_policy):
    with pytest.raises(ValueError, match="base_model"):
        make_policy().wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})


def test_default_lora_targets_are_pi05s(make_policy, write_pi05_checkpoint, batch):
    """LoRA with LeRobot's pi05 default targets: the expert's q/v projections and the action projections."""
    base = write_pi05_checkpoint(make_policy(seed=1))
    policy = make_policy(base_model=str(base))
    peft_policy = policy.wrap_with_peft(peft_cli_overrides={"method_type": "LORA", "r": 4})
    trainable = [n for n, p in peft_policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for module in ("gemma_expert.model.layers.0.self_attn.q_proj", "gemma_expert.model.layers.1.self_attn.v_proj",
                   "model.action_in_proj", "model.state_proj"):
        assert any(module in n for n in trainable), module
    assert not any("vision_tower" in n or "language_model" in n for n in trainable)
    loss, _ = peft_policy.train().forward(batch)
    loss.backward()
    grads = [p.grad for n, p in peft_policy.named_parameters() if p.requires_grad and "gemma_expert" in n]
    assert grads and all(g is not None for g in grads)


@pytest.mark.parametrize("state_token", [True, False])
def test_state_token_feeds_the_continuous_state_to_the_actions(make_policy, batch, state_token):
    """With the state token the chunk reads the continuous state itself; without it, only the prompt's bins."""
    policy = make_policy(state_token=state_token).eval()
    nudged = dict(batch, **{"observation.state": batch["observation.state"] + 0.05})  # same prompt, other state
    noise = torch.randn(4, 10, 8)
    base = policy.predict_action_chunk(batch, noise=noise.clone())
    moved = policy.predict_action_chunk(nudged, noise=noise.clone())
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
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    for _ in range(3):  # the adaptive norms' modulation starts at zero: the conditioning acts once it has moved
        loss, _ = policy.train().forward(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    grad = policy.model.indicator_embedding.weight.grad
    assert grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0 and grad[1].abs().sum() == 0  # codes -1 and +1 only
    assert not torch.allclose(chunk("positive"), chunk("negative"), atol=1e-5)


def test_relative_and_delta_actions_are_exclusive(make_config):
    with pytest.raises(ConfigError, match="pick one"):
        make_config(delta_actions=True, use_relative_actions=True)


def test_decoder_projections_start_from_gemmas_initialization(make_policy):
    """LeRobot's PiGemmaModel rebuilds its layers after transformers initialized them; the tiny size (trained from
    scratch) gets Gemma's normal(0, 0.02) back; the adaptive norms keep their zero weight."""
    policy = make_policy(seed=0)
    pwe = policy.model.paligemma_with_expert
    for decoder in (pwe.paligemma.model.language_model, pwe.gemma_expert.model):
        weights = torch.cat([decoder.layers[i].mlp.up_proj.weight.flatten() for i in range(len(decoder.layers))])
        assert abs(weights.std().item() - 0.02) < 0.002
    assert torch.count_nonzero(pwe.gemma_expert.model.layers[0].input_layernorm.dense.weight) == 0
