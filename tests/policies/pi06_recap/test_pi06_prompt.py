"""The advantage clause: text, position in the tokens, dropout, inference choice; the prompt-head processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import build_prompt, indicator_clause
from lerobot_recap.policies.pi06_recap.processor_pi06_recap import (
    Pi06RecapPromptStep,
    discretize_state,
    make_pi06_recap_pre_post_processors,
)

HEAD = "Task: pick up the cube, State: 3 128 255"
PI05_PROMPT = HEAD + ";\nAction: "
"""What LeRobot's pi05 prompt step writes (the 0.1 prompt step wrote HEAD alone)."""


def test_clause_text_for_each_code():
    for head in (PI05_PROMPT, HEAD):
        assert build_prompt(head, 1) == HEAD + ", Advantage: positive;\nAction: "
        assert build_prompt(head, -1) == HEAD + ", Advantage: negative;\nAction: "
        assert build_prompt(head, 0) == PI05_PROMPT  # none omits the clause: pi0.5's own prompt
    assert indicator_clause((1, -1)) == ", Left advantage: positive, Right advantage: negative"
    assert indicator_clause((0, 0)) == ""
    with pytest.raises(KeyError):
        indicator_clause(2)


def test_training_prompts_follow_adv_ind_and_sit_between_state_and_action(make_policy, batch_factory):
    policy = make_policy(indicator_dropout=0.0).train()
    batch = batch_factory(3)
    batch["adv_ind"] = torch.tensor([[1], [-1], [0]])
    prompts, codes = policy.training_prompts(batch)
    assert codes == [1, -1, 0]
    assert prompts[0].endswith(", Advantage: positive;\nAction: ")
    assert prompts[1].endswith(", Advantage: negative;\nAction: ")
    assert "Advantage" not in prompts[2]
    encoded = policy._with_tokens(batch, prompts)
    tokens, masks = encoded["observation.language.tokens"], encoded["observation.language.attention_mask"]
    for prompt, row, mask in zip(prompts, tokens, masks, strict=True):
        decoded = policy.tokenizer.decode(row[mask], skip_special_tokens=True)
        assert decoded == prompt  # the clause is in the model's input tokens, nothing truncated
        if "Advantage" in decoded:
            assert decoded.index("State:") < decoded.index("Advantage:") < decoded.index("Action:")
    positive, none = tokens[0][masks[0]], tokens[2][masks[2]]
    assert len(positive) > len(none)
    # The tokens before the clause are the same with or without it (only the tail differs).
    head_len = len(policy.tokenizer(batch["task"][0].removesuffix(";\nAction: "))["input_ids"]) - 1
    assert torch.equal(positive[:head_len], tokens[0][:head_len])


def test_indicator_dropout(make_policy, batch_factory):
    batch = batch_factory(1)
    big = {**batch, "task": batch["task"] * 2000, "adv_ind": torch.ones(2000, 1, dtype=torch.long)}
    torch.manual_seed(0)
    _, codes = make_policy(indicator_dropout=0.3).train().training_prompts(big)
    assert 0.26 < 1 - np.mean(codes) < 0.34
    _, codes = make_policy(indicator_dropout=1.0).train().training_prompts(big)
    assert set(codes) == {0}
    _, codes = make_policy(indicator_dropout=0.3).eval().training_prompts(big)  # no dropout outside training
    assert set(codes) == {1}


def test_bad_codes_and_missing_labels(make_policy, batch_factory, caplog):
    policy = make_policy().train()
    batch = batch_factory(2)
    batch["adv_ind"] = torch.tensor([1, 5])
    with pytest.raises(ValueError, match=r"\+1/-1/0"):
        policy.training_prompts(batch)
    del batch["adv_ind"]
    _, codes = policy.training_prompts(batch)
    assert codes == [0, 0] and "no adv_ind labels" in caplog.text


@pytest.mark.parametrize(("advantage", "expected"), [("positive", ", Advantage: positive;"),
                                                     ("negative", ", Advantage: negative;"), ("none", None)])
def test_inference_clause(make_policy, batch, advantage, expected):
    cond, uncond = make_policy(inference_advantage=advantage).inference_prompts(batch)
    assert uncond is None  # cfg_beta = 1: no guidance
    for prompt in cond:
        assert (expected in prompt) if expected else ("Advantage" not in prompt)


def test_per_arm_clause(make_policy, batch_factory):
    policy = make_policy(per_arm_indicator=True, indicator_dropout=0.0).train()
    batch = batch_factory(2)
    batch["adv_ind"] = torch.tensor([1, -1])  # no per-arm columns: the frame code applies to both arms
    prompts, codes = policy.training_prompts(batch)
    assert codes == [(1, 1), (-1, -1)]
    assert ", Left advantage: positive, Right advantage: positive;" in prompts[0]
    cond, _ = policy.inference_prompts(batch)
    assert ", Left advantage: positive, Right advantage: positive;" in cond[0]


def test_legacy_prompt_step_discretises_normalised_state():
    """lerobot-recap 0.1's prompt step (kept for its checkpoints): padded, clipped bins and no action marker."""
    assert discretize_state(np.array([-1.0, -0.999, 0.0, 0.999, 1.0, 3.0])).tolist() == [0, 0, 128, 255, 255, 255]
    step = Pi06RecapPromptStep(max_state_dim=4)
    from lerobot.lerobot_types import TransitionKey

    transition = {
        TransitionKey.OBSERVATION: {"observation.state": torch.tensor([[-1.0, 1.0]])},
        TransitionKey.COMPLEMENTARY_DATA: {"task": ["pick_up the\ncube "]},
    }
    out = step(transition)
    assert out[TransitionKey.COMPLEMENTARY_DATA]["task"] == ["Task: pick up the cube, State: 0 255 128 128"]
    with pytest.raises(ValueError, match="no 'observation.state'"):
        step({TransitionKey.OBSERVATION: {}, TransitionKey.COMPLEMENTARY_DATA: {"task": ["x"]}})


def test_processors_on_a_real_dataset(make_config, make_dataset):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_recap.data.synthetic import SyntheticDatasetSpec, random_episodes

    root = make_dataset("pi06_proc", spec=SyntheticDatasetSpec(episodes=random_episodes(2, seed=1), image_size=(24, 32)))
    dataset = LeRobotDataset("local/pi06_proc", root=root)
    config = make_config()
    pre, post = make_pi06_recap_pre_post_processors(config, dataset_stats=dataset.meta.stats)
    frame = dataset[0]
    out = pre({k: v for k, v in frame.items()})
    head = out["task"][0]
    # LeRobot's pi05 prompt: the state's own 6 dims in 256 bins, then the action marker
    assert head.startswith(f"Task: {frame['task']}, State: ") and head.endswith(";\nAction: ")
    assert len(head.split("State: ")[1].removesuffix(";\nAction: ").split()) == 6
    action = post(torch.zeros(1, 6))
    assert action.shape == (1, 6)

    stats = {k: dict(v) for k, v in dataset.meta.stats.items()}
    del stats["action"]["q01"]
    with pytest.raises(ValueError, match="lack \\['q01'\\].*MEAN_STD"):
        make_pi06_recap_pre_post_processors(config, dataset_stats=stats)
