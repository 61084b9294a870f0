"""``recap_remote``: a LeRobot policy type whose actions come from a policy server (``lerobot-recap-serve``).

Importing the package registers the config (``--policy.type=recap_remote``); the websocket client loads with
``modeling_recap_remote``.
"""

from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
    RecapRemoteConfig,
)

__all__ = ["RecapRemoteConfig"]
