"""Constants of the I2RT YAM arm: joint names and ranges, Damiao motor models, CAN wiring.

Import-free on purpose: the robot and teleoperator configs read these at ``import lerobot_recap``. The per-model
Damiao limits (position, velocity and torque range of the MIT frame) are not repeated here: they are LeRobot's
(``lerobot.motors.damiao.tables``), read through :mod:`.damiao`, which loads python-can and is therefore imported
only when a CAN arm is built.
"""

ARM_JOINTS: tuple[str, ...] = ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "gripper")
"""Motor names of one arm, in CAN-ID order (IDs 1..7)."""

N_MOTORS = len(ARM_JOINTS)
"""Values in an arm's motor-space vector (a leader arm's 7th value is its handle squeeze)."""

YAM_JOINT_LIMITS_RAD: tuple[tuple[float, float], ...] = (
    (-2.61799, 3.14159),
    (0.0, 3.66519),
    (0.0, 3.14159),
    (-1.69297, 1.5708),
    (-1.5708, 1.5708),
    (-2.0944, 2.0944),
)
"""Joint ranges of the YAM arm (i2rt ``yam.xml``), joints 1..6, in radians."""

YAM_MOTOR_TYPES: tuple[str, ...] = ("dm4340", "dm4340", "dm4340", "dm4310", "dm4310", "dm4310", "dm4310")
"""Damiao model per motor (IDs 1..7; the linear_4310 gripper is a DM4310), named as in LeRobot's ``MODEL_NAMES``."""

FEEDBACK_ID_OFFSET = 0x10
"""A YAM motor answers on its ID + 0x10 (the master ID I2RT sets): the ``recv_id`` of LeRobot's ``Motor``."""

YAM_CAN_BITRATE = 1_000_000
"""Classic CAN bitrate of the YAM arms (no CAN FD)."""
