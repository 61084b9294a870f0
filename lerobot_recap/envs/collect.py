"""``lerobot-recap-collect``: stage 0 in simulation - the policy being improved drives, a scripted operator corrects.

This is the simulated twin of a real stage-0 round (``lerobot-record --robot.type=recap_observed ...
--teleop.type=recap_dagger``): a ``pi06_recap`` checkpoint (or any LeRobot policy that reads the hand-over task's
features) drives ``batch_size`` simulated hand-over envs at once, called once per step on the whole batch exactly
as ``lerobot-eval`` calls it (``preprocess_observation`` -> env processors -> the checkpoint's pre-processor ->
``select_action`` -> post-processor). A scripted operator (the task's expert, :class:`HandoverExpert`) watches each
env's world state; when the policy goes wrong - the sub-task stops progressing for a while, the gripper heads away
from its goal, a held cube is about to be let go above the safe height, a grasp closes on air or with a tilted
wrist - it takes over *through recap_dagger's phase machine* (pedal ``PAUSE_RESUME`` then ``CORRECTION``:
AUTONOMOUS -> PAUSED -> CORRECTING), drives with the expert until the sub-task it took over is done, and hands
back (``CORRECTION`` then ``PAUSE_RESUME``: CORRECTING -> PAUSED -> AUTONOMOUS). As in recap_dagger, the policy's
action queue is flushed whenever a phase starts, and the policy keeps running in shadow during corrections.

The dataset has the layout of a recap_dagger recording: ``observation.state`` (14) and
``observation.images.<camera>`` (the keys ``lerobot-eval --env.type=recap_handover`` feeds a policy), and an
``action`` vector of the 14 joint targets followed by recap_dagger's named dimensions ``recap.intervention``,
``recap.phase``, ``recap.policy_valid`` and ``recap.policy.<joint>`` (the policy's would-be action, kept during
corrections). Outcomes (success/failure, as the env judged the episode) and sources go to ``meta/recap.json``
through ``record_episode_outcomes``, so ``lerobot-recap-annotate`` takes the result as it is (it moves
``recap.intervention`` into the ``intervention`` column and strips the ``recap.*`` dimensions from ``action``).

Example::

    lerobot-recap-collect --policy.path=outputs/sft/checkpoints/last/pretrained_model \
        --n_episodes=200 --batch_size=8 --output_dir=outputs/round1

Episodes use env seeds ``10_000_000 + 100_000 * seed + 50_000 + i``: disjoint from ``lerobot-recap-generate``'s
(``... + i``, i < 50 000) and from ``lerobot-eval``'s (1000 + i by default).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lerobot.configs.policies import PreTrainedConfig

from lerobot_recap.data.contract import Outcome, Source, source_from_intervention
from lerobot_recap.envs.configs import DEFAULT_TASK_DESCRIPTION, KNOWN_CAMERAS
from lerobot_recap.envs.generate import SEED_BASE, SEED_STRIDE

logger = logging.getLogger(__name__)

COLLECT_META_PATH = "meta/recap_collect.json"
"""Where the collector writes its configuration, per-episode summary and phase transitions."""

COLLECT_SEED_OFFSET = SEED_STRIDE // 2
"""Collect's seeds start half a stride above generate's, so the two never share an env layout."""
MAX_EPISODES = COLLECT_SEED_OFFSET
"""More episodes than this per seed would run into the next seed's generate range."""


@dataclass
class CollectOperatorConfig:
    """When the scripted operator (the task's expert) takes over from the policy, judged from the world state."""

    stall_steps: int = 15
    """Take over when the current sub-task has made no progress for this many steps."""
    away_steps: int = 4
    """Window, in steps, of the `heading away from the goal` test."""
    away_margin: float = 0.08
    """Take over when the distance to the sub-task's goal grew by more than this (m, rad) over away_steps."""
    grace_steps: int = 3
    """Steps after a hand-back during which only an imminent drop makes the operator take over again."""
    max_correction_steps: int = 60
    """Hand back after this many steps even if the sub-task is not done yet."""

    def validate(self) -> None:
        for name in ("stall_steps", "away_steps", "max_correction_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--operator.{name} must be >= 1 (got {getattr(self, name)})")
        if self.grace_steps < 0:
            raise ValueError(f"--operator.grace_steps must be >= 0 (got {self.grace_steps})")
        if not self.away_margin > 0:
            raise ValueError(f"--operator.away_margin must be > 0 (got {self.away_margin})")


