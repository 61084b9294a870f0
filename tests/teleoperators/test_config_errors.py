"""Bad recap_dagger / recap_observed options inside stock lerobot-record: the reason reaches the error line.

draccus turns a ValueError raised while building a config into "Couldn't instantiate class X"; these configs raise
ConfigError instead. The configs are parsed exactly as lerobot-record's ``parser.wrap`` parses them.
"""

from __future__ import annotations

import draccus
import pytest
import sim_devices  # noqa: F401  (registers the simulated arm and leader)
from draccus.utils import DecodingError

from lerobot_recap.scripts.cli import EXIT_BAD_INPUT, run_cli
from lerobot_recap.utils.config_errors import ConfigError

RECORD = [
    "--robot.type=recap_observed",
    "--robot.robot.type=recap_test_sim_arm",
    "--teleop.type=recap_dagger",
    "--dataset.repo_id=local/dagger",
    "--dataset.single_task=hand the cube over",
]


def parse_record(*args: str):
    from lerobot.scripts.lerobot_record import RecordConfig

    return draccus.parse(config_class=RecordConfig, args=[*RECORD, *args])


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--teleop.use_pedal=false"], "recap_dagger needs a policy (--teleop.policy_path) or a leader"),
        (["--teleop.leader.type=recap_test_sim_leader", "--teleop.keyboard=ssh"], "--teleop.keyboard='ssh' is not one of"),
        (["--teleop.leader.type=recap_test_sim_leader", "--teleop.resume_ramp_s=-1"], "--teleop.resume_ramp_s=-1.0 must be"),
        (["--teleop.leader.type=recap_test_sim_leader", "--teleop.pedal.mode=latch"], "foot_pedal mode must be one of"),
        (["--teleop.leader.type=recap_test_sim_leader", "--teleop.pedal.usb_id=3553"], "vendor:product in hex"),
    ],
)
def test_the_reason_reaches_lerobot_records_error_line(args, reason):
    with pytest.raises(DecodingError) as info:
        parse_record(*args)
    assert reason in str(info.value)  # what lerobot-record prints as `error: ...`
    assert "Couldn't instantiate" not in str(info.value)


def test_a_good_command_line_parses():
    cfg = parse_record("--teleop.leader.type=recap_test_sim_leader", "--teleop.use_pedal=false")
    assert cfg.robot.type == "recap_observed" and cfg.robot.robot.type == "recap_test_sim_arm"
    assert cfg.teleop.type == "recap_dagger" and cfg.teleop.leader.type == "recap_test_sim_leader"


def test_config_errors_are_bad_input_for_the_projects_own_clis(capsys):
    def command():
        raise ConfigError("--teleop.fps=0 must be > 0")

    with pytest.raises(SystemExit) as info:
        run_cli(command, "lerobot-recap-x")
    assert info.value.code == EXIT_BAD_INPUT
    assert capsys.readouterr().err.strip() == "lerobot-recap-x: error: --teleop.fps=0 must be > 0"
