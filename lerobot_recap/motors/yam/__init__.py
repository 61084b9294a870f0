"""Drivers of the I2RT YAM arm, shared by the ``yam_bimanual`` robot, the ``yam_bimanual_leader`` teleoperator and
``lerobot-recap-yam-server``.

Modules (only :mod:`.tables` and :mod:`.config_gravity` are imported here: they are plain constants and a
dataclass, so that the robot and teleoperator configs stay cheap to import):

- ``tables``: joint names and ranges, Damiao motor models, CAN IDs of the YAM;
- ``config_gravity`` / ``gravity``: the gravity-compensation config and its point-mass model;
- ``damiao``: Damiao MIT frames and one motor chain per CAN channel (LeRobot's Damiao tables; see its docstring
  for what is taken from LeRobot's ``DamiaoMotorsBus`` and why the servo loop does not run on it);
- ``damiao_virtual``: simulated Damiao motors (and teaching handle) on python-can's ``virtual`` interface;
- ``teaching_handle``: the leader arm's trigger encoder and buttons;
- ``arm``: the backend interface in motor space, the setpoint shaper and the in-process ``SimArm``;
- ``can_arm``: the CAN servo loop (follower and leader arms); ``zmq_arm``: the client of the arm server;
- ``calibration``: motor space <-> joint space through LeRobot's ``MotorCalibration``;
- ``server``: the arm server behind ``lerobot-recap-yam-server``.
"""

from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.tables import ARM_JOINTS, N_MOTORS, YAM_JOINT_LIMITS_RAD, YAM_MOTOR_TYPES

__all__ = ["ARM_JOINTS", "N_MOTORS", "YAM_JOINT_LIMITS_RAD", "YAM_MOTOR_TYPES", "YamGravityConfig"]
