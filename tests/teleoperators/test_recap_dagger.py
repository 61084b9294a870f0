"""recap_dagger in process: phases, safety, blending and the episode lifecycle, with the simulated arm and leader."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("evdev")
import sim_devices  # noqa: E402
from test_foot_pedal import FakePedalDevice  # noqa: E402

from lerobot_recap.data.metadata import load_recap_metadata  # noqa: E402
from lerobot_recap.teleoperators.foot_pedal import FootPedalSettings  # noqa: E402
from lerobot_recap.robots.recap_observed import RecapObserved, RecapObservedConfig  # noqa: E402
from lerobot_recap.teleoperators.recap_dagger import RecapDagger, RecapDaggerConfig  # noqa: E402
from lerobot_recap.teleoperators.recap_dagger.hub import RecapHub  # noqa: E402
from lerobot_recap.teleoperators.recap_dagger.phase import Phase  # noqa: E402
from lerobot_recap.teleoperators.recap_dagger.record_link import RecordLoopContext  # noqa: E402
from lerobot_recap.utils.config_errors import ConfigError  # noqa: E402

JOINTS = sim_devices.JOINTS


class FakePolicy:
    """Stands in for PolicyRunner: a constant action, counts resets, can be made to fail."""

    def __init__(self, value: float = 0.3) -> None:
        self.value = value
        self.resets = 0
        self.calls = 0
        self.error: Exception | None = None

    def reset(self) -> None:
        self.resets += 1

    def act(self, observation, task):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {j: self.value for j in JOINTS}


class Keys:
    def __init__(self) -> None:
        self.pending: list[str] = []

    def poll(self) -> list[str]:
        keys, self.pending = self.pending, []
        return keys

    def close(self) -> None:
        pass


@dataclass
class FakeDataset:
    root: Path
    num_episodes: int = 0


@pytest.fixture
def rig(tmp_path):
    key = f"test-{tmp_path.name}"
    robot = RecapObserved(
        RecapObservedConfig(robot=sim_devices.SimArmConfig(calibration_dir=tmp_path), hub_key=key, calibration_dir=tmp_path)
    )
    teleop = RecapDagger(
        RecapDaggerConfig(
            leader=sim_devices.SimLeaderConfig(calibration_dir=tmp_path),
            pedal=FootPedalSettings(),
            keyboard="none",
            resume_ramp_s=0.1,  # 3 ticks at 30 fps
            hub_key=key,
            calibration_dir=tmp_path,
        )
    )
    pedal = FakePedalDevice()
    teleop.pedal._device_factory = lambda: pedal
    robot.connect()
    teleop.connect()
    teleop.policy = FakePolicy()
    teleop.keys = Keys()
    ctx = RecordLoopContext(
        events={"exit_early": False, "rerecord_episode": False, "stop_recording": False},
        dataset=FakeDataset(tmp_path),
        fps=30,
        single_task="hand over",
        loop_id=1.0,
    )
    teleop.find_loop = lambda depth: ctx
    yield robot, teleop, pedal, ctx
    RecapHub.detach_robot(key)


def tick(robot, teleop):
    robot.get_observation()
    action = teleop.get_action()
    robot.send_action(action)
    return action


def tap(pedal, key):
    pedal.key(key, 1)
    pedal.key(key, 0)


def test_wrapper_strips_recap_dims_and_keeps_the_robot_type(rig):
    robot, teleop, pedal, ctx = rig
    assert robot.name == "recap_test_sim_arm"
    assert list(robot.action_features)[:3] == JOINTS and "recap.intervention" in robot.action_features
    action = tick(robot, teleop)
    assert set(robot.robot.sent[-1]) == set(JOINTS)  # the real robot never sees recap.* keys
    assert set(action) == set(robot.action_features)


def test_boots_paused_and_holds(rig):
    robot, teleop, pedal, ctx = rig
    for _ in range(3):
        action = tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED
    assert [action[j] for j in JOINTS] == [0.0, 0.0, 0.0]
    assert action["recap.phase"] == 0.0 and action["recap.policy_valid"] == 0.0
    assert teleop.policy.calls == 0


def test_resume_resets_the_policy_and_blends_in(rig):
    robot, teleop, pedal, ctx = rig
    tick(robot, teleop)
    tap(pedal, "KEY_A")
    executed = [tick(robot, teleop)["j0.pos"] for _ in range(5)]
    assert teleop.phase is Phase.AUTONOMOUS and teleop.policy.resets == 1
    assert executed == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])  # 3-tick ramp from the held 0.0 to 0.3


def test_correction_uses_the_leader_and_keeps_the_shadow_action(rig):
    robot, teleop, pedal, ctx = rig
    pedal.key("KEY_B", 1)
    action = tick(robot, teleop)
    assert teleop.phase is Phase.CORRECTING
    assert [action[j] for j in JOINTS] == [0.7] * 3
    assert action["recap.intervention"] == 1.0 and action["recap.phase"] == 2.0
    assert action["recap.policy_valid"] == 1.0 and action["recap.policy.j0.pos"] == 0.3
    assert teleop.get_teleop_events()
    pedal.key("KEY_B", 0)
    action = tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED and action["j0.pos"] == pytest.approx(0.7)  # holds where the operator left


def test_no_direct_jump_from_autonomous_to_correcting(rig, caplog):
    robot, teleop, pedal, ctx = rig
    tap(pedal, "KEY_A")
    tick(robot, teleop)
    pedal.key("KEY_B", 1)
    with caplog.at_level(logging.WARNING):
        action = tick(robot, teleop)
    assert teleop.phase is Phase.AUTONOMOUS and action["recap.intervention"] == 0.0
    assert "pause the policy first" in caplog.text


def test_policy_error_pauses_and_shows_the_error(rig, caplog):
    robot, teleop, pedal, ctx = rig
    tap(pedal, "KEY_A")
    tick(robot, teleop)
    held = robot.robot.sent[-1]["j0.pos"]
    teleop.policy.error = RuntimeError("CUDA out of memory")
    with caplog.at_level(logging.ERROR):
        action = tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED
    assert action["j0.pos"] == pytest.approx(held) and action["recap.phase"] == 0.0
    assert "CUDA out of memory" in caplog.text and "PAUSED" in caplog.text
    assert "CUDA out of memory" in teleop.last_error
    tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED  # stays paused: never resumes by itself


def test_leader_error_pauses(rig, caplog):
    robot, teleop, pedal, ctx = rig
    teleop.leader.config.fail = True
    pedal.key("KEY_B", 1)
    with caplog.at_level(logging.ERROR):
        action = tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED and action["recap.intervention"] == 0.0
    assert "simulated leader bus error" in caplog.text


@pytest.mark.parametrize("start", ["autonomous", "correcting"])
def test_pedal_loss_pauses(rig, start):
    robot, teleop, pedal, ctx = rig
    if start == "autonomous":
        tap(pedal, "KEY_A")
    else:
        pedal.key("KEY_B", 1)
    tick(robot, teleop)
    assert teleop.phase is not Phase.PAUSED
    pedal.unplugged = True
    action = tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED and action["recap.phase"] == 0.0


def test_keyboard_loss_pauses(rig):
    robot, teleop, pedal, ctx = rig
    tap(pedal, "KEY_A")
    tick(robot, teleop)
    teleop.keys.pending.append("<keyboard lost>")
    tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED


def test_keyboard_phase_keys_work_without_a_pedal(rig):
    robot, teleop, pedal, ctx = rig
    teleop.keys.pending.append("p")
    tick(robot, teleop)
    assert teleop.phase is Phase.AUTONOMOUS
    teleop.keys.pending += ["p", "c"]
    tick(robot, teleop)
    assert teleop.phase is Phase.CORRECTING


@pytest.mark.parametrize(("key", "outcome"), [("s", "success"), ("f", "failure")])
def test_outcome_keys_store_the_outcome_and_end_the_episode(rig, key, outcome):
    robot, teleop, pedal, ctx = rig
    ctx.dataset.num_episodes = 4
    ctx.loop_id = 2.0
    tap(pedal, "KEY_A")
    tick(robot, teleop)
    teleop.keys.pending.append(key)
    action = tick(robot, teleop)
    assert ctx.events["exit_early"] and not ctx.events["rerecord_episode"]
    assert action["recap.phase"] == 0.0
    info = load_recap_metadata(ctx.dataset.root).episodes[4]
    assert info.outcome.value == outcome and info.source.value == "rollout"
    tap(pedal, "KEY_A")  # the episode is over: the pedal cannot restart the policy before the next one
    tick(robot, teleop)
    assert teleop.phase is Phase.PAUSED


def test_discard_rerecords_without_an_outcome(rig):
    robot, teleop, pedal, ctx = rig
    root = ctx.dataset.root
    tick(robot, teleop)
    teleop.keys.pending.append("d")
    tick(robot, teleop)
    assert ctx.events["exit_early"] and ctx.events["rerecord_episode"]
    ctx.loop_id, ctx.dataset = 3.0, None  # the reset phase
    tick(robot, teleop)
    assert load_recap_metadata(root).episodes == {}  # the timer rule does not label a discarded try


def test_timer_end_stores_the_timeout_outcome_and_space_ends_the_reset(rig):
    robot, teleop, pedal, ctx = rig
    root = ctx.dataset.root
    pedal.key("KEY_B", 1)
    for _ in range(3):
        tick(robot, teleop)
    ctx.loop_id, ctx.dataset = 5.0, None  # the timer ran out: stock record moves on to the reset phase
    tick(robot, teleop)
    info = load_recap_metadata(root).episodes[0]
    assert info.outcome.value == "failure" and info.source.value == "demo"
    assert teleop.phase is Phase.PAUSED  # every segment starts paused
    teleop.keys.pending.append(" ")
    tick(robot, teleop)
    assert ctx.events["exit_early"]


def test_quit_saves_the_episode_as_failure_and_stops(rig):
    robot, teleop, pedal, ctx = rig
    tick(robot, teleop)
    teleop.keys.pending.append("q")
    tick(robot, teleop)
    assert ctx.events["stop_recording"] and ctx.events["exit_early"]
    assert load_recap_metadata(ctx.dataset.root).episodes[0].outcome.value == "failure"


@pytest.mark.parametrize("key", ["n", "right"])
def test_lerobots_next_key_ends_the_episode_with_the_timeout_outcome(rig, key, caplog):
    robot, teleop, pedal, ctx = rig
    tick(robot, teleop)
    teleop.keys.pending.append(key)
    with caplog.at_level(logging.WARNING):
        tick(robot, teleop)
    assert ctx.events["exit_early"] and not ctx.events["rerecord_episode"]
    assert load_recap_metadata(ctx.dataset.root).episodes[0].outcome.value == "failure"
    assert "no outcome key" in caplog.text
    ctx.events["exit_early"] = False
    ctx.loop_id, ctx.dataset = 4.0, None  # the reset phase: the same key starts the next episode
    tick(robot, teleop)
    teleop.keys.pending.append(key)
    tick(robot, teleop)
    assert ctx.events["exit_early"]


@pytest.mark.parametrize(("key", "flag"), [("r", "rerecord_episode"), ("left", "rerecord_episode"), ("esc", "stop_recording")])
def test_lerobots_rerecord_and_stop_keys(rig, key, flag):
    robot, teleop, pedal, ctx = rig
    tick(robot, teleop)
    teleop.keys.pending.append(key)
    tick(robot, teleop)
    assert ctx.events[flag] and ctx.events["exit_early"]
    episodes = load_recap_metadata(ctx.dataset.root).episodes
    assert episodes == {} if flag == "rerecord_episode" else episodes[0].outcome.value == "failure"


def test_an_episode_rerecorded_by_lerobots_own_key_gets_no_outcome(rig):
    robot, teleop, pedal, ctx = rig
    root = ctx.dataset.root
    tick(robot, teleop)
    ctx.discard_episode()  # what LeRobot's listener does on the left arrow (keyboard read by LeRobot, not here)
    ctx.loop_id, ctx.dataset = 6.0, None  # the reset phase that follows a re-record
    tick(robot, teleop)
    assert load_recap_metadata(root).episodes == {}


def test_connect_without_a_wrapped_robot_is_a_clear_error(tmp_path):
    teleop = RecapDagger(
        RecapDaggerConfig(
            leader=sim_devices.SimLeaderConfig(calibration_dir=tmp_path),
            use_pedal=False,
            hub_key="nobody",
            calibration_dir=tmp_path,
        )
    )
    with pytest.raises(RuntimeError, match="--robot.type=recap_observed"):
        teleop.connect()


def test_config_needs_a_policy_or_a_leader():
    with pytest.raises(ConfigError, match="policy"):
        RecapDaggerConfig(use_pedal=False)
    with pytest.raises(ConfigError, match="timeout_outcome"):
        RecapDaggerConfig(policy_path="x", timeout_outcome="maybe")


def test_shadow_policy_error_does_not_take_the_robot_from_the_operator(rig, caplog):
    robot, teleop, pedal, ctx = rig
    pedal.key("KEY_B", 1)
    tick(robot, teleop)
    teleop.policy.error = ValueError("bad tensor")
    with caplog.at_level(logging.ERROR):
        action = tick(robot, teleop)
    assert teleop.phase is Phase.CORRECTING and action["j0.pos"] == pytest.approx(0.7)
    assert action["recap.policy_valid"] == 0.0 and "bad tensor" in caplog.text
