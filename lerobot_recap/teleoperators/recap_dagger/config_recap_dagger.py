"""Config of the ``recap_dagger`` teleoperator: policy + leader + pedal, for stock ``lerobot-record``."""

from dataclasses import dataclass, field

from lerobot.teleoperators.config import TeleoperatorConfig

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalSettings
from lerobot_recap.utils.choices import NestedTeleoperatorConfig
from lerobot_recap.utils.config_errors import ConfigError

KEYBOARD_MODES = ("auto", "tty", "none")
TIMEOUT_OUTCOMES = ("failure", "success", "unknown")


@TeleoperatorConfig.register_subclass("recap_dagger")
@dataclass(kw_only=True)
class RecapDaggerConfig(TeleoperatorConfig):
    """DAgger collection with operator corrections, run by stock ``lerobot-record`` without ``--policy``.

    Use it with the ``recap_observed`` robot wrapper (``--robot.type=recap_observed --robot.robot.type=<robot>``),
    which hands this teleop the observations and records the intervention flag and the phase.
    """

    policy_path: str | None = None
    """Policy checkpoint directory (any LeRobot policy, with its saved processors). None - corrections only."""
    leader: NestedTeleoperatorConfig | None = None
    """The leader teleoperator that drives during corrections, e.g. --teleop.leader.type=so101_leader."""
    use_pedal: bool = True
    """Read the foot pedal; false - the phase keys p (pause/resume) and c (correction) on the keyboard only."""
    pedal: FootPedalSettings = field(default_factory=FootPedalSettings)
    """The foot pedal's settings (--teleop.pedal.device_path, .mode, .intervention_key, ...)."""
    task: str | None = None
    """Task prompt given to the policy (default  lerobot-record's --dataset.single_task)."""
    device: str = "cpu"
    """Torch device of the policy (cuda, cpu, mps)."""
    keyboard: str = "auto"
    """Episode keys from the terminal - 'auto' (if stdin is a terminal), 'tty' (required) or 'none'."""
    keyboard_replay_path: str | None = None
    """JSON script of keys [{"tick": n, "key": "s"}, ...] replayed instead of the terminal (dry runs, tests)."""
    resume_ramp_s: float = 0.5
    """On PAUSED->AUTONOMOUS, blend linearly from the held pose to the policy's actions over this many seconds."""
    fps: int = 30
    """Control rate used for the ramp when lerobot-record's own --dataset.fps cannot be read."""
    timeout_outcome: str = "failure"
    """Outcome of an episode that ends by the timer with no key - failure (as limb), success or unknown."""
    shadow: bool = True
    """Keep running the policy during corrections so its would-be action is recorded (recap.policy.*)."""
    leader_follows_robot: bool = True
    """Send the executed action to the leader as feedback while not correcting (leaders that support it)."""
    hub_key: str = "default"
    """Channel name shared with the recap_observed robot's --robot.hub_key."""

    def __post_init__(self) -> None:
        if self.keyboard not in KEYBOARD_MODES:
            raise ConfigError(f"--teleop.keyboard={self.keyboard!r} is not one of {KEYBOARD_MODES}")
        if self.timeout_outcome not in TIMEOUT_OUTCOMES:
            raise ConfigError(f"--teleop.timeout_outcome={self.timeout_outcome!r} is not one of {TIMEOUT_OUTCOMES}")
        if self.resume_ramp_s < 0:
            raise ConfigError(f"--teleop.resume_ramp_s={self.resume_ramp_s} must be >= 0")
        if self.fps <= 0:
            raise ConfigError(f"--teleop.fps={self.fps} must be > 0")
        if self.policy_path is None and self.leader is None:
            raise ConfigError(
                "recap_dagger needs a policy (--teleop.policy_path) or a leader (--teleop.leader.type=...), or both"
            )
