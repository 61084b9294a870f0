"""``--policy.size=tiny``: one flag for the CPU size, with user overrides kept and an offline tokenizer."""

import pytest

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import (
    LOCAL_TOKENIZER,
    TINY_PRESET,
    PI06RecapConfig,
)
from lerobot_recap.utils.config_errors import ConfigError


def test_tiny_preset_fills_every_size_field():
    config = PI06RecapConfig(size="tiny", device="cpu")
    for name, value in TINY_PRESET.items():
        assert getattr(config, name) == value, name
    full = PI06RecapConfig(device="cpu")
    assert full.paligemma_variant == "gemma_2b" and full.tokenizer_name != LOCAL_TOKENIZER


def test_tiny_preset_keeps_what_the_user_set():
    config = PI06RecapConfig(size="tiny", device="cpu", chunk_size=20, n_action_steps=5, image_resolution=[56, 56])
    assert (config.chunk_size, config.n_action_steps, tuple(config.image_resolution)) == (20, 5, (56, 56))
    assert config.paligemma_variant == "tiny"
    # A value equal to the full size's default is still the user's choice, not a field to fill.
    config = PI06RecapConfig(size="tiny", device="cpu", num_inference_steps=10, tokenizer_max_length=200)
    assert (config.num_inference_steps, config.tokenizer_max_length) == (10, 200)


def test_saved_config_reloads_with_the_same_values(tmp_path):
    from lerobot.configs.policies import PreTrainedConfig

    config = PI06RecapConfig(size="tiny", device="cpu", num_inference_steps=10)
    config.save_pretrained(tmp_path)
    reloaded = PreTrainedConfig.from_pretrained(tmp_path)
    for name in TINY_PRESET:
        assert getattr(reloaded, name) == getattr(config, name) or list(getattr(reloaded, name)) == list(
            getattr(config, name)
        ), name


def test_unknown_size_is_refused():
    with pytest.raises(ConfigError, match="size"):
        PI06RecapConfig(size="huge", device="cpu")


def test_local_tokenizer_covers_the_embedded_task_prompt(make_policy):
    policy = make_policy(tokenizer_name=LOCAL_TOKENIZER, tokenizer_max_length=96)
    prompt = (
        "Task: hand the cube from the left arm to the right arm and place it on the green target, State: "
        + " ".join(["255"] * 14)
        + ", Left advantage: positive, Right advantage: negative;\nAction: "
    )
    ids = policy.tokenizer(prompt)["input_ids"]
    assert len(ids) <= 96
    assert max(ids) < policy.config.vlm_vocab_size
    assert policy.tokenizer.decode(ids, skip_special_tokens=True) == prompt