@dataclass
class CollectConfig:
    """What ``lerobot-recap-collect`` records."""

    policy: PreTrainedConfig | None = None
    """The policy that drives: --policy.path=<checkpoint's pretrained_model folder> (plus --policy.device=...)."""
    output_dir: Path = Path("outputs/recap_handover_collect")
    """Root of the new dataset (must not exist unless --overwrite=true)."""
    repo_id: str = "local/recap_handover_collect"
    """The dataset's repo id (LeRobotDataset(repo_id, root=output_dir) loads it)."""
    n_episodes: int = 20
    """Episodes to record."""
    batch_size: int = 4
    """Simulated envs stepped together (the policy is called once per step on the whole batch)."""
    seed: int = 0
    """Seeds the env layouts (and torch) - same seed and policy, same dataset."""
    corrections: bool = True
    """Let the scripted operator take over when the policy errs (false: pure autonomous rollouts)."""
    episode_length: int = 100
    """Steps before an episode is cut (and counted as a failure)."""
    image_size: int = 64
    """Camera image height and width, in pixels (must match what the policy was trained on)."""
    cameras: list[str] = field(default_factory=lambda: ["top"])
    """Cameras to render and record - any of `top`, `side`."""
    spawn_scale: float = 1.0
    """Scale in [0, 1] of the cube/target pose randomization."""
    fps: int = 10
    """Recorded frame rate (the task's control rate)."""
    task_description: str = DEFAULT_TASK_DESCRIPTION
    """The language task given to the policy and stored with every frame."""
    use_videos: bool = False
    """Store cameras as mp4 videos (needs FFmpeg to decode later) instead of images in the parquet files."""
    record_policy_action: bool = True
    """Record the policy's would-be action (recap.policy.*) and recap.policy_valid, as recap_dagger does."""
    torch_threads: int | None = None
    """CPU threads of torch (default: torch's own); 1 is much faster for tiny policies on a busy machine."""
    overwrite: bool = False
    """Replace output_dir if it exists."""
    operator: CollectOperatorConfig = field(default_factory=CollectOperatorConfig)
    """When the scripted operator takes over."""

    def __post_init__(self) -> None:
        from lerobot_recap.utils.policy_path import policy_config_from_path_arg

        # As lerobot-eval does: --policy.path loads the checkpoint's config, other --policy.* flags override it.
        self.policy = policy_config_from_path_arg() or self.policy

    @classmethod
    def __get_path_fields__(cls) -> list[str]:
        return ["policy"]

    def validate(self) -> None:
        if self.policy is None or getattr(self.policy, "pretrained_path", None) is None:
            raise ValueError("no policy to collect with: give --policy.path=<checkpoint>/pretrained_model")
        if not 1 <= self.n_episodes <= MAX_EPISODES:
            raise ValueError(f"--n_episodes must be in [1, {MAX_EPISODES}] (got {self.n_episodes})")
        if self.batch_size < 1:
            raise ValueError(f"--batch_size must be >= 1 (got {self.batch_size})")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0 (got {self.seed})")
        if self.episode_length < 1:
            raise ValueError(f"--episode_length must be >= 1 (got {self.episode_length})")
        if self.image_size < 16:
            raise ValueError(f"--image_size must be at least 16 pixels (got {self.image_size})")
        if not 0.0 <= self.spawn_scale <= 1.0:
            raise ValueError(f"--spawn_scale must be in [0, 1] (got {self.spawn_scale})")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"--torch_threads must be >= 1 (got {self.torch_threads})")
        if self.fps < 1:
            raise ValueError(f"--fps must be >= 1 (got {self.fps})")
        unknown = [c for c in self.cameras if c not in KNOWN_CAMERAS]
        if unknown or not self.cameras:
            raise ValueError(f"--cameras must name one or more of {KNOWN_CAMERAS} (got {self.cameras})")
        self.operator.validate()
        if self.output_dir.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.output_dir} already exists: choose another --output_dir or pass --overwrite=true"
            )

    def env_config(self):
        """The ``recap_handover`` env config these options describe (what lerobot-eval would be given)."""
        from lerobot_recap.envs.configs import RecapHandoverEnv

        return RecapHandoverEnv(
            fps=self.fps,
            episode_length=self.episode_length,
            image_size=self.image_size,
            cameras=list(self.cameras),
            spawn_scale=self.spawn_scale,
            task_description=self.task_description,
        )


