from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig

__all__ = ["PI06RecapConfig"]
