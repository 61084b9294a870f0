"""``lerobot_recap.motors.yam``: its boundary with the robot, and what it takes from LeRobot's Damiao driver.

- the leader teleoperator and the arm server are built from ``motors/yam`` alone, never from the follower robot;
- the Damiao constants are LeRobot's tables (views, not copies);
- LeRobot's own ``DamiaoMotorsBus`` drives the simulated YAM motors through its public API, which checks the
  simulated motors (and the frame decoder they share with the servo loop) against an independent implementation.
"""

import ast
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from lerobot_recap.motors.yam import damiao
from lerobot_recap.motors.yam.damiao_virtual import VirtualDamiaoArm
from lerobot_recap.motors.yam.tables import ARM_JOINTS, FEEDBACK_ID_OFFSET, YAM_MOTOR_TYPES
from tests.hardware.conftest import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
HOME = np.array([0.1, 0.5, 0.6, -0.2, 0.3, 0.0, 1.5])

# Runs in a fresh interpreter. The parent packages are created without running their __init__ (``lerobot_recap``
# imports every registered config, the robot's included, by design): what ends up in sys.modules is then only what
# the probed module imports itself, the lazy imports of the snippet included.
IMPORT_PROBE = r"""
import importlib
import importlib.util
import sys

for package in ("lerobot_recap", "lerobot_recap.teleoperators", "lerobot_recap.scripts"):
    spec = importlib.util.find_spec(package)
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)

importlib.import_module(sys.argv[1])
exec(sys.argv[2])
robots = sorted(m for m in sys.modules if m == "lerobot_recap.robots" or m.startswith("lerobot_recap.robots."))
print("ROBOT_MODULES", robots)
"""

LEADER_BACKENDS = """
from pathlib import Path
from lerobot_recap.teleoperators.yam_bimanual_leader import yam_bimanual_leader as module
from lerobot_recap.teleoperators.yam_bimanual_leader.config_yam_bimanual_leader import YamBimanualLeaderConfig
for backend in ("can", "zmq"):
    leader = module.YamBimanualLeader(YamBimanualLeaderConfig(backend=backend, calibration_dir=Path(sys.argv[3])))
    leader._maps = {side: module._identity_map() for side in module.SIDES}
    arms = [leader._make_arm(side, gravity=True) for side in module.SIDES]  # built, never connected
    assert not any(arm.is_connected for arm in arms)
"""

SERVER_BACKENDS = """
import importlib
from lerobot_recap.motors.yam.server import YamServerConfig, make_backend
importlib.import_module("lerobot_recap.scripts.lerobot_recap_yam_server")
for kwargs in ({}, {"backend": "can"}, {"backend": "can", "arm": "leader"}):
    assert not make_backend(YamServerConfig(**kwargs)).is_connected  # built, never connected
"""


def robot_modules_imported_by(module: str, snippet: str, tmp_path: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, module, snippet, str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("ROBOT_MODULES"))
    return ast.literal_eval(line.removeprefix("ROBOT_MODULES "))


@pytest.mark.parametrize(
    "module, snippet",
    [
        ("lerobot_recap.teleoperators.yam_bimanual_leader.yam_bimanual_leader", LEADER_BACKENDS),
        ("lerobot_recap.motors.yam.server", SERVER_BACKENDS),
    ],
    ids=["leader_teleop", "arm_server"],
)
def test_leader_and_server_do_not_import_the_robot(module, snippet, tmp_path):
    assert robot_modules_imported_by(module, snippet, tmp_path) == []


def test_the_import_probe_sees_robot_imports(tmp_path):
    # The control case: were the probe blind, the test above would pass for any code.
    modules = robot_modules_imported_by("lerobot_recap.robots.yam_bimanual.yam_bimanual", "", tmp_path)
    assert "lerobot_recap.robots.yam_bimanual.config_yam_bimanual" in modules


