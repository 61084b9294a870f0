"""``lerobot-recap-serve``: a policy checkpoint behind openpi's websocket protocol, for a robot on another machine.

    lerobot-recap-serve --policy.path=outputs/recap/checkpoints/last/pretrained_model --policy.device=cuda \\
        --host=0.0.0.0 --port=8111 --api_key=$KEY --observation.default_prompt="hand the cube over"

openpi clients (``openpi_client.websocket_client_policy.WebsocketClientPolicy``), limb's YAM client and this
project's ``recap_remote`` policy connect to it unchanged. The protocol, the observation mapping and the
per-request advantage clause are described in :mod:`lerobot_recap.serving`; this script parses the flags and reports
bad input as one line (exit code 2).
"""

from __future__ import annotations

from lerobot.configs import parser
from lerobot.utils.utils import init_logging

from lerobot_recap.scripts.cli import run_cli
from lerobot_recap.serving.websocket_server import ServeConfig, serve

COMMAND = "lerobot-recap-serve"


@parser.wrap()
def serve_cli(cfg: ServeConfig) -> None:
    serve(cfg)


def main() -> None:
    init_logging()
    run_cli(serve_cli, COMMAND)


if __name__ == "__main__":
    main()