def env_seed(seed: int, index: int) -> int:
    """The env seed of episode ``index`` (disjoint from lerobot-recap-generate's and lerobot-eval's)."""
    return SEED_BASE + SEED_STRIDE * seed + COLLECT_SEED_OFFSET + index


# ---------------------------------------------------------------------------------------------------------------
# The scripted operator: judges the world, never the policy's internals.


def goal_distance(world) -> float:
    """How far the current sub-task is from done, read off the world state (m for positions, plus gripper units)."""
    from lerobot_recap.envs.handover import (
        GRIPPER,
        HANDOVER_HEIGHT,
        HANDOVER_POINT,
        LIFT,
    )
    from lerobot_recap.envs.scripted import PLACE_HEIGHT, Phase, phase_of

    phase = phase_of(world)

    def reach(arm: str, xy: np.ndarray, height: float) -> float:
        gripper_xy, _ = world.gripper_pose(arm)
        return float(np.linalg.norm(gripper_xy - xy) + abs(world.arm_q(arm)[LIFT] - height))

    if phase == Phase.LEFT_PICK:
        return reach("left", world.cube_xy, world.cube_z)
    if phase == Phase.RIGHT_PICK:
        return reach("right", world.cube_xy, world.cube_z)
    if phase == Phase.HANDOVER:
        present = reach("left", HANDOVER_POINT, HANDOVER_HEIGHT)
        return (
            present + reach("right", world.cube_xy, world.cube_z)
            if present > 0.04
            else reach("right", world.cube_xy, world.cube_z)
        )
    if phase == Phase.RELEASE_LEFT:
        return float(1.0 - world.arm_q("left")[GRIPPER])
    if phase == Phase.CARRY:
        return reach("right", world.target_xy, PLACE_HEIGHT)
    return 0.0


def dropping(world) -> bool:
    """Every arm holding the cube has opened its gripper past closed above the safe height: it is about to let go.

    A policy's gripper command wobbles a little while holding; only an opening beyond the grasp threshold (the
    cube slips at the release threshold, a step or two further) is what an operator sees as a drop coming.
    """
    from lerobot_recap.envs.handover import ARMS, GRIP_CLOSED, GRIPPER, SAFE_DROP_HEIGHT

    holders = [arm for arm in ARMS if world.held_by[arm]]
    if not holders or world.cube_z <= SAFE_DROP_HEIGHT:
        return False
    return all(world.arm_q(arm)[GRIPPER] > GRIP_CLOSED for arm in holders)


