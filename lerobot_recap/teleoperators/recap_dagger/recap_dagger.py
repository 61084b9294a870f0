"""The ``recap_dagger`` teleoperator: the policy drives, the operator takes over with a pedal, keys end episodes.

Run inside stock ``lerobot-record`` (no ``--policy``) with the ``recap_observed`` robot wrapper::

    lerobot-record --robot.type=recap_observed --robot.robot.type=so101_follower ... \
        --teleop.type=recap_dagger --teleop.policy_path=<checkpoint>/pretrained_model \
        --teleop.leader.type=so101_leader ... --teleop.pedal.type=foot_pedal

Per tick (``get_action``): read the pedal and the keys, step the phase machine, then

* AUTONOMOUS: the policy's action (blended in from the held pose for ``resume_ramp_s`` after each resume);
* CORRECTING: the leader's action; the policy keeps running in shadow so its would-be action is recorded;
* PAUSED: hold the last sent pose.

The returned action carries ``recap.intervention`` (1 in CORRECTING), ``recap.phase`` and, by default, the
policy's would-be action ``recap.policy.*`` with ``recap.policy_valid``; the wrapper strips them before the motors.
Episode keys: ``s`` success, ``f`` failure, ``d`` discard (re-record), ``space`` start the next episode (ends the
reset phase), ``q`` quit (an episode in flight is saved as failure), ``p``/``c`` the two pedals. LeRobot's own
recording keys keep their meaning: ``n``/right arrow ends the episode with no outcome key (stored as
``--teleop.timeout_outcome``) or ends the reset phase, ``r``/left arrow discards, Esc quits. Outcomes go to
``meta/recap.json`` through :func:`lerobot_recap.data.metadata.record_episode_outcomes`, where
``lerobot-recap-annotate`` reads them. The dataset root and the episode index come from the stock record loop
(:mod:`.record_link`). Safety: pedal or keyboard loss, a policy or leader error, and every episode start or end
go to PAUSED; nothing ever starts AUTONOMOUS by itself.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lerobot.teleoperators.teleoperator import Teleoperator
from lerobot.teleoperators.utils import TeleopEvents, make_teleoperator_from_config

from lerobot_recap.teleoperators.foot_pedal.config_foot_pedal import FootPedalConfig, FootPedalSettings
from lerobot_recap.teleoperators.foot_pedal.foot_pedal import FootPedal
from lerobot_recap.teleoperators.recap_dagger.config_recap_dagger import RecapDaggerConfig
from lerobot_recap.teleoperators.recap_dagger.hub import (
    INTERVENTION_DIM,
    PHASE_DIM,
    POLICY_ACTION_PREFIX,
    POLICY_VALID_DIM,
    RecapHub,
    RobotChannel,
)
from lerobot_recap.teleoperators.recap_dagger.keyboard import KEYBOARD_LOST, KeySource, TerminalKeys, open_key_source
from lerobot_recap.teleoperators.recap_dagger.phase import Phase, PhaseEvent, PhaseMachine, Transition
from lerobot_recap.teleoperators.recap_dagger.record_link import RecordLoopContext, find_record_loop
from lerobot_recap.utils.calibration import DelegatedCalibration

logger = logging.getLogger(__name__)

KEY_HELP = (
    "keys: [p] pause/resume policy  [c] correction  [s] success  [f] failure  [d] discard  "
    "[space] start next episode  [q] quit"
)
NEXT_KEYS = ("n", "right")
"""LeRobot's end-episode keys: end the episode with no outcome key (timeout_outcome), or end the reset phase."""
DISCARD_KEYS = ("d", "r", "left")
"""recap_dagger's discard key and LeRobot's re-record keys."""
QUIT_KEYS = ("q", "esc")
"""recap_dagger's quit key and LeRobot's stop key."""


@dataclass
class EpisodeState:
    """Book-keeping of the episode being recorded."""

    index: int
    root: Path
    frames: int = 0
    human_frames: int = 0
    closed: bool = False
    """An outcome (or discard) was given - the remaining ticks of the loop hold PAUSED."""


