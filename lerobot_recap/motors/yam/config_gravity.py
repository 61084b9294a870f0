"""Config of YAM gravity compensation, shared by the robot, the leader teleoperator and the arm server.

Kept light (imported by ``import lerobot_recap`` through those configs): no numpy, python-can or zmq here.
"""

import math
from dataclasses import dataclass

from lerobot_recap.utils.config_errors import ConfigError


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

    def validate(self, flag: str) -> None:
        """Raise a ValueError naming the field whose length is wrong; ``flag`` is this config's own CLI flag
        (``--robot.gravity``, ``--teleop.gravity``, ``--gravity``), so the message names what the user typed."""
        for name, size in (("link_mass_kg", 3), ("link_length_m", 2), ("com_m", 3), ("zero_elevation_rad", 3),
                           ("signs", 3), ("factors", 6), ("max_torque_nm", 7)):
            if len(getattr(self, name)) != size:
                raise ConfigError(f"{flag}.{name} needs {size} values, got {len(getattr(self, name))}.")
