"""``lerobot-recap-remote-policy``: write a ``recap_remote`` policy folder, for tools that take a checkpoint folder.

    lerobot-recap-remote-policy --server=ws://gpu-box:8111 --output_dir=outputs/remote_pi06
    export LEROBOT_RECAP_API_KEY=...   # if the server has a key (it is never written to the folder)
    lerobot-record --robot.type=recap_observed --robot.robot.type=yam_bimanual ... \\
        --teleop.type=recap_dagger --teleop.policy_path=outputs/remote_pi06 ...

``recap_dagger``'s ``--teleop.policy_path`` and ``lerobot-rollout --policy.path`` load the folder like a checkpoint
(config.json and processors, no weights); the policy then asks the server for every chunk. ``lerobot-rollout`` also
takes the server directly: ``--policy.type=recap_remote --policy.server=ws://gpu-box:8111``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import draccus
from lerobot.utils.utils import init_logging

from lerobot_recap.scripts.cli import run_cli
from lerobot_recap.utils.config_errors import ConfigError

COMMAND = "lerobot-recap-remote-policy"


@dataclass
class RemotePolicyFolderConfig:
    """Where the policy server is and where to write the folder."""

    server: str = "ws://127.0.0.1:8111"
    """The policy server (lerobot-recap-serve), ws://host:port."""
    output_dir: Path | None = None
    """The folder to write (config.json and the processors)."""
    n_action_steps: int | None = None
    """Actions run from each chunk before asking again (default  the served checkpoint's)."""
    advantage: str | None = None
    """Advantage clause sent with every request - positive, none or negative (default  the server's)."""
    cfg_beta: float | None = None
    """Guidance weight sent with every request (default  the server's)."""
    check: bool = True
    """Connect once and print what the server serves (false  write the folder without a server)."""

    def __post_init__(self) -> None:
        if self.output_dir is None:
            raise ConfigError("give --output_dir=<folder to write>")


def write_from_command_line() -> None:
    from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
        RecapRemoteConfig,
    )
    from lerobot_recap.serving.recap_remote.modeling_recap_remote import (
        write_remote_policy_folder,
    )

    cfg = draccus.parse(config_class=RemotePolicyFolderConfig)
    policy = RecapRemoteConfig(
        server=cfg.server, n_action_steps=cfg.n_action_steps, advantage=cfg.advantage, cfg_beta=cfg.cfg_beta
    )
    if cfg.check:
        from lerobot_recap.serving.websocket_client import WebsocketPolicyClient

        with WebsocketPolicyClient(policy.server, policy.resolved_api_key, policy.connect_timeout_s) as client:
            print(f"{client.url} serves: {json.dumps(client.metadata, default=str)}")
    out = write_remote_policy_folder(policy, cfg.output_dir)
    print(f"Wrote {out}: use it as --teleop.policy_path (recap_dagger) or --policy.path (lerobot-rollout)")


def main() -> None:
    init_logging()
    run_cli(write_from_command_line, COMMAND)


if __name__ == "__main__":
    main()
