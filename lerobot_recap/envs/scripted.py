"""Scripted behaviours on the hand-over task: an expert, a weaker autonomous policy, and a correcting operator.

All three read the simulator's full state (``HandoverWorld``) and return absolute joint targets (14,), moved at
most one speed-limit step from the current joints, as a leader arm would read.

- ``HandoverExpert``: reactive (the phase is read off the world each step, never from a clock), so it can take
  over in the middle of any episode and finish it, including recovering a cube that was set down in the wrong
  place. It succeeds on well over 95% of seeds.
- ``WeakPolicy``: the expert seen through the mistakes a half-trained policy makes on a real hand-over:
  misaligned grasps (a biased idea of where the cube is, now and then or for a whole episode), a drifting wrist
  tilt that makes grasps slip, letting go of the cube before the other arm holds it (premature release: the cube
  rolls off the table), placing off the target (drift), hesitation and jitter. Each mistake is a choice in a
  state where the expert does something else, so plain imitation of mixed data copies it.
- ``CorrectingOperator``: a human watching the weak policy with a foot pedal. When the policy starts a mistake
  the operator notices (most of the time), reacts after a short delay, drives with the expert until the current
  sub-task is done, and hands back. Late reactions can still fail, as on a real robot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from lerobot_recap.envs.handover import (
    ARMS,
    CARRY_HEIGHT,
    GRIP_CLOSED,
    GRIPPER,
    HANDOVER_HEIGHT,
    HANDOVER_POINT,
    HEADINGS,
    JOINT_HIGH,
    JOINT_LOW,
    JOINT_SPEED,
    LIFT,
    PITCH,
    ROLL,
    HandoverWorld,
    arm_slice,
    home_pose,
    inverse_kinematics,
    wrap_angle,
    yaw_error,
)


class Phase(IntEnum):
    """The sub-task the world is in, read off the state (who holds the cube, where it is)."""

    LEFT_PICK = 0
    HANDOVER = 1
    RELEASE_LEFT = 2
    CARRY = 3
    RIGHT_PICK = 4
    DONE = 5


def phase_of(world: HandoverWorld) -> Phase:
    if world.status != "running":
        return Phase.DONE
    left, right = world.held_by["left"], world.held_by["right"]
    if left and right:
        return Phase.RELEASE_LEFT
    if right:
        return Phase.CARRY
    if left:
        return Phase.HANDOVER
    # A free cube: the left arm picks it on its half; on the right half (dropped low, or set down off the
    # target) the right arm picks it itself and places it again.
    return Phase.LEFT_PICK if world.cube_xy[0] < -0.05 else Phase.RIGHT_PICK


@dataclass
class Perception:
    """How a behaviour sees the task: the expert's is exact; the weak policy's carries its mistakes."""

    grasp_offset: dict[str, np.ndarray] = field(default_factory=lambda: {a: np.zeros(3) for a in ARMS})
    """Per arm - error (dx, dy, dyaw) of where it believes the cube is, while picking/grasping."""
    wrist_tilt: dict[str, float] = field(default_factory=lambda: {a: 0.0 for a in ARMS})
    """Per arm - the wrist pitch it holds (the expert holds 0; beyond the grasp tolerance grasps fail)."""
    place_offset: np.ndarray = field(default_factory=lambda: np.zeros(2))
    """Error of where it believes the target is."""
    release_early: bool = False
    """Whether the left arm lets go as soon as it reaches the hand-over point, before the right arm holds."""


ALIGN_XY = 0.02
ALIGN_YAW = 0.08
ALIGN_Z = 0.02
APPROACH_HEIGHT = 0.1
PLACE_HEIGHT = 0.03


class HandoverExpert:
    """The scripted expert. ``act(world)`` -> joint targets (14,)."""

    def __init__(self, perception: Perception | None = None):
        self.perception = perception or Perception()

    def act(self, world: HandoverWorld) -> np.ndarray:
        phase = phase_of(world)
        goal = world.q.copy()
        if phase == Phase.LEFT_PICK:
            goal[arm_slice("left")] = self._pick(world, "left")
            goal[arm_slice("right")] = self._rest(world, "right")
        elif phase == Phase.HANDOVER:
            goal[arm_slice("left")], ready = self._present(world)
            goal[arm_slice("right")] = self._pick(world, "right") if ready else self._wait_for_handover(world)
            if ready and self.perception.release_early:
                goal[arm_slice("left")][GRIPPER] = 1.0
        elif phase == Phase.RELEASE_LEFT:
            goal[arm_slice("left")][GRIPPER] = 1.0
            goal[arm_slice("right")][GRIPPER] = 0.0
        elif phase == Phase.CARRY:
            goal[arm_slice("left")] = self._rest(world, "left")
            goal[arm_slice("right")] = self._place(world)
        elif phase == Phase.RIGHT_PICK:
            goal[arm_slice("left")] = self._rest(world, "left")
            goal[arm_slice("right")] = self._pick(world, "right")
        return self._limit(world, goal)

    # -- per-arm goals (7,) ------------------------------------------------------------------------------------

    def _arm_goal(self, world: HandoverWorld, arm: str, xy: np.ndarray, yaw: float, lift: float, grip: float):
        goal = world.arm_q(arm).copy()
        goal[:3] = inverse_kinematics(arm, xy, yaw)
        goal[LIFT] = lift
        goal[PITCH] = self.perception.wrist_tilt[arm]
        goal[ROLL] = 0.0
        goal[GRIPPER] = grip
        return goal

    def _rest(self, world: HandoverWorld, arm: str) -> np.ndarray:
        goal = home_pose(arm)
        goal[PITCH] = self.perception.wrist_tilt[arm]
        return goal

    def _pick(self, world: HandoverWorld, arm: str) -> np.ndarray:
        """Approach above the believed cube pose, descend, close; open again after a grasp that missed."""
        q = world.arm_q(arm)
        offset = self.perception.grasp_offset[arm]
        cube_xy = world.cube_xy + offset[:2]
        grasp_yaw = _aligned_yaw(world.cube_yaw + offset[2], HEADINGS[arm])
        xy, yaw = world.gripper_pose(arm)
        holding = world.held_by[arm]
        if not holding and q[GRIPPER] < 0.05:  # closed on air: open where it is, then retry
            return self._arm_goal(world, arm, xy, yaw, q[LIFT], 1.0)
        near = np.linalg.norm(xy - cube_xy) < ALIGN_XY and yaw_error(yaw, grasp_yaw) < ALIGN_YAW
        low = abs(q[LIFT] - world.cube_z) < ALIGN_Z
        if near and low:
            return self._arm_goal(world, arm, cube_xy, grasp_yaw, world.cube_z, 0.0)
        if q[GRIPPER] < GRIP_CLOSED:  # a partly closed gripper must open before it moves on
            return self._arm_goal(world, arm, xy, yaw, q[LIFT], 1.0)
        closing_in = np.linalg.norm(xy - cube_xy) < 2 * ALIGN_XY
        lift = world.cube_z if closing_in else max(world.cube_z, APPROACH_HEIGHT)
        return self._arm_goal(world, arm, cube_xy, grasp_yaw, lift, 1.0)

    def _present(self, world: HandoverWorld) -> tuple[np.ndarray, bool]:
        """The left arm brings the held cube to the hand-over point; ``ready`` once it is there."""
        xy, _ = world.gripper_pose("left")
        q = world.arm_q("left")
        ready = bool(np.linalg.norm(xy - HANDOVER_POINT) < 0.02 and abs(q[LIFT] - HANDOVER_HEIGHT) < 0.02)
        return self._arm_goal(world, "left", HANDOVER_POINT, HEADINGS["left"], HANDOVER_HEIGHT, 0.0), ready

    def _wait_for_handover(self, world: HandoverWorld) -> np.ndarray:
        return self._arm_goal(
            world, "right", HANDOVER_POINT + np.array([0.3, 0.0]), HEADINGS["right"], HANDOVER_HEIGHT, 1.0
        )

    def _place(self, world: HandoverWorld) -> np.ndarray:
        """Carry above the believed target, lower below the safe drop height, open."""
        q = world.arm_q("right")
        target = world.target_xy + self.perception.place_offset
        xy, yaw = world.gripper_pose("right")
        above = np.linalg.norm(xy - target) < 0.02
        if above and q[LIFT] < PLACE_HEIGHT + 0.01:
            return self._arm_goal(world, "right", target, yaw, PLACE_HEIGHT, 1.0)
        if above:
            return self._arm_goal(world, "right", target, yaw, PLACE_HEIGHT, 0.0)
        return self._arm_goal(world, "right", target, HEADINGS["right"], CARRY_HEIGHT, 0.0)

    @staticmethod
    def _limit(world: HandoverWorld, goal: np.ndarray) -> np.ndarray:
        """One speed-limited step towards the goal, so the action reads like a leader arm (close to next state)."""
        goal = goal.copy()
        for arm in ARMS:  # joint 2 is a wrist yaw: take the short way round
            j = arm_slice(arm).start + 2
            goal[j] = world.q[j] + wrap_angle(goal[j] - world.q[j])
        step = np.clip(goal - world.q, -JOINT_SPEED, JOINT_SPEED)
        return np.clip(world.q + step, JOINT_LOW, JOINT_HIGH)


def _aligned_yaw(cube_yaw: float, natural: float) -> float:
    """The grasp yaw (cube yaw plus a quarter-turn multiple) closest to the arm's natural approach direction."""
    candidates = cube_yaw + np.arange(-4, 5) * (np.pi / 2)
    return float(candidates[np.argmin(np.abs(wrap_angle(candidates - natural)))])


