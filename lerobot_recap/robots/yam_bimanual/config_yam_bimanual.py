"""Config of the ``yam_bimanual`` robot: two I2RT YAM arms (6 joints + gripper each) and three cameras.

Kept light on purpose (imported by ``import lerobot_recap``): no numpy, python-can or zmq here.
"""

import math
from dataclasses import dataclass, field

from lerobot.cameras import CameraConfig
from lerobot.cameras.realsense.configuration_realsense import RealSenseCameraConfig
from lerobot.robots.config import RobotConfig

# Registers the `recap_sim` camera type with the config registry, so `--robot.cameras` can name it.
import lerobot_recap.cameras  # noqa: E402,F401

BACKENDS = ("sim", "can", "zmq")
"""The ways an arm can be driven."""

ARM_JOINTS = ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "gripper")
"""Motor names of one arm, in CAN-ID order (IDs 1..7)."""

YAM_JOINT_LIMITS_RAD = (
    (-2.61799, 3.14159),
    (0.0, 3.66519),
    (0.0, 3.14159),
    (-1.69297, 1.5708),
    (-1.5708, 1.5708),
    (-2.0944, 2.0944),
)
"""Joint ranges of the YAM arm (i2rt ``yam.xml``), joints 1..6, in radians."""

YAM_MOTOR_TYPES = ("dm4340", "dm4340", "dm4340", "dm4310", "dm4310", "dm4310", "dm4310")
"""Damiao motor model per motor (IDs 1..7; the linear_4310 gripper is a DM4310)."""

CAMERA_PLACEHOLDER = "SET_SERIAL"
"""Serial placeholder of the default RealSense configs; connecting a real robot with it raises a clear error."""


def default_realsense_cameras() -> dict[str, CameraConfig]:
    """Top/head, left wrist and right wrist RealSense cameras at 640x480, 30 fps (serials to be set)."""
    return {
        name: RealSenseCameraConfig(serial_number_or_name=CAMERA_PLACEHOLDER, fps=30, width=640, height=480)
        for name in ("top", "left_wrist", "right_wrist")
    }


@dataclass
class YamGravityConfig:
    """Gravity compensation in the CAN servo loop: a planar point-mass model of joints 2..4 (see ``gravity.py``).

    Defaults are estimates from I2RT's public YAM model (upper arm 1.47 kg, forearm 0.98 kg, wrist + gripper about
    1.4 kg); tune ``factors`` per arm on hardware. The torque is sent in the MIT frame's feed-forward field, clamped
    to ``max_torque_nm`` and to the motor's own range.
    """

    enabled: bool = True
    """Send gravity feed-forward torque (`can` backend and `lerobot-recap-yam-server --backend=can`)."""
    link_mass_kg: tuple[float, float, float] = (1.47, 0.98, 1.37)
    """Masses of the upper arm, the forearm and the wrist + hand + gripper."""
    link_length_m: tuple[float, float] = (0.264, 0.252)
    """Distances joint 2 -> joint 3 and joint 3 -> joint 4."""
    com_m: tuple[float, float, float] = (0.129, 0.146, 0.07)
    """Distance of each link's centre of mass from its proximal joint, along the link."""
    zero_elevation_rad: tuple[float, float, float] = (0.0, math.pi, math.pi)
    """Elevation of each link above the horizontal with all joints at zero (folded - upper arm forward, forearm back)."""
    signs: tuple[float, float, float] = (1.0, -1.0, 1.0)
    """How a positive turn of joints 2, 3, 4 changes the elevation of the links beyond it (+1 raises, -1 lowers)."""
    factors: tuple[float, ...] = (1.0, 1.1, 1.1, 1.2, 1.0, 1.0)
    """Per-joint scale of the model torque, joints 1..6 (I2RT's tuning for the YAM)."""
    max_torque_nm: tuple[float, ...] = (5.0, 20.0, 15.0, 5.0, 3.0, 3.0, 0.0)
    """Bound of the feed-forward torque per motor (joints 1..6, gripper); the motor's MIT range bounds it too."""

    def validate(self, where: str) -> None:
        for name, size in (("link_mass_kg", 3), ("link_length_m", 2), ("com_m", 3), ("zero_elevation_rad", 3),
                           ("signs", 3), ("factors", 6), ("max_torque_nm", 7)):
            if len(getattr(self, name)) != size:
                raise ValueError(f"{where}.gravity.{name} needs {size} values, got {len(getattr(self, name))}.")


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
    can_bitrate: int = 1_000_000
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
            raise ValueError(
                f"--robot.backend={self.backend!r} is not a YAM backend; use one of {', '.join(BACKENDS)}."
            )
        if not 0 < self.watchdog_s <= 0.4:
            raise ValueError(
                f"--robot.watchdog_s={self.watchdog_s} must be in (0, 0.4]: the motors damp on their own after 0.4 s."
            )
        if self.zmq_encoding not in ("msgpack", "json"):
            raise ValueError(f"--robot.zmq_encoding={self.zmq_encoding!r}: use `msgpack` or `json`.")
        self.gravity.validate("--robot")
        for side, arm in (("left_arm", self.left_arm), ("right_arm", self.right_arm)):
            for name in ("kp", "kd", "passive_kd", "directions"):
                if len(getattr(arm, name)) != len(ARM_JOINTS):
                    raise ValueError(f"--robot.{side}.{name} needs {len(ARM_JOINTS)} values (6 joints + gripper).")
            if any(d not in (-1, 1) for d in arm.directions):
                raise ValueError(f"--robot.{side}.directions must hold only 1 or -1.")
