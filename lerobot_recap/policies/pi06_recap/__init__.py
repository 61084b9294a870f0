"""``pi06_recap``: the advantage-conditioned pi0.5-class policy.

Importing the package registers the config (``--policy.type=pi06_recap``) and the processor step that checkpoints
name in ``policy_preprocessor.json``; the model code (torch modules, transformers) loads only with
``modeling_pi06_recap``.
"""

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig
from lerobot_recap.policies.pi06_recap.processor_pi06_recap import (
    Pi06RecapPromptStep,
    make_pi06_recap_pre_post_processors,
)

__all__ = ["PI06RecapConfig", "Pi06RecapPromptStep", "make_pi06_recap_pre_post_processors"]
