"""The embedded RECAP task: two planar arms hand a cube over, rendered in numpy.

The scene is a top-down tabletop shaped after a YAM bimanual station. Each arm has the YAM layout of six joints
and a gripper (14-D state and action in all):

- joints 0-2: a planar shoulder / elbow / wrist-yaw chain that places the gripper in the table plane,
- joint 3: the lift (gripper height above the table),
- joints 4-5: wrist pitch and roll, which must stay near zero for a grasp to hold,
- the gripper opening (0 closed, 1 open).

The left arm picks the cube (random pose on the left half), carries it to the hand-over point above the middle of
the table, the right arm grasps it, the left arm lets go, and the right arm places it on the green target (random
pose on the right half). Actions are absolute joint targets; the simulator moves each joint toward its target at
a bounded speed (a ``max_relative_target`` safety limit, as on the real arms), so a teleoperated action is close
to the next state, like a leader arm's reading.

What can go wrong is what goes wrong on a real hand-over: a grasp closes on air when the gripper is misaligned
(offset, yaw or tilted wrist); a cube let go above the safety height (premature release during the hand-over)
rolls off the table and ends the episode as a failure; a cube placed off the target is not a success.

Everything is seeded through gymnasium's ``np_random``: the same seed gives the same observations and rewards for
the same actions. ``HandoverSim`` is the simulator alone (used by the scripted policies and the data generator);
``RecapHandoverGymEnv`` wraps it as a gymnasium env in the observation layout that ``lerobot-eval`` expects
(``pixels`` -> ``observation.images.<camera>``, ``agent_pos`` -> ``observation.state``), with ``task`` and
``task_description`` attributes for the language task and ``info["is_success"]`` for the success signal. The
reward is sub-task progress: 1/4 the first time each milestone is reached (left arm holds the cube, right arm holds
it, right arm alone holds it, placed on the target), so an episode's summed reward is its progress in [0, 1] and
exactly 1 on success (``lerobot-eval`` reports it as ``avg_sum_reward``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lerobot_recap.envs.configs import DEFAULT_TASK_DESCRIPTION, GYM_NAMESPACE, KNOWN_CAMERAS, TASKS

GYM_ID = f"{GYM_NAMESPACE}/{TASKS[0]}"
"""The gymnasium id registered when this module is imported (what ``--env.type=recap_handover`` makes)."""

TASK_DESCRIPTION = DEFAULT_TASK_DESCRIPTION
"""The language task of the episode (``task`` in the dataset, the prompt of language-conditioned policies)."""

ARMS = ("left", "right")
JOINTS_PER_ARM = 7
STATE_DIM = 2 * JOINTS_PER_ARM
GRIPPER = 6
LIFT = 3
PITCH = 4
ROLL = 5

JOINT_NAMES: tuple[str, ...] = tuple(
    f"{arm}_{joint}.pos" for arm in ARMS for joint in [f"joint_{i}" for i in range(6)] + ["gripper"]
)
"""Names of the 14 state/action dimensions, in order (left arm first, as in ``yam_bimanual``)."""

CAMERAS = KNOWN_CAMERAS
"""Cameras the env can render: a top-down view of the table and a side view (x against height)."""

# Geometry, in metres (a 2.1 m x 1.0 m table seen from above, bases on the short sides).
LINKS = (0.55, 0.45, 0.10)
BASES = {"left": np.array([-0.95, 0.0]), "right": np.array([0.95, 0.0])}
HEADINGS = {"left": 0.0, "right": np.pi}
ELBOW_SIGN = {"left": 1.0, "right": -1.0}
TABLE_HALF = np.array([1.05, 0.5])
CUBE_SIZE = 0.08
TARGET_SIZE = 0.14
HANDOVER_POINT = np.array([0.0, 0.0])
HANDOVER_HEIGHT = 0.3
CARRY_HEIGHT = 0.15
SAFE_DROP_HEIGHT = 0.12
"""A cube let go above this height rolls off the table (episode over, failure); below, it lands where it is."""

# Grasp tolerances: a closing gripper holds the cube only if it is this well aligned.
GRASP_DIST = 0.07
GRASP_HEIGHT = 0.06
GRASP_YAW = 0.3
GRASP_TILT = 0.2
GRIP_CLOSED = 0.3
GRIP_RELEASED = 0.5
SUCCESS_DIST = 0.06

# Joint limits (per arm) and per-step speed limits (the simulator's max_relative_target).
ARM_LOW = np.array([-2.6, -2.9, -np.pi, 0.0, -0.5, -0.5, 0.0])
ARM_HIGH = np.array([2.6, 2.9, np.pi, 0.6, 0.5, 0.5, 1.0])
ARM_SPEED = np.array([0.12, 0.12, 0.2, 0.05, 0.1, 0.1, 0.34])
JOINT_LOW = np.concatenate([ARM_LOW, ARM_LOW])
JOINT_HIGH = np.concatenate([ARM_HIGH, ARM_HIGH])
JOINT_SPEED = np.concatenate([ARM_SPEED, ARM_SPEED])
MOTION_NOISE = 0.002
"""Std of the per-step joint tracking error (rad or m): small, but it makes every episode's states differ."""