@dataclass
class WeakConfig:
    """How often the weak policy makes each mistake (defaults: roughly half of its episodes fail)."""

    p_miscalibrated: float = 0.12
    """Per episode - a persistent grasp error for one arm (every grasp of that arm misses)."""
    p_misgrasp: float = 0.15
    """Per grasp attempt - a one-off misaligned grasp (costs a retry)."""
    p_tilt: float = 0.1
    """Per episode - one wrist drifts tilted past the grasp tolerance (its grasps slip)."""
    p_release_early: float = 0.25
    """Per episode - the left arm lets go at the hand-over point before the right arm holds."""
    p_place_drift: float = 0.2
    """Per episode - the right arm places off the target."""
    p_hesitate: float = 0.02
    """Per step - hold still for a step."""
    action_noise: float = 0.004
    """Std of the jitter added to joint targets (rad / m)."""


class WeakPolicy:
    """The expert seen through a half-trained policy's mistakes (see the module docstring). Seeded by ``rng``."""

    def __init__(self, rng: np.random.Generator, config: WeakConfig | None = None):
        self.rng = rng
        self.config = config or WeakConfig()
        self.reset()

    def reset(self) -> None:
        cfg, rng = self.config, self.rng
        self.perception = Perception()
        self.persistent = {arm: np.zeros(3) for arm in ARMS}
        if rng.random() < cfg.p_miscalibrated:
            self.persistent[str(rng.choice(ARMS))] = self._grasp_error()
        if rng.random() < cfg.p_tilt:
            self.perception.wrist_tilt[str(rng.choice(ARMS))] = float(rng.choice([-1, 1]) * rng.uniform(0.25, 0.4))
        self.perception.release_early = bool(rng.random() < cfg.p_release_early)
        if rng.random() < cfg.p_place_drift:
            angle = rng.uniform(0, 2 * np.pi)
            self.perception.place_offset = rng.uniform(0.11, 0.16) * np.array([np.cos(angle), np.sin(angle)])
        self._missed = {arm: False for arm in ARMS}
        for arm in ARMS:
            self._new_attempt(arm)
        self.expert = HandoverExpert(self.perception)

    def _grasp_error(self) -> np.ndarray:
        """A misalignment that makes a grasp miss: off by more than the tolerance in position or yaw."""
        if self.rng.random() < 0.5:
            angle = self.rng.uniform(0, 2 * np.pi)
            return np.array([*(self.rng.uniform(0.09, 0.13) * np.array([np.cos(angle), np.sin(angle)])), 0.0])
        return np.array([0.0, 0.0, self.rng.choice([-1, 1]) * self.rng.uniform(0.35, 0.6)])

    def _new_attempt(self, arm: str) -> None:
        error = self._grasp_error() if self.rng.random() < self.config.p_misgrasp else np.zeros(3)
        self.perception.grasp_offset[arm] = self.persistent[arm] + error

    def act(self, world: HandoverWorld) -> np.ndarray:
        for arm in ARMS:  # a fresh (independently right or wrong) attempt after each miss
            missed = not world.held_by[arm] and world.arm_q(arm)[GRIPPER] < 0.05
            if missed and not self._missed[arm]:
                self._new_attempt(arm)
            self._missed[arm] = missed
        if self.rng.random() < self.config.p_hesitate:
            return world.q.copy()
        action = self.expert.act(world)
        jitter = self.rng.normal(0.0, self.config.action_noise, size=action.shape)
        jitter[[GRIPPER, GRIPPER + 7]] = 0.0
        return np.clip(action + jitter, JOINT_LOW, JOINT_HIGH)

    def erring(self, world: HandoverWorld) -> bool:
        """Whether the policy is visibly making a mistake now (what a watching operator can notice)."""
        phase = phase_of(world)
        p = self.perception
        if phase == Phase.HANDOVER and p.release_early and world.arm_q("left")[GRIPPER] > 0.05:
            return True
        if phase == Phase.CARRY and np.any(p.place_offset):
            xy, _ = world.gripper_pose("right")
            return bool(np.linalg.norm(xy - world.target_xy - p.place_offset) < 0.08)
        picking = {Phase.LEFT_PICK: "left", Phase.RIGHT_PICK: "right", Phase.HANDOVER: "right"}.get(phase)
        if picking is None:
            return False
        q = world.arm_q(picking)
        xy, _ = world.gripper_pose(picking)
        close = np.linalg.norm(xy - world.cube_xy) < 0.1 and q[LIFT] < world.cube_z + 0.05
        misaligned = bool(np.any(p.grasp_offset[picking])) or abs(q[PITCH]) > 0.15
        return bool(close and misaligned)

    def handed_back(self, corrected_phase: Phase) -> None:
        """The operator fixed the sub-task ``corrected_phase``: its one-off mistakes are spent."""
        if corrected_phase == Phase.HANDOVER:
            self.perception.release_early = False
        for arm in ARMS:
            self._new_attempt(arm)


