"""Load any LeRobot policy checkpoint with its saved processors and run it on raw robot observations.

The path LeRobot 0.6.1 takes to run a policy on a robot (``make_policy`` + ``make_pre_post_processors`` from the
pretrained directory + ``lerobot.common.control_utils.predict_action``: observation to tensors with the task and
robot type, pre-processor, ``select_action``, post-processor), driven from a teleop. For ``pi06_recap`` the
pre-processor writes pi0.5's prompt (task and binned state) into ``task`` and the policy adds the advantage clause.
Torch and the policy code load here, lazily.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class _FeatureSource:
    """What ``make_policy`` reads from a dataset's metadata, built from the robot's features (no dataset needed)."""

    features: dict[str, dict]
    stats: dict | None = None
    robot_type: str | None = None


class PolicyRunner:
    """A policy checkpoint, its processors, and the robot's observation/action layout."""

    def __init__(
        self,
        policy_path: str,
        device: str,
        observation_features: dict[str, Any],
        action_names: list[str],
        robot_type: str,
        use_video: bool = True,
    ) -> None:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import make_policy, make_pre_post_processors
        from lerobot.utils.device_utils import get_safe_torch_device
        from lerobot.utils.feature_utils import hw_to_dataset_features

        path = Path(policy_path).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"--teleop.policy_path={policy_path} is not a policy checkpoint directory (no config.json): give the "
                "pretrained_model folder of a lerobot-train checkpoint"
            )
        try:
            self.torch_device = get_safe_torch_device(device)
        except ValueError as err:
            raise ValueError(f"--teleop.device={device}: {err} Use --teleop.device=cpu or a device this machine has") from err
        config = PreTrainedConfig.from_pretrained(path)
        config.pretrained_path = path
        config.device = device
        saved = config.output_features.get("action") if config.output_features else None
        if saved is not None and tuple(saved.shape) != (len(action_names),):
            raise ValueError(
                f"the policy at {policy_path} outputs actions of shape {tuple(saved.shape)} but the robot takes "
                f"{len(action_names)} values ({action_names[:6]}...): record with the robot the policy was trained on"
            )
        self.observation_dataset_features = hw_to_dataset_features(observation_features, "observation", use_video)
        _check_inputs(policy_path, config.input_features or {}, self.observation_dataset_features)
        action_features = hw_to_dataset_features({name: float for name in action_names}, "action", use_video)
        source = _FeatureSource(features={**action_features, **self.observation_dataset_features}, robot_type=robot_type)
        self.policy = make_policy(config, ds_meta=source)
        self.policy.eval()
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            config,
            pretrained_path=str(path),
            preprocessor_overrides={"device_processor": {"device": device}},
        )
        self.action_names = list(action_names)
        self.robot_type = robot_type
        self.device = device
        logger.info("recap_dagger: loaded policy %s (%s) on %s", path, config.type, device)

    def reset(self) -> None:
        """Flush the action queue and any processor state (on every hand-back to the policy)."""
        self.policy.reset()
        self.preprocessor.reset()
        self.postprocessor.reset()

    def act(self, observation: dict[str, Any], task: str) -> dict[str, float]:
        from lerobot.common.control_utils import predict_action
        from lerobot.utils.feature_utils import build_dataset_frame

        frame = build_dataset_frame(self.observation_dataset_features, observation, prefix="observation")
        action = predict_action(
            observation=frame,
            policy=self.policy,
            device=self.torch_device,
            preprocessor=self.preprocessor,
            postprocessor=self.postprocessor,
            use_amp=bool(getattr(self.policy.config, "use_amp", False)),
            task=task,
            robot_type=self.robot_type,
        )
        values = action.squeeze(0).detach().to("cpu").float().numpy()
        if values.shape != (len(self.action_names),):
            raise ValueError(f"policy returned an action of shape {values.shape}, expected ({len(self.action_names)},)")
        return {name: float(v) for name, v in zip(self.action_names, values, strict=True)}


def _check_inputs(policy_path: str, inputs: dict[str, Any], robot_features: dict[str, dict]) -> None:
    """The robot must give what the policy reads (said at connect, not at the first autonomous tick).

    Non-image inputs (the state) must be there in the same shape. Cameras are matched by name as
    ``lerobot-rollout`` matches them: the policy's cameras within the robot's, or the robot's within the policy's.
    """
    problems = []
    policy_cameras = {key for key, feature in inputs.items() if len(feature.shape) == 3}
    robot_cameras = {key for key, feature in robot_features.items() if feature["dtype"] in ("image", "video")}
    if policy_cameras and not (policy_cameras <= robot_cameras or robot_cameras <= policy_cameras):
        problems.append(f"it reads the cameras {sorted(policy_cameras)}, the robot has {sorted(robot_cameras)}")
    for key, feature in inputs.items():
        if key in policy_cameras:
            continue
        provided = robot_features.get(key)
        if provided is None:
            problems.append(f"it reads {key}, which the robot does not give")
        elif tuple(provided["shape"]) != tuple(feature.shape):
            problems.append(f"it reads {key} of shape {tuple(feature.shape)}, the robot gives {tuple(provided['shape'])}")
    if problems:
        raise ValueError(
            f"the policy at {policy_path} does not fit this robot: {'; '.join(problems)}. Record with the robot "
            "(and camera names) the policy was trained on"
        )
