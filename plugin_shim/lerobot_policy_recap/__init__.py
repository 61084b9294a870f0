"""Discovery shim for lerobot-recap.

LeRobot's ``register_third_party_plugins`` imports installed distributions whose name starts with
``lerobot_policy_`` (and a few other prefixes). Importing this module imports :mod:`lerobot_recap`, which registers
every config class of the project (policies, robot, teleoperators, env) with LeRobot's registries.
"""

import lerobot_recap  # noqa: F401  (import for its registration side effect)