class SimOperator:
    """Watches one env and decides when to take over from the policy and when to hand back.

    ``check(world, driving)`` returns ``"take_over"`` (with a reason), ``"hand_back"`` or None for this tick.
    The expert (:class:`HandoverExpert`) drives while CORRECTING.
    """

    def __init__(self, config: CollectOperatorConfig):
        from lerobot_recap.envs.scripted import HandoverExpert

        self.config = config
        self.expert = HandoverExpert()
        self.reset()

    def reset(self) -> None:
        self._phase = None
        self._best = np.inf
        self._since_progress = 0
        self._recent: deque[float] = deque(maxlen=self.config.away_steps + 1)
        self._grace = 0
        self._corrected_phase = None
        self._correction_steps = 0

    def _track(self, world) -> None:
        from lerobot_recap.envs.scripted import phase_of

        phase = phase_of(world)
        d = goal_distance(world)
        if phase != self._phase:
            self._phase, self._best, self._since_progress = phase, d, 0
            self._recent.clear()
        elif d < self._best - 0.01:
            self._best, self._since_progress = d, 0
        else:
            self._since_progress += 1
        self._recent.append(d)

    def erring(self, world) -> str | None:
        """Why the policy is visibly going wrong now (what a watching operator notices), or None."""
        from lerobot_recap.envs.handover import GRASP_TILT, GRIPPER, LIFT, PITCH, ROLL
        from lerobot_recap.envs.scripted import Phase, phase_of

        if dropping(world):
            return "cube about to drop"
        if self._grace > 0:
            return None
        cfg = self.config
        if self._since_progress >= cfg.stall_steps:
            return "no progress"
        if len(self._recent) == self._recent.maxlen and self._recent[-1] > self._recent[0] + cfg.away_margin:
            return "heading away from the goal"
        picking = {Phase.LEFT_PICK: "left", Phase.RIGHT_PICK: "right"}.get(phase_of(world))
        if picking is not None:
            q = world.arm_q(picking)
            xy, _ = world.gripper_pose(picking)
            near = np.linalg.norm(xy - world.cube_xy) < 0.1 and q[LIFT] < world.cube_z + 0.08
            if near and q[GRIPPER] < 0.05:
                return "grasp closed on air"
            if near and (abs(q[PITCH]) > 0.75 * GRASP_TILT or abs(q[ROLL]) > 0.75 * GRASP_TILT):
                return "tilted wrist at the grasp"
        return None

    def check(self, world, correcting: bool) -> tuple[str | None, str]:
        """This tick's decision: ("take_over", reason), ("hand_back", reason) or (None, "")."""
        from lerobot_recap.envs.scripted import phase_of

        self._track(world)
        if correcting:
            self._correction_steps += 1
            if phase_of(world) != self._corrected_phase:
                return "hand_back", "sub-task recovered"
            if self._correction_steps > self.config.max_correction_steps:
                return "hand_back", "correction too long"
            return None, ""
        if self._grace > 0:
            self._grace -= 1
        reason = self.erring(world)
        if reason is not None:
            return "take_over", reason
        return None, ""

    def started(self, world) -> None:
        from lerobot_recap.envs.scripted import phase_of

        self._corrected_phase = phase_of(world)
        self._correction_steps = 0

    def handed_back(self) -> None:
        self._grace = self.config.grace_steps
        self._since_progress = 0
        self._best = np.inf
        self._recent.clear()


# ---------------------------------------------------------------------------------------------------------------
# Recording


@dataclass
class CollectedEpisode:
    """One recorded episode."""

    index: int
    env_seed: int
    length: int
    human_frames: int
    corrections: int
    outcome: Outcome
    source: Source
    end: str
    """How it ended - `success`, `dropped` (the cube rolled off) or `timeout`."""
    transitions: list[list[Any]] = field(default_factory=list)
    """Phase-machine transitions: [frame, event, before, after, reason]."""


def dataset_features(cfg: CollectConfig) -> dict[str, dict[str, Any]]:
    """LeRobot features of a collected dataset: those of a recap_dagger recording of the hand-over robot."""
    from lerobot_recap.envs.handover import JOINT_NAMES
    from lerobot_recap.teleoperators.recap_dagger.hub import recap_action_dims

    action_names = list(JOINT_NAMES) + recap_action_dims(list(JOINT_NAMES), cfg.record_policy_action)
    features: dict[str, dict[str, Any]] = {
        "observation.state": {
            "dtype": "float32",
            "shape": (len(JOINT_NAMES),),
            "names": list(JOINT_NAMES),
        },
        "action": {
            "dtype": "float32",
            "shape": (len(action_names),),
            "names": action_names,
        },
    }
    for camera in cfg.cameras:
        features[f"observation.images.{camera}"] = {
            "dtype": "video" if cfg.use_videos else "image",
            "shape": (cfg.image_size, cfg.image_size, 3),
            "names": ["height", "width", "channels"],
        }
    return features