def test_damiao_constants_are_lerobots_tables():
    from lerobot.motors.damiao import tables

    for motor_type, name in tables.MODEL_NAMES.items():
        # The very objects of LeRobot's table: a model LeRobot adds or corrects reaches the YAM drivers unchanged.
        assert damiao.motor_limits(name) is tables.MOTOR_LIMIT_PARAMS[motor_type]
    assert set(damiao.MOTOR_LIMITS) == set(tables.MODEL_NAMES.values())
    assert set(YAM_MOTOR_TYPES) <= set(damiao.MOTOR_LIMITS)
    assert damiao.KP_RANGE is tables.MIT_KP_RANGE and damiao.KD_RANGE is tables.MIT_KD_RANGE
    assert (damiao.CAN_CMD_ENABLE, damiao.CAN_CMD_DISABLE, damiao.CAN_CMD_SET_ZERO, damiao.CAN_CMD_REFRESH,
            damiao.CAN_PARAM_ID) == (tables.CAN_CMD_ENABLE, tables.CAN_CMD_DISABLE, tables.CAN_CMD_SET_ZERO,
                                     tables.CAN_CMD_REFRESH, tables.CAN_PARAM_ID)
    assert damiao.CAN_CMD_CLEAR_ERROR not in {v for k, v in vars(tables).items() if k.startswith("CAN_CMD_")}
    # The frame codec scales by the table, for models the YAM does not use too.
    p_max, v_max, t_max = tables.MOTOR_LIMIT_PARAMS[tables.MotorType.DM8009]
    decoded = damiao.decode_mit("dm8009", damiao.encode_mit("dm8009", p_max, v_max, 0.0, 0.0, -t_max))
    assert decoded == pytest.approx((p_max, v_max, 0.0, 0.0, -t_max))
    with pytest.raises(ValueError, match="dm9999.*dm4340"):
        damiao.yam_motors(("dm9999",))


def test_yam_motors_are_lerobot_motor_descriptions():
    from lerobot.motors import Motor

    motors = damiao.yam_motors(YAM_MOTOR_TYPES[:6])
    assert list(motors) == list(ARM_JOINTS[:6])
    assert all(isinstance(m, Motor) for m in motors.values())
    assert [(m.id, m.recv_id, m.motor_type_str) for m in motors.values()] == [
        (i + 1, i + 1 + FEEDBACK_ID_OFFSET, model) for i, model in enumerate(YAM_MOTOR_TYPES[:6])
    ]


def test_lerobots_damiao_bus_drives_the_simulated_yam_motors():
    pytest.importorskip("can")
    channel = f"yam-lerobot-bus-{uuid.uuid4().hex[:8]}"
    with VirtualDamiaoArm(channel, YAM_MOTOR_TYPES, initial_position=HOME) as motors:
        bus = damiao.make_motors_bus(channel, interface="virtual")
        bus.connect()  # LeRobot's handshake: one enable frame per motor, each answered
        try:
            assert motors.enabled.all()

            def read_home() -> bool:
                states = bus.sync_read_all_states()  # refresh requests, answered by the simulated motors
                return np.allclose(np.radians([states[name]["position"] for name in ARM_JOINTS]), HOME, atol=1e-3)

            assert wait_for(read_home)
            bus.sync_write("Kp", dict.fromkeys(ARM_JOINTS, 20.0))
            bus.sync_write("Kd", dict.fromkeys(ARM_JOINTS, 1.0))
            target = HOME + 0.2
            goal_deg = {name: float(np.degrees(t)) for name, t in zip(ARM_JOINTS, target, strict=True)}
            bus.sync_write("Goal_Position", goal_deg)
            assert wait_for(lambda: len(motors.last_mit) == len(ARM_JOINTS))
            # LeRobot's MIT frames, read by this project's decoder: rad, the written gains, no feed-forward torque.
            frames = np.array([motors.last_mit[i + 1] for i in range(len(ARM_JOINTS))])
            assert frames[:, 0] == pytest.approx(target, abs=2 * 25 / 65535)
            assert frames[:, 2] == pytest.approx(20.0, abs=500 / 4095)
            assert frames[:, 3] == pytest.approx(1.0, abs=5 / 4095)
            assert frames[:, 4] == pytest.approx(0.0, abs=2 * 28 / 4095)
        finally:
            bus.disconnect()  # torque off
        assert wait_for(lambda: not motors.enabled.any())
