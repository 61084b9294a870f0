"""``lerobot-recap-async-server``: LeRobot's async-inference policy server, able to serve ``pi06_recap``.

    lerobot-recap-async-server --host=127.0.0.1 --port=8080 --fps=30 [--inference_advantage=positive --cfg_beta=1.5]
    python -m lerobot.async_inference.robot_client --server_address=127.0.0.1:8080 --policy_type=pi06_recap \\
        --pretrained_name_or_path=<checkpoint> --policy_device=cuda --actions_per_chunk=50 --robot.type=... --task=...

The server is :class:`lerobot_recap.serving.async_server.RecapPolicyServer` (LeRobot's, subclassed); the robot
side is LeRobot's own client. Like LeRobot's server it writes its log under ``./logs``.
"""

from __future__ import annotations

import draccus
from lerobot.utils.utils import init_logging

from lerobot_recap.scripts.cli import run_cli

COMMAND = "lerobot-recap-async-server"


def serve_from_command_line() -> None:
    """Parse the flags (``--help`` lists them), then serve until Ctrl-C."""
    # Imported here: LeRobot's policy server module sets up its file logger (./logs) at import.
    from lerobot_recap.serving.async_server import RecapPolicyServerConfig, serve_async

    serve_async(draccus.parse(config_class=RecapPolicyServerConfig))


def main() -> None:
    init_logging()
    run_cli(serve_from_command_line, COMMAND)


if __name__ == "__main__":
    main()
