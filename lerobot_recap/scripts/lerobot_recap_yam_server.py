"""``lerobot-recap-yam-server``: owns one YAM arm (CAN or simulated) and serves it over ZMQ, on loopback by default.

    lerobot-recap-yam-server --backend=can --channel=can_follower_l --port=6001
    lerobot-recap-yam-server --backend=can --arm=leader --channel=can_leader_l --port=6021 \\
        --calibration_file=~/.cache/huggingface/lerobot/calibration/teleoperators/yam_bimanual_leader/<id>.json \\
        --calibration_prefix=left_

One server per arm, next to its CAN adapter. The server itself (flags, protocol, gravity compensation through the
calibration file) is :mod:`lerobot_recap.motors.yam.server`; this script parses the flags and reports bad input
as one line (exit code 2).
"""

from __future__ import annotations

import draccus
from lerobot.utils.utils import init_logging

from lerobot_recap.motors.yam.server import YamServerConfig, run
from lerobot_recap.scripts.cli import run_cli

COMMAND = "lerobot-recap-yam-server"


def serve_from_command_line() -> None:
    """Parse the flags (``--help`` lists them), check them, then serve until SIGTERM or Ctrl-C."""
    cfg = draccus.parse(config_class=YamServerConfig)
    cfg.validate()
    run(cfg)


def main() -> None:
    # LeRobot's init_logging, as the other lerobot-recap commands: it replaces the root handlers. A plain
    # logging.basicConfig() did nothing here: importing LeRobot (lerobot.utils.import_utils calls logging.debug()
    # at import) has already run an implicit basicConfig() with a WARNING root, so the INFO "Serving ... on
    # tcp://..." line never showed.
    init_logging()
    run_cli(serve_from_command_line, COMMAND)


if __name__ == "__main__":
    main()
