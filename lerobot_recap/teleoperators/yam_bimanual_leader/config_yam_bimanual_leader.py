"""Config of the ``yam_bimanual_leader`` teleoperator: two YAM leader arms with teaching handles."""

from dataclasses import dataclass, field

from lerobot.teleoperators.config import TeleoperatorConfig

from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.teaching_handle import HANDLE_RANGE_RAD, HANDLE_REPLY_ID, HANDLE_REQUEST_ID
from lerobot_recap.utils.config_errors import ConfigError

LEADER_BACKENDS = ("sim", "can", "zmq")
"""How the leader arms are read: scripted (`sim`), on their own CAN channels (`can`), or from arm servers (`zmq`)."""

TELEOP_EVENT_NAMES = ("", "success", "failure", "rerecord_episode", "is_intervention", "terminate_episode")
"""Values a handle button may map to (LeRobot's ``TeleopEvents`` values; empty = unused)."""


@dataclass
class YamLeaderArmConfig:
    """Where one YAM leader arm is reached, and its gains."""

    channel: str = "can0"
    """CAN interface of this leader arm (`can` backend; one per arm)."""
    can_interface: str = "socketcan"
    """python-can interface type (`socketcan` on hardware; `virtual` for protocol tests)."""
    host: str = "127.0.0.1"
    """Arm server host (`zmq` backend; the server runs with --arm=leader)."""
    port: int = 6021
    """Arm server port (`zmq` backend) - commands on `port`, state on `port + 1`."""
    kp: tuple[float, ...] = (80.0, 80.0, 80.0, 10.0, 10.0, 10.0)
    """Position gains of motors 1..6; only `bilateral_kp` times these are ever applied to a leader."""
    passive_kd: tuple[float, ...] = (0.1, 0.1, 0.1, 0.3, 0.05, 0.05)
    """Velocity gains of motors 1..6 while the operator moves the arm (light damping)."""
    directions: tuple[int, ...] = (1, 1, 1, 1, 1, 1)
    """Sign from motor angle to joint angle, joints 1..6 (must match the follower's convention)."""


@TeleoperatorConfig.register_subclass("yam_bimanual_leader")
@dataclass(kw_only=True)
class YamBimanualLeaderConfig(TeleoperatorConfig):
    """Two YAM leader arms: joints are read, the teaching-handle trigger drives the gripper, buttons send events.

    The handle's CAN IDs and scaling come from I2RT's public driver and are not verified on hardware by this
    project: they are the `handle_*` fields (see ``lerobot_recap/motors/yam/teaching_handle.py``).
    """

    backend: str = "sim"
    """How the leader arms are read - `can` (socketcan), `zmq` (lerobot-recap-yam-server --arm=leader) or `sim`."""
    left_arm: YamLeaderArmConfig = field(default_factory=lambda: YamLeaderArmConfig(channel="can_leader_l", port=6021))
    """The left leader arm."""
    right_arm: YamLeaderArmConfig = field(default_factory=lambda: YamLeaderArmConfig(channel="can_leader_r", port=6031))
    """The right leader arm."""
    top_button_event: str = "is_intervention"
    """Teleop event reported while the top handle button is held on either arm."""
    second_button_event: str = "terminate_episode"
    """Teleop event reported while the second handle button is held on either arm."""
    bilateral_kp: float = 0.0
    """Force feedback - pull toward the follower pose at this fraction of kp while feedback arrives (0 = off; 0.1-0.2)."""
    gravity: YamGravityConfig = field(default_factory=YamGravityConfig)
    """Gravity compensation of the passive leader arms (`can` backend), so they float where the operator leaves them."""
    handle_request_id: int = HANDLE_REQUEST_ID
    """CAN ID the teaching handle is polled on (`can` backend)."""
    handle_reply_id: int = HANDLE_REPLY_ID
    """CAN ID the teaching handle answers on (`can` backend)."""
    handle_range_rad: float = HANDLE_RANGE_RAD
    """Trigger travel from rest to fully squeezed, in rad of the handle encoder."""
    control_hz: float = 250.0
    """Rate of the CAN servo loop of each leader arm (`can` backend)."""
    watchdog_s: float = 0.25
    """The bilateral pull stops when no feedback arrived for this long (at most 0.4 s)."""
    disconnect_damping_s: float = 0.5
    """On disconnect, damp the leader arms (gravity still compensated) this long before torque off."""
    motor_reply_timeout_s: float = 0.1
    """A motor or handle silent this long is reported as not answering (`can` backend)."""
    zmq_timeout_s: float = 1.0
    """The `zmq` backend raises if an arm server sends no state for this long."""
    zmq_encoding: str = "msgpack"
    """Wire format to the arm servers - `msgpack` or `json` (never pickle)."""
    sim_period_s: float = 4.0
    """Period of the scripted operator motion (`sim` backend)."""
    sim_amplitude_rad: float = 0.3
    """Joint amplitude of the scripted operator motion (`sim` backend)."""
    sim_button_window_s: tuple[float, float] = (1.0, 1.5)
    """Time window after connect in which the simulated operator holds the top button (`sim` backend)."""

    def __post_init__(self) -> None:
        if self.backend not in LEADER_BACKENDS:
            raise ConfigError(
                f"--teleop.backend={self.backend!r} is not available for yam_bimanual_leader; "
                f"use one of {', '.join(LEADER_BACKENDS)}."
            )
        for name in ("top_button_event", "second_button_event"):
            if getattr(self, name) not in TELEOP_EVENT_NAMES:
                raise ConfigError(f"--teleop.{name}={getattr(self, name)!r}: use one of {TELEOP_EVENT_NAMES}.")
        if not 0.0 <= self.bilateral_kp <= 1.0:
            raise ConfigError(f"--teleop.bilateral_kp={self.bilateral_kp} must be in [0, 1] (a fraction of kp).")
        if not 0 < self.watchdog_s <= 0.4:
            raise ConfigError(f"--teleop.watchdog_s={self.watchdog_s} must be in (0, 0.4].")
        if self.zmq_encoding not in ("msgpack", "json"):
            raise ConfigError(f"--teleop.zmq_encoding={self.zmq_encoding!r}: use `msgpack` or `json`.")
        self.gravity.validate("--teleop.gravity")
        for side, arm in (("left_arm", self.left_arm), ("right_arm", self.right_arm)):
            for name in ("kp", "passive_kd", "directions"):
                if len(getattr(arm, name)) != 6:
                    raise ConfigError(f"--teleop.{side}.{name} needs 6 values (joints 1..6).")
            if any(d not in (-1, 1) for d in arm.directions):
                raise ConfigError(f"--teleop.{side}.directions must hold only 1 or -1.")
