"""Config of the ``yam_bimanual`` robot: two I2RT YAM arms (6 joints + gripper each) and three cameras.

Kept light on purpose (imported by ``import lerobot_recap``): no numpy, python-can or zmq here. The arm drivers,
the YAM constants and the gravity config live in :mod:`lerobot_recap.motors.yam`.
"""

from dataclasses import dataclass, field

from lerobot.cameras import CameraConfig
from lerobot.cameras.realsense.configuration_realsense import RealSenseCameraConfig
from lerobot.robots.config import RobotConfig

# Registers the `recap_sim` camera type with the config registry, so `--robot.cameras` can name it.
import lerobot_recap.cameras  # noqa: E402,F401
from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.tables import ARM_JOINTS, YAM_CAN_BITRATE
from lerobot_recap.utils.config_errors import ConfigError

BACKENDS = ("sim", "can", "zmq")
"""The ways an arm can be driven."""

CAMERA_PLACEHOLDER = "SET_SERIAL"
"""Serial placeholder of the default RealSense configs; connecting a real robot with it raises a clear error."""


def default_realsense_cameras() -> dict[str, CameraConfig]:
    """Top/head, left wrist and right wrist RealSense cameras at 640x480, 30 fps (serials to be set)."""
    return {
        name: RealSenseCameraConfig(serial_number_or_name=CAMERA_PLACEHOLDER, fps=30, width=640, height=480)
        for name in ("top", "left_wrist", "right_wrist")
    }


@dataclass
class YamArmConfig:
    """Where one YAM arm is reached, and its servo gains."""

    channel: str = "can0"
    """CAN interface of this arm (`can` backend). One interface per arm - motor IDs 1..7 repeat on every arm."""
    can_interface: str = "socketcan"
    """python-can interface type (`socketcan` on real hardware; `virtual` for protocol tests)."""
    host: str = "127.0.0.1"
    """Arm server host (`zmq` backend). Loopback unless the server runs on another machine."""
    port: int = 6001
    """Arm server port (`zmq` backend) - the server takes commands on `port` and publishes state on `port + 1`."""
    kp: tuple[float, ...] = (80.0, 80.0, 80.0, 10.0, 10.0, 10.0, 20.0)
    """MIT-mode position gains per motor (joints 1..6, gripper)."""
    kd: tuple[float, ...] = (5.0, 5.0, 5.0, 1.5, 1.5, 1.5, 0.5)
    """MIT-mode velocity gains per motor (joints 1..6, gripper)."""
    passive_kd: tuple[float, ...] = (0.1, 0.1, 0.1, 0.3, 0.05, 0.05, 0.05)
    """Velocity gains while passive (calibration) - light damping, so the arm moves freely by hand."""
    directions: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)
    """Sign from motor angle to joint angle per motor; written to the calibration file as its drive mode."""


@RobotConfig.register_subclass("yam_bimanual")
@dataclass(kw_only=True)
class YamBimanualConfig(RobotConfig):
    """Two I2RT YAM arms (6 joints + gripper each) with three cameras, at 30 Hz."""

    backend: str = "sim"
    """How the arms are driven - `can` (socketcan), `zmq` (remote arm server) or `sim` (in-process simulation)."""
    left_arm: YamArmConfig = field(default_factory=lambda: YamArmConfig(channel="can_follower_l", port=6001))
    """The left arm."""
    right_arm: YamArmConfig = field(default_factory=lambda: YamArmConfig(channel="can_follower_r", port=6011))
    """The right arm."""
    cameras: dict[str, CameraConfig] = field(default_factory=default_realsense_cameras)
    """LeRobot camera configs keyed by name (default  three `intelrealsense` cameras; use `recap_sim` in tests)."""
    fps: int = 30
    """Control rate the robot is meant to run at (the dataset fps)."""
    max_relative_target: float | None = 0.2
    """Largest step of one action from the measured position, in rad for joints and in [0, 1] units for grippers."""
    joint_limit_margin_rad: float = 0.02
    """Targets are clamped this far inside the YAM joint ranges."""
    max_joint_velocity: float = 3.0
    """Velocity limit of the servo setpoint of joints 1..6, rad/s."""
    max_gripper_velocity: float = 2.0
    """Velocity limit of the gripper setpoint, in normalized [0, 1] units per second."""
    watchdog_s: float = 0.25
    """If no action arrives for this long the arms hold their setpoint (at most 0.4 s, the motors' own timeout)."""
    control_hz: float = 250.0
    """Rate of the CAN servo loop that keeps sending the held targets (`can` backend)."""
    gravity: YamGravityConfig = field(default_factory=YamGravityConfig)
    """Gravity feed-forward torque added to the PD hold (`can` backend)."""
    can_bitrate: int = YAM_CAN_BITRATE
    """Classic CAN bitrate of the arms."""
    motor_reply_timeout_s: float = 0.1
    """A motor that sends no feedback for this long is reported as not answering (`can` backend)."""
    disconnect_damping_s: float = 0.5
    """On disconnect, damp (kp = 0) for this long before torque off, so the arms settle instead of dropping."""
    zmq_timeout_s: float = 1.0
    """The `zmq` backend raises if the arm server sends no state for this long."""
    zmq_encoding: str = "msgpack"
    """Wire format to the arm server - `msgpack` or `json` (never pickle)."""
    sim_time_constant_s: float = 0.05
    """Time constant of the simulated first-order joint dynamics (`sim` backend)."""
    sim_action_log: str | None = None
    """If set, the `sim` backend appends every action actually sent (after safety) as a JSON line to this file."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"--robot.backend={self.backend!r} is not a YAM backend; use one of {', '.join(BACKENDS)}."
            )
        if not 0 < self.watchdog_s <= 0.4:
            raise ConfigError(
                f"--robot.watchdog_s={self.watchdog_s} must be in (0, 0.4]: the motors damp on their own after 0.4 s."
            )
        if self.zmq_encoding not in ("msgpack", "json"):
            raise ConfigError(f"--robot.zmq_encoding={self.zmq_encoding!r}: use `msgpack` or `json`.")
        self.gravity.validate("--robot.gravity")
        for side, arm in (("left_arm", self.left_arm), ("right_arm", self.right_arm)):
            for name in ("kp", "kd", "passive_kd", "directions"):
                if len(getattr(arm, name)) != len(ARM_JOINTS):
                    raise ConfigError(f"--robot.{side}.{name} needs {len(ARM_JOINTS)} values (6 joints + gripper).")
            if any(d not in (-1, 1) for d in arm.directions):
                raise ConfigError(f"--robot.{side}.directions must hold only 1 or -1.")
