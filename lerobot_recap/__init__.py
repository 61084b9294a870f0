"""lerobot-recap: RECAP (pi*0.6's advantage-conditioned offline RL) as a native LeRobot 0.6 plugin.

Importing this package registers every config class of the project with LeRobot's registries, so that the stock
CLIs resolve ``--policy.type=pi06_recap|recap_value|recap_remote``,
``--robot.type=yam_bimanual|recap_observed|recap_handover_sim``,
``--teleop.type=foot_pedal|yam_bimanual_leader|recap_dagger|recap_handover_expert`` and ``--env.type=recap_handover``. The stock CLIs
import it through the ``lerobot_policy_recap`` discovery shim. Only config classes (and lightweight processor
steps) load here: models, transformers and hardware libraries load lazily when a device or policy is built.
"""

__version__ = "0.2.0"

from lerobot_recap import cameras as cameras  # noqa: E402  (registration side effects)
from lerobot_recap import envs as envs  # noqa: E402  (registration side effects)
from lerobot_recap import policies as policies  # noqa: E402
from lerobot_recap import robots as robots  # noqa: E402
from lerobot_recap import serving as serving  # noqa: E402  (registers the recap_remote policy config)
from lerobot_recap import teleoperators as teleoperators  # noqa: E402

REGISTERED_TYPES = {
    "policy": ("pi06_recap", "recap_value", "recap_remote"),
    "robot": ("yam_bimanual", "recap_observed", "recap_handover_sim"),
    "camera": ("recap_sim",),
    "teleop": ("foot_pedal", "yam_bimanual_leader", "recap_dagger", "recap_handover_expert"),
    "env": ("recap_handover",),
}
"""Every type this package registers, by LeRobot registry."""
