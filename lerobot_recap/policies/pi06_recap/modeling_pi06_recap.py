from lerobot.policies.pretrained import PreTrainedPolicy

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig


class PI06RecapPolicy(PreTrainedPolicy):
    config_class = PI06RecapConfig
    name = "pi06_recap"

    def __init__(self, config: PI06RecapConfig, **kwargs):
        raise NotImplementedError("pi06_recap is registered but not implemented yet (capability: the advantage-conditioned pi0.5-class policy)")