def arm_slice(arm: str) -> slice:
    start = ARMS.index(arm) * JOINTS_PER_ARM
    return slice(start, start + JOINTS_PER_ARM)


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def yaw_error(a: float, b: float) -> float:
    """Distance between two gripper yaws for grasping a cube: the cube is symmetric under quarter turns."""
    d = (a - b + np.pi / 4) % (np.pi / 2) - np.pi / 4
    return float(abs(d))


def forward_kinematics(arm: str, q_arm: np.ndarray) -> tuple[np.ndarray, float]:
    """Gripper centre (x, y) on the table plane and gripper yaw of one arm."""
    a1 = HEADINGS[arm] + q_arm[0]
    a2 = a1 + q_arm[1]
    a3 = a2 + q_arm[2]
    xy = (
        BASES[arm]
        + LINKS[0] * np.array([np.cos(a1), np.sin(a1)])
        + LINKS[1] * np.array([np.cos(a2), np.sin(a2)])
        + LINKS[2] * np.array([np.cos(a3), np.sin(a3)])
    )
    return xy, float(wrap_angle(a3))


def link_points(arm: str, q_arm: np.ndarray) -> np.ndarray:
    """Base, elbow, wrist and gripper centre of one arm, shape (4, 2): what the cameras draw."""
    points = [BASES[arm].copy()]
    angle = HEADINGS[arm]
    for length, q in zip(LINKS, q_arm[:3], strict=True):
        angle += q
        points.append(points[-1] + length * np.array([np.cos(angle), np.sin(angle)]))
    return np.stack(points)


def inverse_kinematics(arm: str, xy: np.ndarray, yaw: float) -> np.ndarray:
    """Planar joints (3,) that put the gripper centre at ``xy`` with yaw ``yaw`` (clamped to the reachable ring)."""
    wrist = np.asarray(xy, dtype=float) - LINKS[2] * np.array([np.cos(yaw), np.sin(yaw)])
    rel = wrist - BASES[arm]
    heading = HEADINGS[arm]
    local = np.array(
        [np.cos(-heading) * rel[0] - np.sin(-heading) * rel[1], np.sin(-heading) * rel[0] + np.cos(-heading) * rel[1]]
    )
    l1, l2 = LINKS[0], LINKS[1]
    dist = float(np.clip(np.linalg.norm(local), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6))
    cos_q1 = (dist**2 - l1**2 - l2**2) / (2 * l1 * l2)
    q1 = ELBOW_SIGN[arm] * float(np.arccos(np.clip(cos_q1, -1.0, 1.0)))
    q0 = float(np.arctan2(local[1], local[0]) - np.arctan2(l2 * np.sin(q1), l1 + l2 * np.cos(q1)))
    q2 = float(wrap_angle(yaw - heading - q0 - q1))
    return np.array([wrap_angle(q0), q1, q2])


