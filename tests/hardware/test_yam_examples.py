"""The examples/yam_*.sh scripts: syntax, the arguments they build per backend, and a sim run of the stock CLIs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["yam_common.sh", "yam_calibrate.sh", "yam_teleoperate.sh", "yam_record.sh", "yam_server.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_bash_clean_and_strict(script):
    path = EXAMPLES / script
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    if script != "yam_common.sh":
        assert "set -euo pipefail" in path.read_text()
        assert os.access(path, os.X_OK)


def common_args(backend: str, **env) -> subprocess.CompletedProcess:
    probe = 'source "$1"; printf "%s\\n" "${ROBOT_ARGS[@]}" "--" "${TELEOP_ARGS[@]}" "--" "${CAMERA_ARGS[@]}"'
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; {probe}", "probe", str(EXAMPLES / "yam_common.sh")],
        env={**os.environ, "BACKEND": backend, **env}, capture_output=True, text=True,
    )


def test_common_builds_the_arguments_of_each_backend():
    can = common_args("can", TOP_SERIAL="111", LEFT_WRIST_SERIAL="222", RIGHT_WRIST_SERIAL="333")
    assert can.returncode == 0, can.stderr
    robot, teleop, cameras = can.stdout.split("--\n")
    assert "--robot.type=yam_bimanual" in robot and "--robot.left_arm.channel=can_follower_l" in robot
    assert "--teleop.type=yam_bimanual_leader" in teleop and "--teleop.right_arm.channel=can_leader_r" in teleop
    assert cameras.count("type: intelrealsense") == 3 and '"222"' in cameras and "width: 640" in cameras

    zmq = common_args("zmq", SERVER_HOST="10.0.0.5", LEADER_L_PORT="7021")
    robot, teleop, _ = zmq.stdout.split("--\n")
    assert "--robot.backend=zmq" in robot and "--robot.left_arm.host=10.0.0.5" in robot
    assert "--teleop.left_arm.port=7021" in teleop

    sim = common_args("sim")
    robot, teleop, cameras = sim.stdout.split("--\n")
    assert "--robot.backend=sim" in robot and "--teleop.backend=sim" in teleop and cameras.strip() == ""
    assert "type: recap_sim" in common_args("zmq", CAMERAS="sim").stdout

    bad = common_args("ros")
    assert bad.returncode == 2 and "use can, zmq or sim" in bad.stderr


@pytest.mark.slow
def test_sim_calibrate_and_teleoperate_scripts_run(tmp_path):
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "HF_LEROBOT_HOME": str(tmp_path / "home"), "DISPLAY": "",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "BACKEND": "sim",
    }

    def run(script: str, **extra) -> None:
        log = tmp_path / f"{script}.log"
        with log.open("w") as out:
            result = subprocess.run(["bash", str(EXAMPLES / script)], env={**env, **extra}, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=400)
        assert result.returncode == 0, log.read_text()[-4000:]

    run("yam_calibrate.sh", DEVICE="robot")
    assert (tmp_path / "home" / "calibration" / "robots" / "yam_bimanual" / "yam_station.json").exists()
    run("yam_teleoperate.sh", TELEOP_TIME_S="2", CAMERAS="sim", CAM_W="32", CAM_H="24")
    assert "Teleop loop time" in (tmp_path / "yam_teleoperate.sh.log").read_text()
