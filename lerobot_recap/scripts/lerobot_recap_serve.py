"""``lerobot-recap-serve``: a policy checkpoint behind openpi's websocket protocol, for a robot on another machine.

    lerobot-recap-serve --policy.path=outputs/recap/checkpoints/last/pretrained_model --policy.device=cuda \\
        --host=0.0.0.0 --port=8111 --api_key=$KEY --observation.default_prompt="hand the cube over"

openpi clients (``openpi_client.websocket_client_policy.WebsocketClientPolicy``), limb's YAM client and this
project's ``recap_remote`` policy connect to it unchanged. The protocol, the observation mapping and the
per-request advantage clause are described in :mod:`lerobot_recap.serving`; this script parses the flags and reports
bad input as one line (exit code 2).
"""

from __future__ import annotations

import sys

import draccus
from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.scripts.cli import run_cli
from lerobot_recap.serving.websocket_server import ServeConfig, serve

COMMAND = "lerobot-recap-serve"


def serve_from_command_line() -> None:
    """Parse the flags (``--help`` lists them), then serve until Ctrl-C."""
    # draccus directly rather than LeRobot's parser.wrap, which exits 1 on a config error: this project's commands
    # exit 2 on bad input. --policy.path and its overrides are read by ServeConfig, as parser.wrap would do.
    args = parser.filter_path_args(ServeConfig.__get_path_fields__(), sys.argv[1:])
    serve(draccus.parse(config_class=ServeConfig, args=args))


def main() -> None:
    init_logging()
    run_cli(serve_from_command_line, COMMAND)


if __name__ == "__main__":
    main()