class RecapDagger(DelegatedCalibration, Teleoperator):
    """Policy + leader + pedal with limb's phase machine, for stock lerobot-record."""

    config_class = RecapDaggerConfig
    name = "recap_dagger"

    def __init__(self, config: RecapDaggerConfig):
        super().__init__(config)
        self.config = config
        self.leader: Teleoperator | None = make_teleoperator_from_config(config.leader) if config.leader else None
        self.pedal = FootPedal(_pedal_config(config)) if config.use_pedal else None
        self.machine = PhaseMachine(Phase.PAUSED)
        self.policy: Any = None
        self.keys: KeySource | None = None
        self.last_error: str | None = None
        self.episode: EpisodeState | None = None
        # Replaceable for tests that drive the teleop outside lerobot-record.
        self.find_loop = find_record_loop
        self._channel: RobotChannel | None = None
        self._connected = False
        self._loop_id: float | None = None
        self._warned_no_loop = False
        self._checked_key_listener = False
        self._ramp_ticks = 0
        self._ramp_step = 0
        self._ramp_from: dict[str, float] = {}
        self._last_action: dict[str, float] | None = None
        self._fps = config.fps

    # ---------------------------------------------------------------- Teleoperator interface

    @property
    def action_features(self) -> dict:
        channel = self._channel or RecapHub.channel(self.config.hub_key)
        if channel is None:
            return {}
        return {**{n: float for n in channel.action_names}, **{d: float for d in channel.recap_dims}}

    @property
    def feedback_features(self) -> dict:
        return {}

    @property
    def is_connected(self) -> bool:
        return self._connected

    def calibration_delegate(self) -> Teleoperator | None:
        return self.leader  # the pedal and the policy need no calibration

    def connect(self, calibrate: bool = True) -> None:
        if self._connected:
            raise RuntimeError("recap_dagger is already connected")
        channel = RecapHub.channel(self.config.hub_key)
        if channel is None:
            raise RuntimeError(
                "recap_dagger sees no robot: wrap your robot so it shares its observations, e.g. "
                "--robot.type=recap_observed --robot.robot.type=<your robot> (same --robot.hub_key and "
                "--teleop.hub_key)"
            )
        self._channel = channel
        if self.config.policy_path:
            from lerobot_recap.teleoperators.recap_dagger.policy_runner import PolicyRunner

            self.policy = PolicyRunner(
                self.config.policy_path,
                self.config.device,
                channel.observation_features,
                channel.action_names,
                channel.robot_type,
            )
        if self.leader is not None:
            self.leader.connect(calibrate)
        if self.pedal is not None:
            self.pedal.connect()
        self.keys = open_key_source(self.config.keyboard, self.config.keyboard_replay_path)
        self._connected = True
        logger.info("recap_dagger ready, PAUSED. %s", KEY_HELP)

    def disconnect(self) -> None:
        if not self._connected:
            raise RuntimeError("recap_dagger is not connected")
        self._close_episode_by_timer()
        for device in (self.leader, self.pedal):
            if device is not None and device.is_connected:
                device.disconnect()
        if self.keys is not None:
            self.keys.close()
        self._connected = False

    def send_feedback(self, feedback: dict[str, Any]) -> None:
        pass

    def get_teleop_events(self) -> dict[TeleopEvents, bool]:
        return {
            TeleopEvents.IS_INTERVENTION: self.machine.phase is Phase.CORRECTING,
            TeleopEvents.TERMINATE_EPISODE: False,
            TeleopEvents.SUCCESS: False,
            TeleopEvents.RERECORD_EPISODE: False,
        }

    @property
    def phase(self) -> Phase:
        return self.machine.phase

    # ---------------------------------------------------------------- the tick

    def get_action(self) -> dict[str, float]:
        if not self._connected:
            raise RuntimeError("recap_dagger is not connected: call connect() first")
        ctx = self.find_loop(2)
        self._follow_loop(ctx)
        self._handle_inputs(ctx)
        observation = self._observation()
        executed, policy_action = self._drive(observation, ctx)
        self._last_action = executed
        self._feed_leader(executed)
        if self.episode is not None and ctx is not None and ctx.recording:
            self.episode.frames += 1
            self.episode.human_frames += int(self.machine.phase is Phase.CORRECTING)
        return self._with_recap_dims(executed, policy_action)

    def _follow_loop(self, ctx: RecordLoopContext | None) -> None:
        """Notice a new episode or reset phase of the stock loop; every segment starts PAUSED."""
        if ctx is None:
            if not self._warned_no_loop:
                self._warned_no_loop = True
                logger.error(
                    "recap_dagger is not called by stock lerobot-record's record_loop, so it cannot end episodes "
                    "or store their outcomes: the keys s/f/d/space/q only pause the robot. End episodes with the "
                    "recorder's own controls and label outcomes with lerobot-recap-annotate --outcomes"
                )
            return
        if ctx.fps:
            self._fps = int(ctx.fps)
        if not self._checked_key_listener:
            self._checked_key_listener = True
            if isinstance(self.keys, TerminalKeys) and ctx.take_over_terminal_keys():
                logger.info(
                    "recap_dagger reads this terminal, so lerobot-record's own terminal key reader is stopped "
                    "(two readers would split the keystrokes); its keys n/r/q and the arrows work here too"
                )
        if ctx.loop_id == self._loop_id:
            return
        if self.episode is not None and not self.episode.closed and ctx.rerecord_requested:
            self.episode.closed = True  # discarded with LeRobot's re-record key: no outcome for this try
            logger.info("recap_dagger: episode %d discarded; it will be recorded again", self.episode.index)
        self._close_episode_by_timer()
        self._loop_id = ctx.loop_id
        self._safety_pause("new segment", quiet=True)
        if ctx.recording:
            self.episode = EpisodeState(index=int(ctx.episode_index), root=Path(ctx.dataset_root))
            logger.info("recap_dagger: episode %d starts PAUSED. %s", self.episode.index, KEY_HELP)
        else:
            self.episode = None
            logger.info("recap_dagger: reset phase; press [space] to start the next episode")

    def _handle_inputs(self, ctx: RecordLoopContext | None) -> None:
        events: list[tuple[PhaseEvent, str]] = []
        if self.pedal is not None:
            hold = self.pedal.config.mode == "hold"
            for pe in self.pedal.poll():
                if pe.kind == "lost":
                    events.append((PhaseEvent.SAFETY_PAUSE, pe.detail))
                elif pe.role == "pause" and pe.kind == "press":
                    events.append((PhaseEvent.PAUSE_RESUME, "pedal"))
                elif pe.role == "intervention" and pe.kind == "press":
                    events.append((PhaseEvent.CORRECTION_START if hold else PhaseEvent.CORRECTION, "pedal"))
                elif pe.role == "intervention" and pe.kind == "release" and hold:
                    events.append((PhaseEvent.CORRECTION_END, "pedal"))
        for key in self.keys.poll() if self.keys is not None else []:
            if key == KEYBOARD_LOST:
                events.append((PhaseEvent.SAFETY_PAUSE, "keyboard lost: the terminal closed"))
            elif key == "p":
                events.append((PhaseEvent.PAUSE_RESUME, "key p"))
            elif key == "c":
                events.append((PhaseEvent.CORRECTION, "key c"))
            else:
                self._lifecycle_key(key, ctx)
        for event, source in events:
            self._apply(event, source)

    def _lifecycle_key(self, key: str, ctx: RecordLoopContext | None) -> None:
        from lerobot_recap.data.contract import Outcome

        if key in ("s", "f", *NEXT_KEYS, *DISCARD_KEYS, *QUIT_KEYS):
            recording = ctx is not None and ctx.recording and self.episode is not None and not self.episode.closed
            if key in NEXT_KEYS and ctx is not None and not ctx.recording:
                ctx.end_episode()  # ends the reset phase, like [space]
                return
            if key in QUIT_KEYS:
                if recording:
                    self._close_episode(Outcome.FAILURE, "quit")
                self._safety_pause("quit", quiet=True)
                if ctx is not None:
                    ctx.stop_recording()
                return
            if not recording:
                if ctx is None:
                    logger.error("recap_dagger: [%s] ignored: not inside lerobot-record, no episode to end", key)
                else:
                    logger.info("recap_dagger: [%s] ignored: no episode is being recorded", key)
                return
            if key in DISCARD_KEYS:
                self.episode.closed = True
                self._safety_pause("discard", quiet=True)
                ctx.discard_episode()
                logger.info("recap_dagger: episode %d discarded; it will be recorded again", self.episode.index)
                return
            if key in NEXT_KEYS:
                logger.warning(
                    "recap_dagger: [%s] ends episode %d with no outcome key: stored as %s (--teleop.timeout_outcome); "
                    "[s]/[f] give the outcome",
                    key,
                    self.episode.index,
                    self.config.timeout_outcome,
                )
                self._close_episode(self.config.timeout_outcome, f"key {key}")
            else:
                self._close_episode(Outcome.SUCCESS if key == "s" else Outcome.FAILURE, f"key {key}")
            ctx.end_episode()
        elif key == " ":
            if ctx is not None and not ctx.recording:
                ctx.end_episode()  # ends the reset phase: stock record then saves and starts the next episode
            else:
                logger.info("recap_dagger: [space] starts an episode from the reset phase; recording already")
        elif key in ("h", "?"):
            logger.info("recap_dagger: %s", KEY_HELP)

    def _close_episode(self, outcome: Any, why: str) -> None:
        from lerobot_recap.data.contract import Outcome, source_from_intervention
        from lerobot_recap.data.metadata import record_episode_outcomes

        episode = self.episode
        if episode is None or episode.closed:
            return
        episode.closed = True
        self._safety_pause(f"episode end ({why})", quiet=True)
        outcome = Outcome(outcome)
        source = source_from_intervention(episode.human_frames, max(episode.frames, 1))
        record_episode_outcomes(episode.root, {episode.index: outcome}, {episode.index: source})
        logger.info("recap_dagger: episode %d -> %s (%s, %s)", episode.index, outcome.value, source.value, why)

    def _close_episode_by_timer(self) -> None:
        if self.episode is not None and not self.episode.closed:
            logger.warning(
                "recap_dagger: episode %d ended with no key: stored as %s (--teleop.timeout_outcome)",
                self.episode.index,
                self.config.timeout_outcome,
            )
            self._close_episode(self.config.timeout_outcome, "timer")

    # ---------------------------------------------------------------- phases

    def _apply(self, event: PhaseEvent, source: str) -> Transition | None:
        if event is PhaseEvent.SAFETY_PAUSE:
            return self._safety_pause(source)
        if self.episode is not None and self.episode.closed:
            return None  # the episode is over: hold until the recorder moves on
        target_autonomous = event is PhaseEvent.PAUSE_RESUME and self.machine.phase is Phase.PAUSED
        if target_autonomous and self.policy is None:
            logger.warning("recap_dagger: no policy (--teleop.policy_path), so it cannot resume; staying PAUSED")
            return None
        entering_correction = self.machine.phase is Phase.PAUSED and event in (
            PhaseEvent.CORRECTION,
            PhaseEvent.CORRECTION_START,
        )
        if entering_correction and self.leader is None:
            logger.warning("recap_dagger: no leader (--teleop.leader.type), so no correction; staying PAUSED")
            return None
        transition = self.machine.apply(event)
        if not transition.accepted:
            logger.warning("recap_dagger: %s (%s)", transition.reason, source)
        elif transition.changed:
            logger.info("recap_dagger: %s -> %s (%s)", transition.before.name, transition.after.name, source)
            self._on_enter(transition.after)
        return transition

    def _safety_pause(self, reason: str, quiet: bool = False) -> Transition:
        transition = self.machine.apply(PhaseEvent.SAFETY_PAUSE)
        if transition.changed and not quiet:
            logger.warning("recap_dagger: %s -> PAUSED: %s", transition.before.name, reason)
        return transition

    def _on_enter(self, phase: Phase) -> None:
        if phase in (Phase.AUTONOMOUS, Phase.CORRECTING) and self.policy is not None:
            self.policy.reset()  # stale chunks from before the pause must never play
        if phase is Phase.AUTONOMOUS:
            self._ramp_ticks = round(self.config.resume_ramp_s * self._fps)
            self._ramp_step = 0
            self._ramp_from = dict(self._hold_action(self._observation()))

    # ---------------------------------------------------------------- actions

    def _observation(self) -> dict[str, Any]:
        channel = self._channel
        if channel is None or channel.observation is None:
            raise RuntimeError(
                "recap_dagger has no observation yet: the robot must be recap_observed and get_observation() must "
                "run before get_action() (as in lerobot-record)"
            )
        return channel.observation

    def _hold_action(self, observation: dict[str, Any]) -> dict[str, float]:
        names = self._channel.action_names
        for source in (self._channel.sent_action, self._last_action):
            if source is not None and all(n in source for n in names):
                return {n: float(source[n]) for n in names}
        if all(n in observation for n in names):
            return {n: float(observation[n]) for n in names}
        raise RuntimeError(
            f"recap_dagger cannot hold the robot: no action was sent yet and the observation lacks the action keys "
            f"{[n for n in names if n not in observation][:6]}; start with a correction from the leader instead"
        )

    def _drive(
        self, observation: dict[str, Any], ctx: RecordLoopContext | None
    ) -> tuple[dict[str, float], dict[str, float] | None]:
        hold = self._hold_action(observation)
        policy_action = None
        phase = self.machine.phase
        if self.policy is not None and (
            phase is Phase.AUTONOMOUS or (phase is Phase.CORRECTING and self.config.shadow)
        ):
            try:
                policy_action = self.policy.act(observation, self._task(ctx))
            except Exception as err:  # noqa: BLE001  (any policy failure must pause, never crash mid-motion)
                if phase is Phase.CORRECTING:
                    # Only the shadow failed: the operator keeps driving (the operator always wins).
                    self.last_error = f"shadow policy error: {err.__class__.__name__}: {err}"
                    logger.error("recap_dagger: %s (correction continues, recap.policy_valid=0)", self.last_error)
                else:
                    self._fail("policy", err)
                    return hold, None
        if self.machine.phase is Phase.AUTONOMOUS:
            return self._blend(policy_action), policy_action
        if self.machine.phase is Phase.CORRECTING:
            try:
                return self._leader_action(), policy_action
            except Exception as err:  # noqa: BLE001
                self._fail("leader", err)
                return hold, policy_action
        return hold, None

    def _leader_action(self) -> dict[str, float]:
        action = self.leader.get_action()
        missing = [n for n in self._channel.action_names if n not in action]
        if missing:
            raise KeyError(
                f"the leader's action lacks the robot's action keys {missing[:6]}: use the leader that matches the "
                "robot (same names, e.g. so101_leader for so101_follower)"
            )
        return {n: float(action[n]) for n in self._channel.action_names}

    def _blend(self, policy_action: dict[str, float]) -> dict[str, float]:
        if self._ramp_step >= self._ramp_ticks:
            return policy_action
        self._ramp_step += 1
        w = self._ramp_step / self._ramp_ticks
        return {n: self._ramp_from[n] + w * (policy_action[n] - self._ramp_from[n]) for n in policy_action}

    def _fail(self, what: str, err: BaseException) -> None:
        self.last_error = f"{what} error: {err.__class__.__name__}: {err}"
        logger.error(
            "recap_dagger: %s -> PAUSED (holding). Fix it, then resume with the pedal.\n%s",
            self.last_error,
            "".join(traceback.format_exception(err)),
        )
        self._safety_pause(self.last_error, quiet=True)

    def _feed_leader(self, executed: dict[str, float]) -> None:
        if self.leader is None or not self.config.leader_follows_robot or self.machine.phase is Phase.CORRECTING:
            return
        wanted = self.leader.feedback_features
        if not wanted:
            return
        try:
            self.leader.send_feedback({k: executed[k] for k in wanted if k in executed})
        except Exception as err:  # noqa: BLE001  (feedback is a convenience: never stop recording for it)
            logger.warning("recap_dagger: leader feedback failed: %s", err)

    def _task(self, ctx: RecordLoopContext | None) -> str:
        if self.config.task is not None:
            return self.config.task
        return (ctx.single_task if ctx is not None else None) or ""

    def _with_recap_dims(
        self, executed: dict[str, float], policy_action: dict[str, float] | None
    ) -> dict[str, float]:
        out = dict(executed)
        dims = self._channel.recap_dims
        out[INTERVENTION_DIM] = float(self.machine.phase is Phase.CORRECTING)
        out[PHASE_DIM] = float(int(self.machine.phase))
        if POLICY_VALID_DIM in dims:
            out[POLICY_VALID_DIM] = float(policy_action is not None)
            shadow = policy_action if policy_action is not None else executed
            for name in self._channel.action_names:
                out[f"{POLICY_ACTION_PREFIX}{name}"] = float(shadow[name])
        return out


def _pedal_config(config: RecapDaggerConfig) -> FootPedalConfig:
    settings = {f.name: getattr(config.pedal, f.name) for f in fields(FootPedalSettings)}
    return FootPedalConfig(**settings, id=f"{config.id or 'recap_dagger'}_pedal", calibration_dir=config.calibration_dir)
