"""``yam_bimanual_leader``: two YAM leader arms with teaching handles, producing ``yam_bimanual`` actions.

Backends: ``sim`` (a scripted operator), ``can`` (each leader arm on its own CAN channel, driven by the same servo
loop as the follower: passive, light damping, gravity compensation, the handle polled on the bus) and ``zmq``
(``lerobot-recap-yam-server --arm=leader`` next to the arms). Leader arms are calibrated like the follower (joint
zero at the folded rest pose, directions), stored under LeRobot's teleoperator calibration dir by ``id``.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property

import numpy as np
from lerobot.teleoperators.teleoperator import Teleoperator
from lerobot.teleoperators.utils import TeleopEvents
from lerobot.utils.decorators import check_if_already_connected, check_if_not_connected

from lerobot_recap.motors.yam.arm import ArmBackend
from lerobot_recap.motors.yam.calibration import JointMap, default_arm_calibration
from lerobot_recap.motors.yam.tables import ARM_JOINTS, YAM_CAN_BITRATE
from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig

logger = logging.getLogger(__name__)

SIDES = ("left", "right")
LEADER_HOME_JOINTS = np.array([0.0, 0.6, 0.6, 0.0, 0.0, 0.0])
"""Pose the simulated leader arms oscillate around (the simulated followers start there too)."""


def _identity_map() -> JointMap:
    """Motor angle = joint angle and the handle squeeze as is: lets the arms run before calibration exists."""
    return JointMap.from_calibration(default_arm_calibration((1,) * len(ARM_JOINTS), gripper_open=1.0))


class SimLeaderArm:
    """A scripted operator: smooth joint motion, a trigger squeezed and released, a button press window."""

    def __init__(self, config: YamBimanualLeaderConfig, phase: float):
        self.config = config
        self.phase = phase
        self._t0 = 0.0

    def connect(self) -> None:
        self._t0 = time.monotonic()

    def read(self) -> tuple[np.ndarray, float, tuple[bool, bool]]:
        """Joints 1..6 (rad), handle trigger in [0, 1] (1 = squeezed), (top, second) buttons."""
        t = time.monotonic() - self._t0
        w = 2 * np.pi / self.config.sim_period_s
        joints = LEADER_HOME_JOINTS + self.config.sim_amplitude_rad * np.sin(w * t + self.phase + np.arange(6))
        trigger = 0.5 - 0.5 * np.cos(w * t + self.phase)
        start, end = self.config.sim_button_window_s
        return joints, float(trigger), (start <= t < end, False)


class YamBimanualLeader(Teleoperator):
    """Reads both leader arms; action keys match ``yam_bimanual`` (``left_joint_1.pos`` ... ``right_gripper.pos``).

    The handle trigger maps to the follower gripper as ``1 - squeeze`` (squeeze to close, gripper 0 = closed); a
    handle button held on either arm sets its configured teleop event (``get_teleop_events``). With
    ``bilateral_kp`` > 0, ``send_feedback`` (the follower pose) pulls the leader arms toward it at that fraction of
    their kp; when feedback stops the arms float freely again.
    """

    config_class = YamBimanualLeaderConfig
    name = "yam_bimanual_leader"

    def __init__(self, config: YamBimanualLeaderConfig):
        super().__init__(config)
        self.config = config
        self._arms: dict[str, SimLeaderArm | ArmBackend] = {}
        self._maps: dict[str, JointMap] = {}
        self._squeeze: dict[str, float] = {side: 0.0 for side in SIDES}
        self._buttons: dict[str, tuple[bool, bool]] = {side: (False, False) for side in SIDES}

    @cached_property
    def action_features(self) -> dict[str, type]:
        return {f"{side}_{joint}.pos": float for side in SIDES for joint in ARM_JOINTS}

    @cached_property
    def feedback_features(self) -> dict[str, type]:
        # Bilateral mode takes the follower pose (same keys as the action).
        return dict(self.action_features) if self.config.bilateral_kp > 0 else {}

    @property
    def is_connected(self) -> bool:
        return bool(self._arms)

    @property
    def is_calibrated(self) -> bool:
        if self.config.backend == "sim":
            return True  # the scripted operator needs no calibration
        return all(f"{side}_{joint}" in self.calibration for side in SIDES for joint in ARM_JOINTS)

    @check_if_already_connected
    def connect(self, calibrate: bool = True) -> None:
        if self.config.backend == "sim":
            self._arms = {side: SimLeaderArm(self.config, phase=i * np.pi / 2) for i, side in enumerate(SIDES)}
            for arm in self._arms.values():
                arm.connect()
            logger.info("%s connected (backend sim).", self)
            return
        if not self.is_calibrated and calibrate:
            self.calibrate()
        pending = not self.is_calibrated
        if pending:
            # `lerobot-calibrate` connects with calibrate=False and calls calibrate() next: until then the arms
            # float without gravity model (it needs the zero being measured) and get_action is refused.
            logger.warning("%s has no calibration yet: actions are refused until `lerobot-calibrate` has run.", self)
            self._maps = {side: _identity_map() for side in SIDES}
        else:
            self._maps = {side: JointMap.from_calibration(self.calibration, f"{side}_") for side in SIDES}
        arms = {side: self._make_arm(side, gravity=not pending) for side in SIDES}
        try:
            for side, arm in arms.items():
                arm.connect()
                self._arms[side] = arm
                arm.set_passive(True, 0.0 if pending else self.config.bilateral_kp)
        except BaseException:
            self._shutdown_arms()
            raise
        logger.info("%s connected (backend %s); the leader arms float.", self, self.config.backend)

    def _make_arm(self, side: str, gravity: bool = True) -> ArmBackend:
        cfg = self.config
        arm_cfg = cfg.left_arm if side == "left" else cfg.right_arm
        name = f"{side} leader arm"
        if cfg.backend == "zmq":
            from lerobot_recap.motors.yam.zmq_arm import ZmqArm

            return ZmqArm(name, arm_cfg.host, arm_cfg.port, cfg.zmq_timeout_s, cfg.zmq_encoding)
        from lerobot_recap.motors.yam.can_arm import LeaderCanArm
        from lerobot_recap.motors.yam.gravity import GravityModel, make_feedforward
        from lerobot_recap.motors.yam.teaching_handle import HandleCodec

        feedforward = None
        if gravity and cfg.gravity.enabled:
            joint_map = self._maps[side]
            feedforward = make_feedforward(GravityModel(cfg.gravity), joint_map.offset, joint_map.direction)
        return LeaderCanArm(
            name, arm_cfg.channel, arm_cfg.can_interface, YAM_CAN_BITRATE,
            kp=np.array(arm_cfg.kp), kd=np.array(arm_cfg.passive_kd), max_velocity=np.full(6, 3.0),
            watchdog_s=cfg.watchdog_s, handle_codec=HandleCodec(range_rad=cfg.handle_range_rad),
            handle_request_id=cfg.handle_request_id, handle_reply_id=cfg.handle_reply_id,
            control_hz=cfg.control_hz, reply_timeout_s=cfg.motor_reply_timeout_s, damping_s=cfg.disconnect_damping_s,
            passive_kd=np.array(arm_cfg.passive_kd), feedforward=feedforward, max_torque_nm=cfg.gravity.max_torque_nm,
        )

    def calibrate(self) -> None:
        """Joint zero of both leader arms: the operator folds them into the rest pose and presses ENTER.

        The arms float freely meanwhile (light damping, no gravity compensation: it needs this very zero). The
        gripper entry stores the handle squeeze range (0..1), so the leader's joint map reads it unchanged.
        """
        if self.config.backend == "sim":
            return
        owned = not self._arms
        if owned:
            self._maps = {side: _identity_map() for side in SIDES}
            arms = {side: self._make_arm(side, gravity=False) for side in SIDES}
        else:
            arms = dict(self._arms)
        try:
            for arm in arms.values():
                if not arm.is_connected:
                    arm.connect()
                arm.set_passive(True)
            input(f"Calibrating {self}: fold both leader arms into their rest pose (every joint at zero), "
                  "then press ENTER...")
            zero = {side: arms[side].read().position for side in SIDES}
        finally:
            if owned:
                for arm in arms.values():
                    if arm.is_connected:
                        arm.disconnect()
        calibration = {}
        for side in SIDES:
            arm_cfg = self.config.left_arm if side == "left" else self.config.right_arm
            arm = default_arm_calibration(
                tuple(arm_cfg.directions) + (1,), zero_motor_position=zero[side], gripper_closed=0.0, gripper_open=1.0
            )
            calibration.update({f"{side}_{k}": v for k, v in arm.items()})
        self.calibration = calibration
        self._save_calibration()
        if self._arms:
            self._maps = {side: JointMap.from_calibration(calibration, f"{side}_") for side in SIDES}
        logger.info("Leader calibration saved to %s", self.calibration_fpath)

    def configure(self) -> None:
        pass

    def _read_side(self, side: str) -> tuple[np.ndarray, float, tuple[bool, bool]]:
        """Joints 1..6 (rad), handle squeeze in [0, 1], (top, second) buttons."""
        arm = self._arms[side]
        if isinstance(arm, SimLeaderArm):
            return arm.read()
        state = arm.read()
        joint = self._maps[side].to_joint(state.position)
        return joint[:6], float(joint[6]), tuple(state.buttons)

    @check_if_not_connected
    def get_action(self) -> dict[str, float]:
        if not self.is_calibrated:
            raise RuntimeError(
                f"{self} is not calibrated: run `lerobot-calibrate --teleop.type=yam_bimanual_leader "
                f"--teleop.backend={self.config.backend} --teleop.id={self.id}` first."
            )
        action: dict[str, float] = {}
        for side in SIDES:
            joints, squeeze, buttons = self._read_side(side)
            self._squeeze[side] = squeeze
            self._buttons[side] = buttons
            values = list(map(float, joints)) + [1.0 - squeeze]
            action.update({f"{side}_{joint}.pos": v for joint, v in zip(ARM_JOINTS, values, strict=True)})
        return action

    def get_teleop_events(self) -> dict[TeleopEvents, bool]:
        """LeRobot's HIL event dict; a handle button held on either arm sets its configured event."""
        events = {event: False for event in TeleopEvents}
        for index, event_name in enumerate((self.config.top_button_event, self.config.second_button_event)):
            if event_name and any(buttons[index] for buttons in self._buttons.values()):
                events[TeleopEvents(event_name)] = True
        return events

    @check_if_not_connected
    def send_feedback(self, feedback: dict[str, float]) -> None:
        """Bilateral mode: the follower pose becomes each leader arm's (lightly pulled) target."""
        if self.config.bilateral_kp <= 0 or self.config.backend == "sim" or not self.is_calibrated:
            return  # the scripted operator feels nothing; uncalibrated arms are never pulled anywhere
        for side in SIDES:
            names = [f"{side}_{joint}.pos" for joint in ARM_JOINTS[:6]]
            if not all(n in feedback for n in names):
                continue
            joint = np.array([float(feedback[n]) for n in names] + [self._squeeze[side]])
            self._arms[side].command(self._maps[side].to_motor(joint))

    def _shutdown_arms(self) -> None:
        for arm in list(self._arms.values()):
            if isinstance(arm, SimLeaderArm):
                continue
            try:
                arm.disconnect()
            except Exception:  # noqa: BLE001  (keep going: the other arm must still be released)
                logger.exception("Error while disconnecting %s", arm.name)
        self._arms = {}

    @check_if_not_connected
    def disconnect(self) -> None:
        self._shutdown_arms()
