from lerobot.policies.pretrained import PreTrainedPolicy

from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig


class RecapValuePolicy(PreTrainedPolicy):
    config_class = RecapValueConfig
    name = "recap_value"

    def __init__(self, config: RecapValueConfig, **kwargs):
        raise NotImplementedError("recap_value is registered but not implemented yet (capability: the VLM value model)")
