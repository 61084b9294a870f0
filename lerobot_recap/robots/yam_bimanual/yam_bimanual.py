"""``yam_bimanual``: two I2RT YAM arms and three cameras as one LeRobot robot (14-D absolute joint actions)."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path

import numpy as np
from lerobot.cameras import CameraConfig
from lerobot.cameras.realsense.configuration_realsense import RealSenseCameraConfig
from lerobot.cameras.utils import make_cameras_from_configs
from lerobot.robots.robot import Robot
from lerobot.utils.decorators import check_if_already_connected, check_if_not_connected
from lerobot.utils.errors import DeviceNotConnectedError

from lerobot_recap.cameras.sim_camera.config_sim_camera import SimCameraConfig
from lerobot_recap.motors.yam.arm import ArmBackend, ArmFaultError, SimArm
from lerobot_recap.motors.yam.calibration import JointMap, default_arm_calibration
from lerobot_recap.motors.yam.tables import ARM_JOINTS
from lerobot_recap.robots.yam_bimanual.config_yam_bimanual import CAMERA_PLACEHOLDER, YamArmConfig, YamBimanualConfig

logger = logging.getLogger(__name__)

SIDES = ("left", "right")
SIM_HOME_JOINTS = np.array([0.0, 0.6, 0.6, 0.0, 0.0, 0.0, 0.5])
"""Pose the simulated arms start in (joint space, gripper half open)."""


def _identity_map() -> JointMap:
    """Motor angle = joint angle, gripper over the default stroke: lets the arms run before calibration exists."""
    return JointMap.from_calibration(default_arm_calibration((1,) * len(ARM_JOINTS)))


def arm_feature_names(side: str) -> list[str]:
    return [f"{side}_{joint}.pos" for joint in ARM_JOINTS]


class YamBimanual(Robot):
    """Two YAM arms (left, right), each 6 joints + a gripper normalized to [0, 1], plus cameras.

    Actions are absolute joint targets. Every action passes the same safety chain before it reaches a motor:
    joint-range clamp (with margin), ``max_relative_target`` around the measured pose, then a velocity-limited
    setpoint in the backend, which holds when actions stop for ``watchdog_s``.
    """

    config_class = YamBimanualConfig
    name = "yam_bimanual"

    def __init__(self, config: YamBimanualConfig):
        super().__init__(config)
        self.config = config
        self._check_camera_serials()
        try:
            self.cameras = make_cameras_from_configs(self._camera_configs())
        except Exception as e:
            raise RuntimeError(
                f"Could not create the cameras of {self} ({type(e).__name__}: {e}). For RealSense cameras install "
                "pyrealsense2 (`pip install 'lerobot-recap[realsense]'`)."
            ) from e
        self.arms: dict[str, ArmBackend] = {}
        self._maps: dict[str, JointMap] = {}
        self._clamp_logged: set[str] = set()
        self._last_joint: dict[str, np.ndarray] = {}

    def _camera_configs(self) -> dict[str, CameraConfig]:
        configs = dict(self.config.cameras)
        if self.config.backend != "sim":
            return configs
        # The sim backend has no RealSense: unset default cameras become synthetic ones of the same size.
        for i, (name, cfg) in enumerate(configs.items()):
            if isinstance(cfg, RealSenseCameraConfig) and cfg.serial_number_or_name == CAMERA_PLACEHOLDER:
                configs[name] = SimCameraConfig(fps=cfg.fps, width=cfg.width, height=cfg.height, seed=i)
        return configs

    # ---------------------------------------------------------------- features

    @cached_property
    def observation_features(self) -> dict[str, type | tuple]:
        cameras = {name: (cam.height, cam.width, 3) for name, cam in self.cameras.items()}
        return {**self.action_features, **cameras}

    @cached_property
    def action_features(self) -> dict[str, type]:
        return {name: float for side in SIDES for name in arm_feature_names(side)}

    # ---------------------------------------------------------------- lifecycle

    @property
    def is_connected(self) -> bool:
        return bool(self.arms) and all(arm.is_connected for arm in self.arms.values())

    @property
    def is_calibrated(self) -> bool:
        return all(f"{side}_{joint}" in self.calibration for side in SIDES for joint in ARM_JOINTS)

    @check_if_already_connected
    def connect(self, calibrate: bool = True) -> None:
        # The simulated arms calibrate without an operator, so they never need the pending mode below.
        if not self.is_calibrated and (calibrate or self.config.backend == "sim"):
            self.calibrate()
        pending = not self.is_calibrated
        if pending:
            # `lerobot-calibrate` connects with calibrate=False, then calls calibrate(): the arms come up limp
            # (no gravity model: it needs the joint zero being measured) and actions are refused until then.
            logger.warning("%s has no calibration yet: its arms connect limp and actions are refused until "
                           "`lerobot-calibrate` has run.", self)
            self._maps = {side: _identity_map() for side in SIDES}
        else:
            self._maps = {side: JointMap.from_calibration(self.calibration, f"{side}_") for side in SIDES}
        arms = {side: self._make_arm(side, gravity=not pending) for side in SIDES}
        try:
            for arm in arms.values():
                arm.connect()
                self.arms[arm.name] = arm
                if pending:
                    arm.set_passive(True)
            for name, cam in self.cameras.items():
                try:
                    cam.connect()
                except Exception as e:
                    raise ConnectionError(f"{self}: camera {name!r} did not connect ({e}).") from e
        except BaseException:
            self._shutdown_arms()
            for cam in self.cameras.values():
                if cam.is_connected:
                    cam.disconnect()
            raise
        self.configure()
        logger.info("%s connected (backend %s); arms hold their measured pose.", self, self.config.backend)

    def _check_camera_serials(self) -> None:
        if self.config.backend == "sim":
            return
        unset = [
            name
            for name, cfg in self.config.cameras.items()
            if isinstance(cfg, RealSenseCameraConfig) and cfg.serial_number_or_name == CAMERA_PLACEHOLDER
        ]
        if unset:
            raise ValueError(
                f"RealSense serial numbers are not set for cameras {unset}. List them with "
                "`lerobot-find-cameras realsense` and pass them, e.g. --robot.cameras='{top: {type: intelrealsense, "
                'serial_number_or_name: "123456789", width: 640, height: 480, fps: 30}, ...}\'.'
            )

    def _arm_config(self, side: str) -> YamArmConfig:
        return self.config.left_arm if side == "left" else self.config.right_arm

    def _make_arm(self, side: str, gravity: bool = True) -> ArmBackend:
        cfg = self.config
        velocity = self._maps[side].motor_velocity_limits(cfg.max_joint_velocity, cfg.max_gripper_velocity)
        arm_cfg = self._arm_config(side)
        name = f"{side} arm"
        if cfg.backend == "sim":
            home = self._maps[side].to_motor(SIM_HOME_JOINTS)
            return SimArm(name, home, velocity, cfg.watchdog_s, cfg.sim_time_constant_s)
        if cfg.backend == "can":
            from lerobot_recap.motors.yam.can_arm import CanArm
            from lerobot_recap.motors.yam.gravity import GravityModel, make_feedforward

            feedforward = None
            if gravity and cfg.gravity.enabled:
                joint_map = self._maps[side]
                feedforward = make_feedforward(GravityModel(cfg.gravity), joint_map.offset, joint_map.direction)
            return CanArm(
                name,
                channel=arm_cfg.channel,
                interface=arm_cfg.can_interface,
                bitrate=cfg.can_bitrate,
                kp=np.array(arm_cfg.kp),
                kd=np.array(arm_cfg.kd),
                max_velocity=velocity,
                watchdog_s=cfg.watchdog_s,
                control_hz=cfg.control_hz,
                reply_timeout_s=cfg.motor_reply_timeout_s,
                damping_s=cfg.disconnect_damping_s,
                passive_kd=np.array(arm_cfg.passive_kd),
                feedforward=feedforward,
                max_torque_nm=cfg.gravity.max_torque_nm,
            )
        from lerobot_recap.motors.yam.zmq_arm import ZmqArm

        return ZmqArm(name, arm_cfg.host, arm_cfg.port, cfg.zmq_timeout_s, cfg.zmq_encoding)

    def calibrate(self) -> None:
        """Zero offsets, directions and gripper range per arm, saved under LeRobot's calibration dir by ``id``.

        The simulated arms need no operator: the default calibration is written. Real arms go limp (light damping,
        no gravity compensation: hold them) and the operator poses them: all joints at their zero (the folded rest
        pose), grippers closed, then grippers fully open. Already connected arms (``lerobot-calibrate`` connects
        first) are used as they are; otherwise both arms are connected for the procedure and released after it.
        """
        calibration = {}
        if self.config.backend == "sim":
            for side in SIDES:
                arm = default_arm_calibration(self._arm_config(side).directions)
                calibration.update({f"{side}_{k}": v for k, v in arm.items()})
        else:
            calibration = self._calibrate_interactively()
        maps = {side: JointMap.from_calibration(calibration, f"{side}_") for side in SIDES}  # validates first
        self.calibration = calibration
        self._save_calibration()
        if self.arms:
            self._maps = maps
        logger.info("Calibration saved to %s", self.calibration_fpath)

    def _calibrate_interactively(self) -> dict:
        owned = not self.arms
        if owned:
            # Identity maps let the backends run before the real calibration exists.
            self._maps = {side: _identity_map() for side in SIDES}
            # No gravity feed-forward while calibrating: its model needs the joint zero this step measures.
            arms = {side: self._make_arm(side, gravity=False) for side in SIDES}
        else:
            arms = {side: self.arms[f"{side} arm"] for side in SIDES}
        try:
            for arm in arms.values():
                if not arm.is_connected:
                    arm.connect()
                arm.set_passive(True)
            input(
                f"Calibrating {self}: both arms are limp. Put every joint at its zero (the folded rest pose) "
                "and close both grippers, then press ENTER..."
            )
            zero = {side: arms[side].read().position for side in SIDES}
            input("Now open both grippers fully by hand, then press ENTER...")
            opened = {side: arms[side].read().position for side in SIDES}
        finally:
            if owned:
                for arm in arms.values():
                    if arm.is_connected:
                        arm.disconnect()
            else:
                # A connected robot stays drivable: hold the pose the operator left (gravity model from the next
                # connect, once the zero is known).
                for arm in arms.values():
                    if arm.is_connected:
                        arm.set_passive(False)
        calibration = {}
        for side in SIDES:
            arm = default_arm_calibration(
                self._arm_config(side).directions,
                zero_motor_position=zero[side],
                gripper_closed=float(zero[side][6]),
                gripper_open=float(opened[side][6]),
            )
            calibration.update({f"{side}_{k}": v for k, v in arm.items()})
        return calibration

    def configure(self) -> None:
        # Gains and modes are set by the backends when they connect; nothing to write to the motors here.
        pass

    # ---------------------------------------------------------------- I/O

    def _hold_all(self) -> None:
        for arm in self.arms.values():
            try:
                arm.hold()
            except Exception:  # noqa: BLE001  (best effort: the faulty arm already holds or damps itself)
                logger.exception("Could not hold %s", arm.name)

    def _read_joints(self) -> dict[str, np.ndarray]:
        joints = {}
        for side in SIDES:
            try:
                state = self.arms[f"{side} arm"].read()
            except ArmFaultError:
                self._hold_all()
                raise
            joints[side] = self._maps[side].to_joint(state.position)
        self._last_joint = joints
        return joints

    @check_if_not_connected
    def get_observation(self) -> dict:
        joints = self._read_joints()
        observation: dict = {}
        for side in SIDES:
            observation.update(dict(zip(arm_feature_names(side), map(float, joints[side]), strict=True)))
        for name, cam in self.cameras.items():
            try:
                observation[name] = cam.async_read()
            except Exception as e:
                self._hold_all()
                raise RuntimeError(
                    f"{self}: camera {name!r} failed ({type(e).__name__}: {e}). The arms are holding their pose; "
                    "check the camera's cable/USB port and restart."
                ) from e
        return observation

    @check_if_not_connected
    def send_action(self, action: dict) -> dict:
        if not self.is_calibrated:
            raise RuntimeError(
                f"{self} is not calibrated: run `lerobot-calibrate --robot.type=yam_bimanual "
                f"--robot.backend={self.config.backend} --robot.id={self.id}` before sending actions."
            )
        missing = [k for k in self.action_features if k not in action]
        if missing:
            raise ValueError(f"{self}: action lacks {missing}; a yam_bimanual action has the 14 keys {list(self.action_features)}.")
        measured = self._read_joints()
        sent: dict[str, float] = {}
        for side in SIDES:
            names = arm_feature_names(side)
            target = np.array([float(action[n]) for n in names])
            safe = self._make_safe(side, names, target, measured[side])
            self.arms[f"{side} arm"].command(self._maps[side].to_motor(safe))
            sent.update(dict(zip(names, map(float, safe), strict=True)))
        if self.config.sim_action_log and self.config.backend == "sim":
            with Path(self.config.sim_action_log).open("a") as f:
                f.write(json.dumps(sent) + "\n")
        return sent

    def _make_safe(self, side: str, names: list[str], target: np.ndarray, measured: np.ndarray) -> np.ndarray:
        joint_map = self._maps[side]
        margin = self.config.joint_limit_margin_rad
        lower = np.append(joint_map.lower + margin, 0.0)
        upper = np.append(joint_map.upper - margin, 1.0)
        if not np.all(np.isfinite(target)):
            raise ValueError(f"{self}: non-finite target for {side} arm: {target.tolist()}")
        safe = np.clip(target, lower, upper)
        self._log_once(names, target, safe, "outside the joint range (with margin)")
        if self.config.max_relative_target is not None:
            step = self.config.max_relative_target
            stepped = np.clip(safe, measured - step, measured + step)
            self._log_once(names, safe, stepped, f"more than max_relative_target={step} from the measured pose")
            safe = stepped
        return safe

    def _log_once(self, names: list[str], before: np.ndarray, after: np.ndarray, why: str) -> None:
        for name, b, a in zip(names, before, after, strict=True):
            key = f"{name}:{why}"
            if b != a and key not in self._clamp_logged:
                self._clamp_logged.add(key)
                logger.warning("%s: target %s=%.4f is %s; clamped to %.4f (logged once).", self, name, b, why, a)

    def _shutdown_arms(self) -> None:
        for arm in list(self.arms.values()):
            try:
                arm.disconnect()
            except Exception:  # noqa: BLE001  (keep going: the other arm must still be shut down)
                logger.exception("Error while disconnecting %s", arm.name)
        self.arms = {}

    def disconnect(self) -> None:
        # Not decorated: after a fault (a camera unplugged, a motor silent) the robot is half up and must still
        # shut down cleanly from lerobot-record's `finally`.
        if not self.arms and not any(cam.is_connected for cam in self.cameras.values()):
            raise DeviceNotConnectedError(f"{self} is not connected.")
        for cam in self.cameras.values():
            if cam.is_connected:
                cam.disconnect()
        self._shutdown_arms()
        logger.info("%s disconnected.", self)
