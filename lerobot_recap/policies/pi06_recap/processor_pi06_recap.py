"""Processors of ``pi06_recap``: LeRobot's pi0.5 pre/post-processing, minus the tokenizer.

The pre-processor is pi05's: rename, batch, relative actions (``--policy.use_relative_actions``), normalize, then
LeRobot's ``Pi05PrepareStateTokenizerProcessorStep`` renders ``Task: <task>, State: <256 bins>;\\nAction: `` into
``task``, then the device. pi05 tokenizes that prompt in the processor; here the policy does it, because the
advantage clause goes inside the prompt and comes from each frame's ``adv_ind``, which stock ``lerobot-train``
drops before any processor runs (the policy reads it by the frame's ``index``), and because in training the clause
is dropped at random. The post-processor is pi05's: unnormalize, back to absolute actions, to CPU.

:class:`Pi06RecapPromptStep` is the prompt step of lerobot-recap 0.1 (state padded to ``max_state_dim`` and
clipped before binning, no ``;\\nAction:`` marker). It stays registered so that 0.1 checkpoints, whose
``policy_preprocessor.json`` names it, keep the prompts they were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from lerobot.configs.types import NormalizationMode, PipelineFeatureType, PolicyFeature
from lerobot.lerobot_types import EnvTransition, TransitionKey
from lerobot.policies.pi05.processor_pi05 import Pi05PrepareStateTokenizerProcessorStep
from lerobot.processor import (
    AbsoluteActionsProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
    ProcessorStep,
    ProcessorStepRegistry,
    RelativeActionsProcessorStep,
    make_default_policy_processor_steps,
    make_policy_processor_pipelines,
)
from lerobot.utils.constants import OBS_STATE

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig

STATE_BINS = 256


def discretize_state(state: np.ndarray) -> np.ndarray:
    """Normalised state in [-1, 1] -> integer bins 0..255 (values outside land in the first/last bin)."""
    edges = np.linspace(-1.0, 1.0, STATE_BINS + 1)[:-1]
    return np.clip(np.digitize(state, bins=edges) - 1, 0, STATE_BINS - 1)


def render_task_and_state(task: str, state_bins: np.ndarray) -> str:
    """The 0.1 prompt head: ``Task: <task>, State: <bins>`` (task cleaned of ``_`` and newlines, as pi0.5)."""
    cleaned = task.strip().replace("_", " ").replace("\n", " ")
    return f"Task: {cleaned}, State: {' '.join(str(int(b)) for b in state_bins)}"


@ProcessorStepRegistry.register(name="pi06_recap_prompt_state")
@dataclass
class Pi06RecapPromptStep(ProcessorStep):
    """lerobot-recap 0.1's prompt step: pad the normalised state to ``max_state_dim``, bin it, write the head."""

    max_state_dim: int = 32
    task_key: str = "task"

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        transition = transition.copy()
        observation = transition.get(TransitionKey.OBSERVATION) or {}
        state = observation.get(OBS_STATE)
        if state is None:
            raise ValueError(f"pi06_recap puts the state into the prompt, but the batch has no {OBS_STATE!r}")
        complementary = dict(transition.get(TransitionKey.COMPLEMENTARY_DATA) or {})
        tasks = complementary.get(self.task_key)
        if tasks is None:
            raise ValueError(f"pi06_recap needs a task string in complementary data {self.task_key!r}")
        state = torch.as_tensor(state).detach().float().cpu()
        if state.dim() == 1:
            state = state[None]
        if state.shape[-1] > self.max_state_dim:
            raise ValueError(f"state has {state.shape[-1]} dims > max_state_dim={self.max_state_dim}")
        padded = torch.nn.functional.pad(state, (0, self.max_state_dim - state.shape[-1])).numpy()
        if isinstance(tasks, str):
            tasks = [tasks] * padded.shape[0]
        bins = discretize_state(padded)
        complementary[self.task_key] = [render_task_and_state(t, b) for t, b in zip(tasks, bins, strict=True)]
        transition[TransitionKey.COMPLEMENTARY_DATA] = complementary
        return transition

    def get_config(self) -> dict[str, Any]:
        return {"max_state_dim": self.max_state_dim, "task_key": self.task_key}

    def transform_features(
        self, features: dict[PipelineFeatureType, dict[str, PolicyFeature]]
    ) -> dict[PipelineFeatureType, dict[str, PolicyFeature]]:
        return features


def prompt_heads(tasks: list[str], normalized_state: torch.Tensor) -> list[str]:
    """What the pre-processor writes into ``task`` for these tasks and (normalized) states: pi0.5's prompts."""
    transition = {
        TransitionKey.OBSERVATION: {OBS_STATE: normalized_state},
        TransitionKey.COMPLEMENTARY_DATA: {"task": list(tasks)},
    }
    return Pi05PrepareStateTokenizerProcessorStep()(transition)[TransitionKey.COMPLEMENTARY_DATA]["task"]


def check_quantile_stats(config: PI06RecapConfig, dataset_stats: dict | None) -> None:
    """Quantile normalisation needs q01/q99; say how to get them instead of failing deep inside the normaliser."""
    if not dataset_stats:
        return
    features = {**config.input_features, **config.output_features}
    for key, feature in features.items():
        mode = config.normalization_mapping.get(feature.type.value)
        if mode != NormalizationMode.QUANTILES or key not in dataset_stats:
            continue
        missing = [q for q in ("q01", "q99") if q not in dataset_stats[key]]
        if missing:
            raise ValueError(
                f"{key} is normalised with QUANTILES but the dataset stats lack {missing}. Recompute the stats "
                "(python -m lerobot.scripts.augment_dataset_quantile_stats) or pass "
                "--policy.normalization_mapping='{\"VISUAL\": \"IDENTITY\", \"STATE\": \"MEAN_STD\", "
                "\"ACTION\": \"MEAN_STD\"}'"
            )


def make_pi06_recap_pre_post_processors(
    config: PI06RecapConfig,
    dataset_stats: dict[str, dict[str, torch.Tensor]] | None = None,
) -> tuple[
    PolicyProcessorPipeline[dict[str, Any], dict[str, Any]],
    PolicyProcessorPipeline[PolicyAction, PolicyAction],
]:
    """pi05's pipelines without its tokenizer step (the policy tokenizes, see the module docstring)."""
    check_quantile_stats(config, dataset_stats)
    steps = make_default_policy_processor_steps(config, dataset_stats)
    relative = RelativeActionsProcessorStep(
        enabled=config.use_relative_actions,
        exclude_joints=config.relative_exclude_joints,
        action_names=config.action_feature_names,
    )
    input_steps: list[ProcessorStep] = [
        steps.rename_observations,
        steps.add_batch_dim,
        relative,
        # The state bins of the prompt assume a state already normalized to [-1, 1].
        steps.normalize,
        Pi05PrepareStateTokenizerProcessorStep(max_state_dim=config.max_state_dim),
        steps.to_device,
    ]
    output_steps: list[ProcessorStep] = [
        steps.unnormalize,
        AbsoluteActionsProcessorStep(enabled=config.use_relative_actions, relative_step=relative),
        steps.to_cpu,
    ]
    return make_policy_processor_pipelines(input_steps=input_steps, output_steps=output_steps)
