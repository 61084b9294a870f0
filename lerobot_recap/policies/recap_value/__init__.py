from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

__all__ = ["RecapValueConfig"]
