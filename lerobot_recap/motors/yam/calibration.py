"""Calibration of a YAM arm: motor space <-> joint space, stored the LeRobot way (``MotorCalibration`` by ``id``).

``MotorCalibration`` holds integers, so angles are stored in **microradians**:
- joints 1..6: ``homing_offset`` = motor angle at the joint zero, ``drive_mode`` 0 (same sign) or 1 (flipped),
  ``range_min``/``range_max`` = the allowed joint range;
- gripper: ``range_min`` = motor angle fully closed, ``range_max`` = motor angle fully open (normalized 0 / 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lerobot.motors.motors_bus import MotorCalibration

from lerobot_recap.motors.yam.tables import ARM_JOINTS, YAM_JOINT_LIMITS_RAD

MICRO = 1e6
LINEAR_4310_STROKE_RAD = 6.57
"""Motor travel of the linear_4310 gripper from closed to open (i2rt)."""


def to_micro(x: float) -> int:
    return int(round(float(x) * MICRO))


def default_arm_calibration(
    directions: tuple[int, ...],
    zero_motor_position: np.ndarray | None = None,
    gripper_closed: float = 0.0,
    gripper_open: float = LINEAR_4310_STROKE_RAD,
) -> dict[str, MotorCalibration]:
    """Calibration of one arm, keyed by motor name (``joint_1`` .. ``gripper``)."""
    zero = np.zeros(len(ARM_JOINTS)) if zero_motor_position is None else zero_motor_position
    calibration = {}
    for i, name in enumerate(ARM_JOINTS[:-1]):
        low, high = YAM_JOINT_LIMITS_RAD[i]
        calibration[name] = MotorCalibration(
            id=i + 1,
            drive_mode=0 if directions[i] > 0 else 1,
            homing_offset=to_micro(zero[i]),
            range_min=to_micro(low),
            range_max=to_micro(high),
        )
    calibration["gripper"] = MotorCalibration(
        id=len(ARM_JOINTS),
        drive_mode=0,
        homing_offset=0,
        range_min=to_micro(gripper_closed),
        range_max=to_micro(gripper_open),
    )
    return calibration


@dataclass
class JointMap:
    """The vectorized form of one arm's calibration."""

    offset: np.ndarray
    direction: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    gripper_closed: float
    gripper_open: float

    @classmethod
    def from_calibration(cls, calibration: dict[str, MotorCalibration], prefix: str = "") -> JointMap:
        missing = [f"{prefix}{n}" for n in ARM_JOINTS if f"{prefix}{n}" not in calibration]
        if missing:
            raise ValueError(f"Calibration lacks {missing}: run `lerobot-calibrate` for this robot id again.")
        joints = [calibration[f"{prefix}{n}"] for n in ARM_JOINTS[:-1]]
        gripper = calibration[f"{prefix}gripper"]
        if gripper.range_max == gripper.range_min:
            raise ValueError(
                f"Calibration of {prefix}gripper has the same closed and open angle: "
                "re-run `lerobot-calibrate` and move the gripper through its full range."
            )
        return cls(
            offset=np.array([c.homing_offset / MICRO for c in joints]),
            direction=np.array([-1.0 if c.drive_mode else 1.0 for c in joints]),
            lower=np.array([c.range_min / MICRO for c in joints]),
            upper=np.array([c.range_max / MICRO for c in joints]),
            gripper_closed=gripper.range_min / MICRO,
            gripper_open=gripper.range_max / MICRO,
        )

    def to_joint(self, motor: np.ndarray) -> np.ndarray:
        """7 motor angles -> 6 joint angles (rad) + gripper opening in [0, 1]."""
        joints = self.direction * (motor[:6] - self.offset)
        gripper = (motor[6] - self.gripper_closed) / (self.gripper_open - self.gripper_closed)
        return np.append(joints, np.clip(gripper, 0.0, 1.0))

    def to_motor(self, joint: np.ndarray) -> np.ndarray:
        motors = self.offset + self.direction * joint[:6]
        gripper = self.gripper_closed + joint[6] * (self.gripper_open - self.gripper_closed)
        return np.append(motors, gripper)

    def motor_velocity_limits(self, joint_velocity: float, gripper_velocity: float) -> np.ndarray:
        """Per-motor setpoint speed limits in motor units (the gripper's depends on its stroke)."""
        stroke = abs(self.gripper_open - self.gripper_closed)
        return np.append(np.full(6, joint_velocity), gripper_velocity * stroke)