def home_pose(arm: str) -> np.ndarray:
    """The arm's rest pose (7,): gripper open, raised, folded towards its own side of the table."""
    q = np.zeros(JOINTS_PER_ARM)
    side = -1.0 if arm == "left" else 1.0
    q[:3] = inverse_kinematics(arm, np.array([0.55 * side, 0.25 * side]), HEADINGS[arm])
    q[LIFT] = CARRY_HEIGHT
    q[GRIPPER] = 1.0
    return q


@dataclass
class HandoverWorld:
    """The full simulator state: what a scripted expert may read, and what the cameras show."""

    q: np.ndarray
    """Joint positions (14,), the proprioceptive state."""
    cube_xy: np.ndarray
    cube_z: float
    cube_yaw: float
    target_xy: np.ndarray
    held_by: dict[str, bool] = field(default_factory=lambda: {"left": False, "right": False})
    grasp_offset: dict[str, float] = field(default_factory=lambda: {"left": 0.0, "right": 0.0})
    """Cube yaw minus gripper yaw at grasp time, so a held cube turns with its gripper."""
    status: str = "running"
    """``running``, ``success`` or ``dropped`` (the cube rolled off the table)."""
    steps: int = 0

    def arm_q(self, arm: str) -> np.ndarray:
        return self.q[arm_slice(arm)]

    def gripper_pose(self, arm: str) -> tuple[np.ndarray, float]:
        return forward_kinematics(arm, self.arm_q(arm))

    @property
    def holder(self) -> str | None:
        """The arm the cube follows (the left one while both hold it), or None when it is free."""
        for arm in ARMS:
            if self.held_by[arm]:
                return arm
        return None

    def cube_on_target(self) -> bool:
        return bool(np.linalg.norm(self.cube_xy - self.target_xy) < SUCCESS_DIST)

    def copy(self) -> HandoverWorld:
        return HandoverWorld(
            q=self.q.copy(),
            cube_xy=self.cube_xy.copy(),
            cube_z=self.cube_z,
            cube_yaw=self.cube_yaw,
            target_xy=self.target_xy.copy(),
            held_by=dict(self.held_by),
            grasp_offset=dict(self.grasp_offset),
            status=self.status,
            steps=self.steps,
        )


