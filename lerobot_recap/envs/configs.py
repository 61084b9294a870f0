from dataclasses import dataclass

from lerobot.envs.configs import EnvConfig


@EnvConfig.register_subclass("recap_handover")
@dataclass
class RecapHandoverEnv(EnvConfig):
    """The embedded simulated bimanual hand-over task (the default of lerobot-recap-pipeline)."""

    task: str | None = "Handover-v0"

    @property
    def gym_kwargs(self) -> dict:
        raise NotImplementedError("recap_handover is registered but not implemented yet (capability: the simulated task)")