class _Slot:
    """One simulated env of the batch, its phase machine, its operator and the frames of its episode."""

    def __init__(self, env, operator: SimOperator | None):
        from lerobot_recap.teleoperators.recap_dagger.phase import Phase, PhaseMachine

        self.env = env
        self.operator = operator
        self.machine = PhaseMachine(Phase.PAUSED)
        self.observation: dict | None = None
        self.frames: list[dict[str, Any]] = []
        self.transitions: list[list[Any]] = []
        self.done = False
        self.end = ""
        self.index = -1
        self.seed = -1
        self.corrections = 0

    def start(self, index: int, seed: int) -> bool:
        """Reset the env; the operator presses resume (PAUSED -> AUTONOMOUS) as recap_dagger episodes start."""
        from lerobot_recap.teleoperators.recap_dagger.phase import PhaseEvent

        self.index, self.seed = index, seed
        self.observation, _ = self.env.reset(seed=seed)
        self.machine.apply(PhaseEvent.SAFETY_PAUSE)  # every episode starts PAUSED
        self.frames, self.transitions, self.done, self.end, self.corrections = (
            [],
            [],
            False,
            "",
            0,
        )
        if self.operator is not None:
            self.operator.reset()
        return self.apply([PhaseEvent.PAUSE_RESUME], "episode start")

    def apply(self, events, reason: str) -> bool:
        """Apply pedal events through the phase machine; True if a driving phase was entered (flush the policy)."""
        from lerobot_recap.teleoperators.recap_dagger.phase import Phase

        entered = False
        for event in events:
            t = self.machine.apply(event)
            self.transitions.append([len(self.frames), t.event.value, t.before.name, t.after.name, reason])
            if not t.accepted:
                raise RuntimeError(f"the phase machine refused {t.event.value} in {t.before.name}: {t.reason}")
            entered |= t.changed and t.after in (Phase.AUTONOMOUS, Phase.CORRECTING)
        return entered


def _stack(observations: list[dict]) -> dict[str, Any]:
    """Single-env observations -> the batched layout a gymnasium vector env returns."""
    return {
        "pixels": {cam: np.stack([o["pixels"][cam] for o in observations]) for cam in observations[0]["pixels"]},
        "agent_pos": np.stack([o["agent_pos"] for o in observations]),
    }


class PolicyDriver:
    """A checkpoint loaded and run as lerobot-eval runs it on a vector env (one ``select_action`` per batch step)."""

    def __init__(self, cfg: CollectConfig):
        import torch
        from lerobot.envs.factory import make_env_pre_post_processors
        from lerobot.policies.factory import make_policy, make_pre_post_processors

        env_cfg = cfg.env_config()
        _check_policy_fits(cfg, cfg.policy)  # a clear line before make_policy's multi-line feature mismatch
        self.policy = make_policy(cfg=cfg.policy, env_cfg=env_cfg)
        self.policy.eval()
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            policy_cfg=cfg.policy,
            pretrained_path=str(cfg.policy.pretrained_path),
            preprocessor_overrides={"device_processor": {"device": str(self.policy.config.device)}},
        )
        self.env_preprocessor, self.env_postprocessor = make_env_pre_post_processors(
            env_cfg=env_cfg, policy_cfg=cfg.policy
        )
        self.task = cfg.task_description
        self.torch = torch

    def reset(self) -> None:
        """Flush the action queue and processor state (recap_dagger does it whenever a driving phase starts)."""
        self.policy.reset()
        self.preprocessor.reset()
        self.postprocessor.reset()

    def act(self, observations: list[dict]) -> np.ndarray:
        from lerobot.envs.utils import preprocess_observation
        from lerobot.utils.constants import ACTION

        observation = preprocess_observation(_stack(observations))
        observation["task"] = [self.task] * len(observations)
        observation = self.env_preprocessor(observation)
        observation = self.preprocessor(observation)
        with self.torch.inference_mode():
            action = self.policy.select_action(observation)
        action = self.postprocessor(action)
        action = self.env_postprocessor({ACTION: action})[ACTION]
        values = action.to("cpu").float().numpy()
        if values.ndim != 2 or values.shape[0] != len(observations):
            raise ValueError(f"the policy returned actions of shape {values.shape} for {len(observations)} envs")
        return values


def _check_policy_fits(cfg: CollectConfig, policy_config) -> None:
    """The policy must read this task's state and cameras in the sizes rendered, and output 14 joint targets."""
    from lerobot_recap.envs.handover import STATE_DIM

    problems = []
    action = (policy_config.output_features or {}).get("action")
    if action is not None and tuple(action.shape) != (STATE_DIM,):
        problems.append(f"it outputs actions of shape {tuple(action.shape)}, the task takes ({STATE_DIM},)")
    for key, feature in (policy_config.input_features or {}).items():
        if key == "observation.state":
            if tuple(feature.shape) != (STATE_DIM,):
                problems.append(f"it reads a state of shape {tuple(feature.shape)}, the task gives ({STATE_DIM},)")
        elif key.startswith("observation.images."):
            camera = key.removeprefix("observation.images.")
            if camera not in cfg.cameras:
                problems.append(f"it reads the camera {camera!r} (add it to --cameras)")
            elif tuple(feature.shape)[1:] != (cfg.image_size, cfg.image_size):
                problems.append(f"it reads {camera!r} at {tuple(feature.shape)}: set --image_size={feature.shape[-1]}")
    if problems:
        raise ValueError(
            f"the policy at {cfg.policy.pretrained_path} does not fit the hand-over task: {'; '.join(problems)}"
        )