class HandoverSim:
    """The hand-over dynamics: bounded-speed joint tracking, grasping, releasing, dropping and success."""

    def __init__(self, spawn_scale: float = 1.0):
        if not 0.0 <= spawn_scale <= 1.0:
            raise ValueError(
                f"spawn_scale must be in [0, 1] (got {spawn_scale}): it scales the cube/target randomization"
            )
        self.spawn_scale = spawn_scale
        self.world: HandoverWorld | None = None

    def reset(self, rng: np.random.Generator) -> HandoverWorld:
        """A new episode: arms at rest, the cube on the left half, the target on the right half."""
        s = self.spawn_scale
        cube_xy = np.array([-0.45 + s * rng.uniform(-0.12, 0.12), s * rng.uniform(-0.25, 0.25)])
        target_xy = np.array([0.45 + s * rng.uniform(-0.1, 0.1), s * rng.uniform(-0.25, 0.25)])
        q = np.concatenate([home_pose("left"), home_pose("right")])
        self.world = HandoverWorld(
            q=q,
            cube_xy=cube_xy,
            cube_z=0.0,
            cube_yaw=float(s * rng.uniform(-0.6, 0.6)),
            target_xy=target_xy,
        )
        return self.world

    def step(self, action: np.ndarray, rng: np.random.Generator) -> HandoverWorld:
        world = self._require_world()
        action = np.asarray(action, dtype=float).reshape(-1)
        if action.shape != (STATE_DIM,):
            raise ValueError(f"the action must have {STATE_DIM} values (14 joint targets), got shape {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"the action holds non-finite values: {action}")
        previous_grip = world.q[[GRIPPER, JOINTS_PER_ARM + GRIPPER]].copy()
        target = np.clip(action, JOINT_LOW, JOINT_HIGH)
        delta = np.clip(target - world.q, -JOINT_SPEED, JOINT_SPEED)
        noise = rng.normal(0.0, MOTION_NOISE, size=STATE_DIM)
        noise[[GRIPPER, JOINTS_PER_ARM + GRIPPER]] = 0.0
        world.q = np.clip(world.q + delta + noise, JOINT_LOW, JOINT_HIGH)
        world.steps += 1
        for i, arm in enumerate(ARMS):
            self._update_grip(world, arm, previous_grip[i], rng)
        self._carry_cube(world)
        if world.status == "running" and world.holder is None and world.cube_z == 0.0 and world.cube_on_target():
            world.status = "success"
        return world

    def _require_world(self) -> HandoverWorld:
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        return self.world

    def _update_grip(self, world: HandoverWorld, arm: str, previous: float, rng: np.random.Generator) -> None:
        grip = world.arm_q(arm)[GRIPPER]
        if world.held_by[arm] and grip > GRIP_RELEASED:
            world.held_by[arm] = False
            if world.holder is None:
                self._drop(world, rng)
        elif not world.held_by[arm] and previous >= GRIP_CLOSED > grip and self._grasp_ok(world, arm):
            world.held_by[arm] = True
            world.grasp_offset[arm] = float(wrap_angle(world.cube_yaw - world.gripper_pose(arm)[1]))

    def _grasp_ok(self, world: HandoverWorld, arm: str) -> bool:
        """Whether a gripper closing now would hold the cube: close enough, at its height, aligned, not tilted."""
        q = world.arm_q(arm)
        xy, yaw = world.gripper_pose(arm)
        return bool(
            np.linalg.norm(xy - world.cube_xy) < GRASP_DIST
            and abs(q[LIFT] - world.cube_z) < GRASP_HEIGHT
            and yaw_error(yaw, world.cube_yaw) < GRASP_YAW
            and abs(q[PITCH]) < GRASP_TILT
            and abs(q[ROLL]) < GRASP_TILT
        )

    def _drop(self, world: HandoverWorld, rng: np.random.Generator) -> None:
        """The last holder let go: low, the cube lands in place; high, it bounces off the table."""
        if world.cube_z > SAFE_DROP_HEIGHT:
            world.status = "dropped"
            direction = rng.normal(size=2)
            world.cube_xy = world.cube_xy + 0.6 * direction / (np.linalg.norm(direction) + 1e-9)
            world.cube_yaw = float(rng.uniform(-np.pi, np.pi))
        world.cube_z = 0.0

    def _carry_cube(self, world: HandoverWorld) -> None:
        arm = world.holder
        if arm is None:
            return
        xy, yaw = world.gripper_pose(arm)
        world.cube_xy = xy
        world.cube_z = float(world.arm_q(arm)[LIFT])
        world.cube_yaw = float(wrap_angle(yaw + world.grasp_offset[arm]))


# ----------------------------------------------------------------------------------------------------------------
# Rendering (numpy only): each primitive is a mask over a precomputed pixel grid.

_COLORS = {
    "floor": np.array([60, 60, 66]),
    "table": np.array([200, 196, 188]),
    "target": np.array([60, 170, 80]),
    "left": np.array([50, 90, 220]),
    "right": np.array([220, 60, 50]),
    "cube": np.array([240, 190, 30]),
    "ground": np.array([120, 100, 80]),
}


class Renderer:
    """Draws the world from the ``top`` (x-y) or ``side`` (x-height) camera into uint8 HxWx3 images.

    Each primitive is a mask computed only over the pixels of its bounding box, which keeps a 64x64 frame well
    under a millisecond.
    """

    # Both views span x in [-1.1, 1.1]; the top view spans y in [-0.62, 0.62] (y up: the table fills the frame,
    # so pixels are taller than wide), the side view spans height in [-0.1, 0.7] (up).
    X_RANGE = (-1.1, 1.1)
    V_RANGE = {"top": (-0.62, 0.62), "side": (-0.1, 0.7)}

    def __init__(self, size: int):
        if size < 16:
            raise ValueError(f"image size must be at least 16 pixels (got {size})")
        self.size = size
        self.centers = (np.arange(size) + 0.5) / size
        self.px = (self.X_RANGE[1] - self.X_RANGE[0]) / size

    def render(self, world: HandoverWorld, camera: str) -> np.ndarray:
        if camera == "top":
            return self._top(world)
        if camera == "side":
            return self._side(world)
        raise ValueError(f"unknown camera {camera!r}: choose from {CAMERAS}")

    # -- canvas helpers ------------------------------------------------------------------------------------------

    def _canvas(self, view: str, color: np.ndarray) -> _Canvas:
        return _Canvas(self, view, color)

    def _top(self, world: HandoverWorld) -> np.ndarray:
        canvas = self._canvas("top", _COLORS["floor"])
        canvas.rect(np.zeros(2), TABLE_HALF, _COLORS["table"])
        canvas.rect(world.target_xy, np.full(2, TARGET_SIZE / 2), _COLORS["target"])
        if world.holder is None:  # a free cube lies under the arms
            canvas.square(world.cube_xy, world.cube_yaw, CUBE_SIZE, _COLORS["cube"])
        width = max(0.035, 1.2 * self.px)
        for arm in ARMS:
            q = world.arm_q(arm)
            shade = 0.7 + 0.5 * q[LIFT]  # higher arms look brighter: the top camera's only depth cue
            canvas.polyline(link_points(arm, q), width, np.clip(_COLORS[arm] * shade, 0, 255))
            # The gripper: a bar across the approach direction whose length shows its opening.
            xy, yaw = world.gripper_pose(arm)
            normal = np.array([-np.sin(yaw), np.cos(yaw)])
            half = 0.02 + 0.04 * q[GRIPPER]
            tilt = min(1.0, (abs(q[PITCH]) + abs(q[ROLL])) / 0.5)  # a tilted wrist shows as a paler bar
            color = np.array([30, 30, 30]) * (1 - tilt) + np.array([250, 250, 250]) * tilt
            canvas.segment(xy - half * normal, xy + half * normal, max(0.02, 0.8 * self.px), color)
        if world.holder is not None:  # a held cube is above the gripper
            color = np.clip(_COLORS["cube"] * (0.8 + 0.6 * world.cube_z), 0, 255)
            canvas.square(world.cube_xy, world.cube_yaw, CUBE_SIZE, color)
        return canvas.image()

    def _side(self, world: HandoverWorld) -> np.ndarray:
        canvas = self._canvas("side", np.array([170, 190, 210]))
        canvas.rect(np.array([0.0, -0.5]), np.array([2.0, 0.5]), _COLORS["ground"])
        canvas.rect(np.array([world.target_xy[0], -0.02]), np.array([TARGET_SIZE / 2, 0.02]), _COLORS["target"])
        width = max(0.03, 1.2 * self.px)
        for arm in ARMS:
            q = world.arm_q(arm)
            xy, _ = world.gripper_pose(arm)
            base_x = BASES[arm][0]
            top = np.array([base_x, 0.55])
            canvas.segment(np.array([base_x, 0.0]), top, width, _COLORS[arm])
            canvas.segment(top, np.array([xy[0], 0.55]), width, _COLORS[arm])
            canvas.segment(np.array([xy[0], 0.55]), np.array([xy[0], q[LIFT] + 0.06]), 0.7 * width, _COLORS[arm] * 0.8)
            half = 0.02 + 0.04 * q[GRIPPER]
            canvas.rect(np.array([xy[0], q[LIFT] + 0.05]), np.array([half, 0.012]), np.array([30, 30, 30]))
        center = np.array([world.cube_xy[0], world.cube_z + CUBE_SIZE / 2])
        canvas.rect(center, np.full(2, CUBE_SIZE / 2), _COLORS["cube"])
        return canvas.image()


class _Canvas:
    """A float image plus world<->pixel mapping for one view; primitives paint inside their bounding boxes."""

    def __init__(self, renderer: Renderer, view: str, color: np.ndarray):
        self.size = renderer.size
        self.x0, x1 = Renderer.X_RANGE
        self.v0, self.v1 = Renderer.V_RANGE[view]
        self.sx = (x1 - self.x0) / self.size
        self.sv = (self.v1 - self.v0) / self.size
        self.centers = renderer.centers
        self.img = np.empty((self.size, self.size, 3), dtype=np.float32)
        self.img[:] = color

    def _box(self, lo: np.ndarray, hi: np.ndarray):
        """Pixel slices covering world box [lo, hi] and the world coordinates of those pixels (or None)."""
        c0 = max(0, int(np.floor((lo[0] - self.x0) / self.sx)))
        c1 = min(self.size, int(np.ceil((hi[0] - self.x0) / self.sx)) + 1)
        r0 = max(0, int(np.floor((self.v1 - hi[1]) / self.sv)))
        r1 = min(self.size, int(np.ceil((self.v1 - lo[1]) / self.sv)) + 1)
        if c0 >= c1 or r0 >= r1:
            return None
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * self.sx
        vs = self.v1 - (np.arange(r0, r1) + 0.5) * self.sv
        return (slice(r0, r1), slice(c0, c1)), xs[None, :], vs[:, None]

    def _paint(self, box, mask: np.ndarray, color: np.ndarray) -> None:
        self.img[box][mask] = color

    def rect(self, center: np.ndarray, half: np.ndarray, color: np.ndarray) -> None:
        found = self._box(center - half, center + half)
        if found is None:
            return
        box, x, v = found
        self._paint(box, (np.abs(x - center[0]) < half[0]) & (np.abs(v - center[1]) < half[1]), color)

    def square(self, center: np.ndarray, yaw: float, size: float, color: np.ndarray) -> None:
        found = self._box(center - size, center + size)
        if found is None:
            return
        box, x, v = found
        c, s = np.cos(yaw), np.sin(yaw)
        dx, dv = x - center[0], v - center[1]
        self._paint(box, (np.abs(c * dx + s * dv) < size / 2) & (np.abs(-s * dx + c * dv) < size / 2), color)

    def segment(self, a: np.ndarray, b: np.ndarray, width: float, color: np.ndarray) -> None:
        found = self._box(np.minimum(a, b) - width, np.maximum(a, b) + width)
        if found is None:
            return
        box, x, v = found
        ab = b - a
        t = np.clip(((x - a[0]) * ab[0] + (v - a[1]) * ab[1]) / (float(ab @ ab) + 1e-12), 0.0, 1.0)
        dx = x - (a[0] + t * ab[0])
        dv = v - (a[1] + t * ab[1])
        self._paint(box, dx * dx + dv * dv < (width / 2) ** 2, color)

    def polyline(self, points: np.ndarray, width: float, color: np.ndarray) -> None:
        """Consecutive segments through ``points`` (n, 2), drawn in one vectorized pass over their bounding box."""
        found = self._box(points.min(axis=0) - width, points.max(axis=0) + width)
        if found is None:
            return
        box, x, v = found
        a, ab = points[:-1], np.diff(points, axis=0)
        ax, ay, bx, by = (arr[:, None, None] for arr in (a[:, 0], a[:, 1], ab[:, 0], ab[:, 1]))
        denom = bx * bx + by * by + 1e-12
        t = np.clip(((x - ax) * bx + (v - ay) * by) / denom, 0.0, 1.0)
        dx = x - (ax + t * bx)
        dv = v - (ay + t * by)
        self._paint(box, (dx * dx + dv * dv < (width / 2) ** 2).any(axis=0), color)

    def image(self) -> np.ndarray:
        return self.img.astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------


class RecapHandoverGymEnv(gym.Env):
    """The hand-over task as a gymnasium env in LeRobot's observation layout (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        cameras: Sequence[str] = ("top",),
        image_size: int = 64,
        episode_length: int = 100,
        spawn_scale: float = 1.0,
        task_description: str = TASK_DESCRIPTION,
        render_mode: str | None = "rgb_array",
        render_size: int = 192,
    ):
        cameras = tuple(cameras)
        if not cameras:
            raise ValueError(f"at least one camera is needed: choose from {CAMERAS}")
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}: choose from {CAMERAS}")
        if episode_length < 1:
            raise ValueError(f"episode_length must be positive (got {episode_length})")
        self.cameras = cameras
        self.image_size = image_size
        self.render_mode = render_mode
        self.task = task_description
        self.task_description = task_description
        # lerobot-eval reads the step budget through env.call("_max_episode_steps"); the env truncates itself
        # (no TimeLimit wrapper) so that attribute lookups through vector envs reach this class directly.
        self._max_episode_steps = episode_length
        self.sim = HandoverSim(spawn_scale=spawn_scale)
        self.renderer = Renderer(image_size)
        self.video_renderer = Renderer(render_size)
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Dict(
                    {cam: spaces.Box(0, 255, (image_size, image_size, 3), dtype=np.uint8) for cam in cameras}
                ),
                "agent_pos": spaces.Box(-np.inf, np.inf, (STATE_DIM,), dtype=np.float32),
            }
        )
        self.action_space = spaces.Box(JOINT_LOW.astype(np.float32), JOINT_HIGH.astype(np.float32), dtype=np.float32)

    @property
    def world(self) -> HandoverWorld:
        return self.sim._require_world()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.sim.reset(self.np_random)
        self._milestones = 0
        return self._observation(), self._info()

    def step(self, action):
        world = self.sim.step(action, self.np_random)
        terminated = world.status != "running"
        truncated = not terminated and world.steps >= self._max_episode_steps
        reached = max(self._milestones, milestones_reached(world))
        reward = (reached - self._milestones) / N_MILESTONES
        self._milestones = reached
        return self._observation(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray:
        return self.video_renderer.render(self.world, "top")

    def _observation(self) -> dict:
        world = self.world
        return {
            "pixels": {cam: self.renderer.render(world, cam) for cam in self.cameras},
            "agent_pos": world.q.astype(np.float32),
        }

    def _info(self) -> dict:
        status = self.world.status
        return {
            "is_success": status == "success",
            "dropped": status == "dropped",
            "progress": self._milestones / N_MILESTONES,
        }


N_MILESTONES = 4
"""Sub-tasks of the hand-over: left arm holds the cube, right arm holds it, right arm alone holds it, placed."""


def milestones_reached(world: HandoverWorld) -> int:
    """How far the hand-over has got in this state (0 to N_MILESTONES); the env's reward counts new ones."""
    if world.status == "success":
        return 4
    left, right = world.held_by["left"], world.held_by["right"]
    if right and not left:
        return 3
    if right:
        return 2
    return 1 if left else 0


def register_gym_env() -> None:
    """Register ``GYM_ID`` with gymnasium (idempotent). No TimeLimit/order wrappers: see ``_max_episode_steps``."""
    if GYM_ID not in gym.registry:
        gym.register(
            id=GYM_ID,
            entry_point="lerobot_recap.envs.handover:RecapHandoverGymEnv",
            order_enforce=False,
            disable_env_checker=True,
        )


register_gym_env()
