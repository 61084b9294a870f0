"""Config of the ``yam_bimanual_leader`` teleoperator: two YAM leader arms with teaching handles."""

from dataclasses import dataclass, field

from lerobot.teleoperators.config import TeleoperatorConfig

LEADER_BACKENDS = ("sim",)
"""Backends implemented for the leader arms (see the project README for the CAN leader status)."""

TELEOP_EVENT_NAMES = ("", "success", "failure", "rerecord_episode", "is_intervention", "terminate_episode")
"""Values a handle button may map to (LeRobot's ``TeleopEvents`` values; empty = unused)."""


@dataclass
class YamLeaderArmConfig:
    """Where one YAM leader arm is reached."""

    channel: str = "can0"
    """CAN interface of this leader arm (one per arm)."""
    directions: tuple[int, ...] = (1, 1, 1, 1, 1, 1)
    """Sign from motor angle to joint angle, joints 1..6 (must match the follower's convention)."""


@TeleoperatorConfig.register_subclass("yam_bimanual_leader")
@dataclass(kw_only=True)
class YamBimanualLeaderConfig(TeleoperatorConfig):
    """Two YAM leader arms: joints are read, the teaching-handle trigger drives the gripper, buttons send events."""

    backend: str = "sim"
    """How the leader arms are read: `sim` (a scripted operator, for tests and demos)."""
    left_arm: YamLeaderArmConfig = field(default_factory=lambda: YamLeaderArmConfig(channel="can_leader_l"))
    """The left leader arm."""
    right_arm: YamLeaderArmConfig = field(default_factory=lambda: YamLeaderArmConfig(channel="can_leader_r"))
    """The right leader arm."""
    top_button_event: str = "is_intervention"
    """Teleop event reported while the top handle button is held on either arm."""
    second_button_event: str = "terminate_episode"
    """Teleop event reported while the second handle button is held on either arm."""
    bilateral_kp: float = 0.0
    """Force feedback gain toward the follower pose (0 = off; 0.1-0.2 typical on hardware)."""
    sim_period_s: float = 4.0
    """Period of the scripted operator motion (`sim` backend)."""
    sim_amplitude_rad: float = 0.3
    """Joint amplitude of the scripted operator motion (`sim` backend)."""
    sim_button_window_s: tuple[float, float] = (1.0, 1.5)
    """Time window after connect in which the simulated operator holds the top button (`sim` backend)."""

    def __post_init__(self) -> None:
        if self.backend not in LEADER_BACKENDS:
            raise ValueError(
                f"--teleop.backend={self.backend!r} is not available for yam_bimanual_leader; "
                f"use one of {', '.join(LEADER_BACKENDS)}."
            )
        for name in ("top_button_event", "second_button_event"):
            if getattr(self, name) not in TELEOP_EVENT_NAMES:
                raise ValueError(f"--teleop.{name}={getattr(self, name)!r}: use one of {TELEOP_EVENT_NAMES}.")
