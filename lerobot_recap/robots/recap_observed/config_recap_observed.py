"""Config of the ``recap_observed`` robot: any LeRobot robot, wrapped so ``recap_dagger`` can drive it."""

from dataclasses import dataclass

from lerobot.robots.config import RobotConfig

from lerobot_recap.utils.choices import NestedRobotConfig


@RobotConfig.register_subclass("recap_observed")
@dataclass(kw_only=True)
class RecapObservedConfig(RobotConfig):
    """Wraps ``robot`` unchanged, publishes its observations to recap_dagger and adds the ``recap.*`` action dims.

    Example: ``--robot.type=recap_observed --robot.robot.type=so101_follower --robot.robot.port=/dev/ttyACM0``.
    """

    robot: NestedRobotConfig
    """The real robot (any registered LeRobot robot type)."""
    hub_key: str = "default"
    """Channel name shared with recap_dagger's --teleop.hub_key (only two recorders in one process need it)."""
    record_policy_action: bool = True
    """Also record the policy's would-be action (recap.policy.*, kept during corrections) and recap.policy_valid."""
