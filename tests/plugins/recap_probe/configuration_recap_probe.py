from dataclasses import dataclass

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import NormalizationMode
from lerobot.optim.optimizers import AdamWConfig


@PreTrainedConfig.register_subclass("recap_probe")
@dataclass
class RecapProbeConfig(PreTrainedConfig):
    trace_path: str = ""
    """JSON-lines file the policy appends the per-sample RECAP values it sees to."""
    push_to_hub: bool = False
    normalization_mapping: dict = None

    def __post_init__(self):
        super().__post_init__()
        if self.normalization_mapping is None:
            self.normalization_mapping = {"STATE": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MEAN_STD, "VISUAL": NormalizationMode.IDENTITY}

    @property
    def observation_delta_indices(self):
        return None

    @property
    def action_delta_indices(self):
        return None

    @property
    def reward_delta_indices(self):
        return None

    def get_optimizer_preset(self):
        return AdamWConfig(lr=1e-3)

    def get_scheduler_preset(self):
        return None

    def validate_features(self):
        pass
