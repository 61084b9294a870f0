"""lerobot-recap-convert-checkpoint: a checkpoint of lerobot-recap 0.1 (LeRobot 0.4.4) as 0.2 reads it.

    lerobot-recap-convert-checkpoint --path=outputs/value/checkpoints/last/pretrained_model --output=outputs/value_v02

Needed for recap_value checkpoints (four config fields were renamed); pi06_recap checkpoints of 0.1 load as they are,
and converting one only renames its token-embedding weight. The source folder is not modified.
"""

import logging
from dataclasses import dataclass

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.policies.legacy_checkpoints import convert_checkpoint
from lerobot_recap.scripts.cli import run_cli


@dataclass
class ConvertCheckpointConfig:
    path: str = ""
    """The 0.1 checkpoint's pretrained_model folder (with config.json and model.safetensors)."""
    output: str = ""
    """Where to write the 0.2 copy (a new folder)."""

    def __post_init__(self) -> None:
        if not self.path or not self.output:
            raise ValueError("pass both --path=<0.1 checkpoint folder> and --output=<new folder>")


@parser.wrap()
def convert(cfg: ConvertCheckpointConfig) -> None:
    output = convert_checkpoint(cfg.path, cfg.output)
    logging.info("converted %s -> %s (use it with --policy.path=%s)", cfg.path, output, output)


def main() -> None:
    init_logging()
    run_cli(convert, "lerobot-recap-convert-checkpoint")


if __name__ == "__main__":
    main()
