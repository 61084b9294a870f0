from lerobot.teleoperators.teleoperator import Teleoperator

from lerobot_recap.teleoperators.recap_dagger.config_recap_dagger import RecapDaggerConfig


class RecapDagger(Teleoperator):
    config_class = RecapDaggerConfig
    name = "recap_dagger"

    def __init__(self, config: RecapDaggerConfig):
        raise NotImplementedError("recap_dagger is registered but not implemented yet (capability: DAgger collection with operator corrections)")
