import json

import torch
from lerobot.policies.pretrained import PreTrainedPolicy

from lerobot_recap.data.frame_labels import FrameLabels
from recap_probe.configuration_recap_probe import RecapProbeConfig


class RecapProbePolicy(PreTrainedPolicy):
    config_class = RecapProbeConfig
    name = "recap_probe"

    def __init__(self, config: RecapProbeConfig, **kwargs):
        super().__init__(config)
        self.labels = FrameLabels.from_policy_kwargs(kwargs, required=True)
        state_dim = config.input_features["observation.state"].shape[0]
        action_dim = config.output_features["action"].shape[0]
        self.linear = torch.nn.Linear(state_dim, action_dim)

    def get_optim_params(self):
        return self.parameters()

    def reset(self):
        pass

    def forward(self, batch, reduction="mean"):
        seen = self.labels.lookup(batch["index"])
        with open(self.config.trace_path, "a") as f:
            for i, index in enumerate(batch["index"].tolist()):
                f.write(json.dumps({k: int(v[i]) for k, v in seen.items()} | {"index": int(index)}) + "\n")
        loss = torch.nn.functional.mse_loss(self.linear(batch["observation.state"]), batch["action"])
        return loss, {"probe_samples": len(batch["index"])}

    def predict_action_chunk(self, batch, **kwargs):
        return self.linear(batch["observation.state"]).unsqueeze(1)

    def select_action(self, batch, **kwargs):
        return self.linear(batch["observation.state"])
