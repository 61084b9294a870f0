"""Checkpoints written by lerobot-recap 0.1 (LeRobot 0.4.4), and how they become 0.2 checkpoints.

* ``pi06_recap``: the config's fields are the same, and so are the weights' names but one: 0.1 stored PaliGemma's
  token embedding under its tied ``lm_head`` name (safetensors keeps one name per shared matrix). The policy renames
  it when it loads (:func:`upgrade_pi06_weights`), so a 0.1 checkpoint loads as it is; its preprocessor names the
  0.1 prompt step, which stays registered, so it is prompted as it was trained.
* ``recap_value``: four fields were renamed to match pi06_recap's names for the same ideas
  (:data:`RENAMED_VALUE_FIELDS`). draccus refuses a config with unknown fields before any project code runs, so a
  0.1 value checkpoint is converted once with ``lerobot-recap-convert-checkpoint``.

A 0.1 ``train_config.json`` belongs to LeRobot 0.4.4's trainer and cannot resume under 0.6: start a new run from the
converted checkpoint with ``--policy.path``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub.constants import SAFETENSORS_SINGLE_FILE

CONFIG_FILE = "config.json"
CONVERT_COMMAND = "lerobot-recap-convert-checkpoint --path={path} --output=<new folder>"

RENAMED_VALUE_FIELDS = {
    "image_size": "image_resolution",
    "tokenizer": "tokenizer_name",
    "freeze_vision": "freeze_vision_encoder",
    "use_state": "state_token",
}
"""recap_value fields of 0.1 -> their 0.2 names (pi06_recap's names for the same ideas)."""

PI06_TIED_EMBEDDING = "model.paligemma_with_expert.paligemma.lm_head.weight"
PI06_EMBEDDING = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"


def upgrade_pi06_weights(state_dict: dict[str, Any]) -> dict[str, Any]:
    """0.1 pi06_recap weights under 0.2's names (the tied embedding was stored as PaliGemma's lm_head)."""
    if PI06_TIED_EMBEDDING in state_dict and PI06_EMBEDDING not in state_dict:
        state_dict = dict(state_dict)
        state_dict[PI06_EMBEDDING] = state_dict.pop(PI06_TIED_EMBEDDING)
    return state_dict


def legacy_value_fields(config: dict[str, Any]) -> list[str]:
    """The 0.1 field names a recap_value config still uses (empty for a 0.2 config or another policy)."""
    if config.get("type") != "recap_value":
        return []
    return [name for name in RENAMED_VALUE_FIELDS if name in config]


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A 0.1 policy config (config.json) as 0.2 reads it."""
    if not legacy_value_fields(config):
        return config
    upgraded = {}
    for name, value in config.items():
        new_name = RENAMED_VALUE_FIELDS.get(name, name)
        if name == "image_size":
            value = [value, value]
        upgraded[new_name] = value
    return upgraded


def check_not_legacy(checkpoint: Path) -> None:
    """Refuse a 0.1 recap_value checkpoint with the command that converts it (draccus' own error names no fix)."""
    config_file = Path(checkpoint) / CONFIG_FILE
    if not config_file.is_file():
        return
    fields = legacy_value_fields(json.loads(config_file.read_text()))
    if fields:
        raise ValueError(
            f"{checkpoint} is a recap_value checkpoint of lerobot-recap 0.1 (fields {fields} were renamed in 0.2): "
            f"convert it with `{CONVERT_COMMAND.format(path=checkpoint)}`"
        )


def convert_checkpoint(source: str | Path, output: str | Path) -> Path:
    """Write a 0.2 copy of a 0.1 pretrained_model folder at ``output`` (atomically; ``source`` is not modified)."""
    from safetensors.torch import load_file, save_file

    source, output = Path(source).expanduser(), Path(output).expanduser()
    config_file = source / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{source} has no {CONFIG_FILE}: pass the checkpoint's pretrained_model folder")
    if output.exists():
        raise FileExistsError(f"{output} already exists: pass a new folder as --output")
    config = json.loads(config_file.read_text())
    if config.get("type") not in ("pi06_recap", "recap_value"):
        raise ValueError(f"{source} holds a {config.get('type')!r} policy, not a lerobot-recap one")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.converting-", dir=output.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        (staging / CONFIG_FILE).write_text(json.dumps(upgrade_config(config), indent=4))
        if config["type"] == "pi06_recap" and (staging / SAFETENSORS_SINGLE_FILE).is_file():
            weights = load_file(str(staging / SAFETENSORS_SINGLE_FILE))
            save_file(upgrade_pi06_weights(weights), str(staging / SAFETENSORS_SINGLE_FILE))
        (staging / "train_config.json").unlink(missing_ok=True)  # LeRobot 0.4.4's trainer config: not resumable
        staging.chmod(0o777 & ~_umask())
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def _umask() -> int:
    import os

    current = os.umask(0)
    os.umask(current)
    return current
