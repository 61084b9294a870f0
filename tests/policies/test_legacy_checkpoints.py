"""Checkpoints written by lerobot-recap 0.1 (LeRobot 0.4.4, transformers 4.57) under 0.2.

The fixtures in tests/fixtures/v0_1 were written by 0.1's own ``lerobot-train`` (tiny sizes, the embedded task's
flags); ``pi06_recap_tiny_reference_actions.pt`` holds 0.1's actions for a fixed observation and noise
(tests/fixtures/v0_1/make_reference_actions.py, run in a 0.1 environment).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from lerobot.policies.factory import make_pre_post_processors

from lerobot_recap.policies.legacy_checkpoints import check_not_legacy, convert_checkpoint
from tests.conftest import cli_env, tree_digest, venv_script

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "v0_1"
PI06 = FIXTURES / "pi06_recap_tiny"
VALUE = FIXTURES / "recap_value_tiny"


def test_pi06_checkpoint_of_0_1_loads_and_acts_as_it_did():
    from lerobot_recap.policies.pi06_recap.modeling_pi06_recap import PI06RecapPolicy

    reference = torch.load(FIXTURES / "pi06_recap_tiny_reference_actions.pt")
    policy = PI06RecapPolicy.from_pretrained(PI06)
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(PI06))
    chunk = policy.predict_action_chunk(pre(dict(reference["observation"])), noise=reference["noise"].clone())
    torch.testing.assert_close(chunk, reference["chunk"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(post(chunk), reference["actions"], rtol=1e-5, atol=1e-5)


def test_value_checkpoint_of_0_1_is_refused_with_the_command_that_converts_it():
    with pytest.raises(ValueError, match="lerobot-recap-convert-checkpoint --path=") as err:
        check_not_legacy(VALUE)
    assert "use_state" in str(err.value)
    check_not_legacy(PI06)  # pi06_recap's fields did not change


def test_converted_value_checkpoint_loads_with_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    from lerobot_recap.policies.recap_value.modeling_recap_value import RecapValuePolicy

    before = tree_digest(VALUE)
    result = subprocess.run(
        [venv_script("lerobot-recap-convert-checkpoint"), f"--path={VALUE}", f"--output={tmp_path / 'v02'}"],
        capture_output=True, text=True, env=cli_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert tree_digest(VALUE) == before  # the 0.1 checkpoint is untouched
    config = json.loads((tmp_path / "v02" / "config.json").read_text())
    assert config["state_token"] is True and config["image_resolution"] == [32, 32] and "use_state" not in config
    check_not_legacy(tmp_path / "v02")
    policy = RecapValuePolicy.from_pretrained(tmp_path / "v02")
    old = load_file(str(VALUE / "model.safetensors"))
    for name, value in policy.state_dict().items():
        assert torch.equal(value, old[name]), name
    frames = {
        "observation.images.top": torch.rand(2, 3, 32, 32),
        "observation.state": torch.zeros(2, 14),
        "task": ["hand the cube over", "hand the cube over"],
    }
    assert policy.predict_value(frames).shape == (2,)


def test_conversion_refuses_to_overwrite_and_other_policies(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        convert_checkpoint(VALUE, tmp_path / "taken")
    other = tmp_path / "act"
    shutil.copytree(VALUE, other)
    (other / "config.json").write_text(json.dumps({"type": "act"}))
    with pytest.raises(ValueError, match="not a lerobot-recap one"):
        convert_checkpoint(other, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.converting-*"))
    bad = subprocess.run(
        [venv_script("lerobot-recap-convert-checkpoint"), f"--path={tmp_path / 'nope'}", f"--output={tmp_path / 'x'}"],
        capture_output=True, text=True, env=cli_env(), timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "has no config.json" in bad.stderr


def test_label_refuses_a_01_value_checkpoint_with_the_conversion_command(tmp_path):
    from lerobot_recap.data.dataset_io import DatasetError
    from lerobot_recap.policies.recap_value.inference_recap_value import load_value_config

    with pytest.raises(DatasetError, match="convert it with `lerobot-recap-convert-checkpoint"):
        load_value_config(VALUE)