@dataclass
class OperatorConfig:
    """How a human watching the weak policy corrects it."""

    p_notice: float = 0.9
    """Chance to notice a mistake as it starts."""
    reaction_steps: tuple[int, ...] = (0, 0, 0, 1, 2)
    """Reaction delay in steps after noticing, drawn uniformly from this tuple."""
    p_spontaneous: float = 0.01
    """Per step - take over with no mistake in sight (a cautious operator)."""
    spontaneous_steps: tuple[int, int] = (5, 15)
    """Length range of a spontaneous takeover."""


class CorrectingOperator:
    """Decides, step by step, whether the human (the expert) or the weak policy drives. Seeded by ``rng``."""

    def __init__(self, rng: np.random.Generator, config: OperatorConfig | None = None):
        self.rng = rng
        self.config = config or OperatorConfig()
        self.expert = HandoverExpert()
        self.reset()

    def reset(self) -> None:
        self.driving = False
        self._countdown: int | None = None
        self._phase: Phase | None = None
        self._steps_left: int | None = None
        self._ignored = False

    def act(self, world: HandoverWorld, policy: WeakPolicy) -> tuple[np.ndarray, bool]:
        """The action applied this step and whether the human drove it (the intervention flag)."""
        policy_action = policy.act(world)  # the policy runs (and updates itself) even while overridden
        if not self.driving:
            self._watch(world, policy)
        if self.driving:
            action = self.expert.act(world)
            self._maybe_hand_back(world, policy)
            return action, True
        return policy_action, False

    def _watch(self, world: HandoverWorld, policy: WeakPolicy) -> None:
        cfg = self.config
        if self._countdown is None:
            erring = policy.erring(world)
            if erring and not self._ignored:
                if self.rng.random() < cfg.p_notice:
                    self._countdown = int(self.rng.choice(cfg.reaction_steps))
                else:
                    self._ignored = True  # missed this one; do not get a second chance every step
            elif not erring:
                self._ignored = False
            if self._countdown is None and self.rng.random() < cfg.p_spontaneous:
                self._start(world, steps=int(self.rng.integers(*cfg.spontaneous_steps)))
                return
        if self._countdown is not None:
            if self._countdown == 0:
                self._start(world, steps=None)
            else:
                self._countdown -= 1

    def _start(self, world: HandoverWorld, steps: int | None) -> None:
        self.driving = True
        self._countdown = None
        self._phase = phase_of(world)
        self._steps_left = steps

    def _maybe_hand_back(self, world: HandoverWorld, policy: WeakPolicy) -> None:
        if self._steps_left is not None:
            self._steps_left -= 1
            done = self._steps_left <= 0
        else:  # a correction lasts until the sub-task it fixed is over
            done = phase_of(world) != self._phase
        if done:
            policy.handed_back(self._phase)
            self.driving = False
            self._phase = None
            self._steps_left = None


__all__ = [
    "CorrectingOperator",
    "HandoverExpert",
    "OperatorConfig",
    "Perception",
    "Phase",
    "WeakConfig",
    "WeakPolicy",
    "phase_of",
]
