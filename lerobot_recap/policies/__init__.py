"""Policy types: ``pi06_recap`` (the advantage-conditioned pi0.5-class policy) and ``recap_value`` (the value model)."""

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

__all__ = ["PI06RecapConfig", "RecapValueConfig"]
