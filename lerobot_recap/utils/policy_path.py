"""``--policy.path`` for the project's own commands, as LeRobot's lerobot-eval reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def policy_config_from_path_arg() -> Any | None:
    """The checkpoint config that ``--policy.path`` names, with the other ``--policy.*`` flags applied; None without it.

    A dataclass config calls this in ``__post_init__`` (and lists ``policy`` in ``__get_path_fields__``), so that
    ``--policy.path=<pretrained_model> --policy.device=cuda`` works as it does for the stock CLIs.
    """
    from lerobot.configs import parser
    from lerobot.configs.policies import PreTrainedConfig

    policy_path = parser.get_path_arg("policy")
    if not policy_path:
        return None
    path = Path(policy_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"--policy.path={policy_path} is not a policy checkpoint directory (no config.json): give the "
            "pretrained_model folder of a lerobot-train checkpoint"
        )
    cli_overrides = parser.get_yaml_overrides("policy") + (parser.get_cli_overrides("policy") or [])
    config = PreTrainedConfig.from_pretrained(path, cli_overrides=cli_overrides)
    config.pretrained_path = path
    return config
