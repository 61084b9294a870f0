"""Gravity compensation of a YAM arm: a planar point-mass model of the pitch joints, sent as MIT feed-forward torque.

Joints 2, 3 and 4 of the YAM pitch about parallel horizontal axes; joint 1 turns about the vertical and joints
5/6 roll the wrist, so (with the base level and the wrist mass lumped on the wrist link) only joints 2..4 carry
gravity. Each of the three links (upper arm, forearm, wrist + hand) is a point mass at ``com_m`` along the link;
its elevation above the horizontal is ``zero_elevation_rad + cumsum(signs * q)``. The torque a pitch joint must
supply is ``sign * g * sum(mass * horizontal lever arm)`` of every link beyond it. The defaults come from the
masses and link lengths of I2RT's public YAM model; they are estimates (the gripper mass especially) to be tuned
per arm with ``factors`` -- see :class:`~.config_gravity.YamGravityConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lerobot_recap.motors.yam.config_gravity import YamGravityConfig
from lerobot_recap.motors.yam.damiao import motor_limits

G = 9.81


class GravityModel:
    """The holding torques of one YAM arm from its joint angles (see the module docstring for the model)."""

    def __init__(self, config: YamGravityConfig):
        self.mass = tuple(float(m) for m in config.link_mass_kg)
        self.length = tuple(float(x) for x in config.link_length_m)
        self.com = tuple(float(c) for c in config.com_m)
        self.zero = tuple(float(z) for z in config.zero_elevation_rad)
        self.signs = tuple(float(s) for s in config.signs)
        self.factors = np.asarray(config.factors, dtype=np.float64)

    def joint_torques(self, joints: np.ndarray) -> np.ndarray:
        """Holding torques (Nm) of joints 1..6 at joint angles ``joints`` (rad, at least 6 values).

        Plain floats, not numpy: three links are cheaper as scalars, and this runs in every servo tick.
        """
        m, length, com, s = self.mass, self.length, self.com, self.signs
        elevation, turned = [], 0.0
        for k in range(3):
            turned += s[k] * float(joints[1 + k])
            elevation.append(self.zero[k] + turned)
        # Horizontal positions: joints 2, 3, 4 (joint 2 at 0), then each link's centre of mass.
        joint_x = [0.0, length[0] * math.cos(elevation[0])]
        joint_x.append(joint_x[1] + length[1] * math.cos(elevation[1]))
        com_x = [joint_x[k] + com[k] * math.cos(elevation[k]) for k in range(3)]
        torques = np.zeros(6)
        for j in range(3):
            lever = sum(m[k] * (com_x[k] - joint_x[j]) for k in range(j, 3))
            torques[1 + j] = s[j] * G * lever
        return torques * self.factors


def torque_limits(models: tuple[str, ...], configured: tuple[float, ...]) -> np.ndarray:
    """Per-motor feed-forward bound: the configured one, never above what the motor's MIT frame can carry.

    The frame's torque range is the model's T_MAX in LeRobot's Damiao tables; ``configured`` may be longer than
    ``models`` (a leader arm has no gripper motor).
    """
    return np.array([min(abs(limit), motor_limits(model)[2]) for model, limit in zip(models, configured, strict=False)])


def make_feedforward(
    model: GravityModel, offset: np.ndarray, direction: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """Motor angles -> gravity torques of motors 1..6, through one arm's calibration (joint = dir * (motor - off)).

    A torque transforms like the angle's sign: the motor supplies ``direction * joint torque``.
    """
    offset = np.asarray(offset, dtype=np.float64)
    direction = np.asarray(direction, dtype=np.float64)

    def feedforward(motor_positions: np.ndarray) -> np.ndarray:
        joints = direction * (np.asarray(motor_positions[:6], dtype=np.float64) - offset)
        return direction * model.joint_torques(joints)

    return feedforward