def collect_dataset(cfg: CollectConfig, progress: bool = True) -> list[CollectedEpisode]:
    """Record ``cfg.n_episodes`` episodes into ``cfg.output_dir`` (atomically) and return them."""
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    from lerobot_recap.data.metadata import record_episode_outcomes, write_json_atomic
    from lerobot_recap.envs.generate import _remove_empty_dirs
    from lerobot_recap.envs.handover import RecapHandoverGymEnv
    from lerobot_recap.teleoperators.recap_dagger.hub import INTERVENTION_DIM, PHASE_DIM
    from lerobot_recap.teleoperators.recap_dagger.phase import Phase, PhaseEvent

    cfg.validate()
    torch.manual_seed(cfg.seed)
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    output_dir = Path(cfg.output_dir)
    staging = output_dir.with_name(f".{output_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    output_dir.parent.mkdir(parents=True, exist_ok=True)

    driver = PolicyDriver(cfg)
    n_slots = min(cfg.batch_size, cfg.n_episodes)
    slots = [
        _Slot(
            RecapHandoverGymEnv(
                cameras=tuple(cfg.cameras),
                image_size=cfg.image_size,
                episode_length=cfg.episode_length,
                spawn_scale=cfg.spawn_scale,
                task_description=cfg.task_description,
            ),
            SimOperator(cfg.operator) if cfg.corrections else None,
        )
        for _ in range(n_slots)
    ]
    features = dataset_features(cfg)
    action_names = features["action"]["names"]
    assert action_names.index(INTERVENTION_DIM) == 14 and action_names.index(PHASE_DIM) == 15
    dataset = LeRobotDataset.create(
        repo_id=cfg.repo_id,
        fps=cfg.fps,
        root=staging,
        features=features,
        robot_type="recap_handover_sim",
        use_videos=cfg.use_videos,
        image_writer_threads=0,
    )
    results: list[CollectedEpisode] = []
    started = time.perf_counter()
    bar = tqdm(
        total=cfg.n_episodes,
        desc="collecting episodes",
        unit="ep",
        disable=not progress,
    )
    try:
        for wave_start in range(0, cfg.n_episodes, n_slots):
            wave = slots[: min(n_slots, cfg.n_episodes - wave_start)]
            for k, slot in enumerate(wave):
                slot.start(wave_start + k, env_seed(cfg.seed, wave_start + k))
            driver.reset()  # a new batch of episodes: lerobot-eval's policy.reset() before each rollout
            while not all(slot.done for slot in wave):
                # 1. The operator watches (pedal events are handled before the policy runs, as in recap_dagger).
                flush = False
                for slot in wave:
                    if slot.done or slot.operator is None:
                        continue
                    world = slot.env.world
                    decision, reason = slot.operator.check(world, slot.machine.phase is Phase.CORRECTING)
                    if decision == "take_over":
                        flush |= slot.apply([PhaseEvent.PAUSE_RESUME, PhaseEvent.CORRECTION], reason)
                        slot.operator.started(world)
                        slot.corrections += 1
                    elif decision == "hand_back":
                        flush |= slot.apply([PhaseEvent.CORRECTION, PhaseEvent.PAUSE_RESUME], reason)
                        slot.operator.handed_back()
                if flush:
                    driver.reset()
                # 2. The policy runs once on the whole batch (finished envs repeat their last observation).
                policy_actions = driver.act([slot.observation for slot in wave])
                # 3. Each env: the expert drives in CORRECTING, the policy in AUTONOMOUS; record, then step.
                for slot, policy_action in zip(wave, policy_actions, strict=True):
                    if slot.done:
                        continue
                    phase = slot.machine.phase
                    correcting = phase is Phase.CORRECTING
                    executed = slot.operator.expert.act(slot.env.world) if correcting else policy_action
                    recap_dims = [float(correcting), float(int(phase))]
                    if cfg.record_policy_action:
                        recap_dims += [1.0, *policy_action.tolist()]
                    frame = {
                        "observation.state": slot.observation["agent_pos"],
                        "action": np.concatenate([executed, recap_dims]).astype(np.float32),
                        "task": cfg.task_description,
                    }
                    for camera, image in slot.observation["pixels"].items():
                        frame[f"observation.images.{camera}"] = image
                    slot.frames.append(frame)
                    slot.observation, _, terminated, truncated, _ = slot.env.step(executed)
                    if terminated or truncated:
                        slot.done = True
                        slot.end = slot.env.world.status if terminated else "timeout"
                        slot.apply([PhaseEvent.SAFETY_PAUSE], "episode end")
            for slot in wave:  # saved in episode order
                for frame in slot.frames:
                    dataset.add_frame(frame)
                dataset.save_episode()
                human = int(sum(f["action"][14] > 0.5 for f in slot.frames))
                results.append(
                    CollectedEpisode(
                        index=slot.index,
                        env_seed=slot.seed,
                        length=len(slot.frames),
                        human_frames=human,
                        corrections=slot.corrections,
                        outcome=Outcome.SUCCESS if slot.end == "success" else Outcome.FAILURE,
                        source=source_from_intervention(human, len(slot.frames)),
                        end=slot.end,
                        transitions=slot.transitions,
                    )
                )
                bar.update(1)
        dataset.finalize()
        _remove_empty_dirs(staging / "images")
        record_episode_outcomes(
            staging,
            {r.index: r.outcome for r in results},
            {r.index: r.source for r in results},
        )
        write_json_atomic(
            staging / COLLECT_META_PATH,
            _collect_meta(cfg, results, time.perf_counter() - started),
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
        for slot in slots:
            slot.env.close()
    if output_dir.exists():  # only reachable with --overwrite (validate refused otherwise)
        shutil.rmtree(output_dir)
    staging.rename(output_dir)
    return results


def summarize(results: list[CollectedEpisode]) -> dict[str, float]:
    n = len(results)
    successes = sum(r.outcome == Outcome.SUCCESS for r in results)
    frames = sum(r.length for r in results)
    return {
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "frames": frames,
        "human_frames": sum(r.human_frames for r in results),
        "corrections": sum(r.corrections for r in results),
        "dropped": sum(r.end == "dropped" for r in results),
        "timeouts": sum(r.end == "timeout" for r in results),
        "sources": {s.value: sum(r.source == s for r in results) for s in Source},
    }


def _collect_meta(cfg: CollectConfig, results: list[CollectedEpisode], seconds: float) -> dict[str, Any]:
    config = {k: v for k, v in asdict(cfg).items() if k != "policy"}
    config["output_dir"] = str(cfg.output_dir)
    config["policy_path"] = str(cfg.policy.pretrained_path)
    config["policy_type"] = cfg.policy.type
    return {
        "collector": "lerobot_recap.envs.collect",
        "config": config,
        "seconds": round(seconds, 2),
        "episodes_per_minute": round(60.0 * len(results) / seconds, 2) if seconds > 0 else None,
        "summary": summarize(results),
        "episodes": [{**asdict(r), "outcome": r.outcome.value, "source": r.source.value} for r in results],
    }


def collect(cfg: CollectConfig) -> list[CollectedEpisode]:
    """Record and print a summary: what ``lerobot-recap-collect`` runs once its arguments are parsed."""
    from datasets.utils.logging import disable_progress_bar

    cfg.validate()  # before the policy, the envs and LeRobot's writer load
    disable_progress_bar()
    started = time.perf_counter()
    results = collect_dataset(cfg)
    seconds = time.perf_counter() - started
    summary = summarize(results)
    print(
        f"{summary['episodes']} episodes, success {summary['success_rate']:.0%}, {summary['frames']} frames "
        f"({summary['human_frames']} corrected in {summary['corrections']} takeovers), dropped {summary['dropped']}, "
        f"timeouts {summary['timeouts']}, sources {summary['sources']}; {60 * len(results) / seconds:.1f} episodes/min"
    )
    print(f"dataset written to {cfg.output_dir} (repo_id {cfg.repo_id}); outcomes and sources in meta/recap.json")
    print(json.dumps({"episodes": len(results), "frames": summary["frames"]}))
    return results
