"""Processors of ``pi06_recap``: pi0.5's normalisation and state-in-prompt, leaving the indicator to the policy.

The pre-processor normalises (quantiles by default), then :class:`Pi06RecapPromptStep` renders
``Task: <task>, State: <256-bin digits>`` into the ``task`` entry. The policy completes the prompt with the
advantage clause and ``;\\nAction: `` and tokenizes it (see ``modeling_pi06_recap.build_prompt``): the indicator
comes from the frame's ``adv_ind``, which stock ``lerobot-train`` drops before any processor runs, so only the
policy (which reads it by ``index``) can place it. The step is registered, hence saved in
``policy_preprocessor.json`` and rebuilt by ``--policy.path`` in eval/record/resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from lerobot.configs.types import NormalizationMode, PipelineFeatureType, PolicyFeature
from lerobot.processor import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    NormalizerProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
    ProcessorStep,
    ProcessorStepRegistry,
    RenameObservationsProcessorStep,
    UnnormalizerProcessorStep,
)
from lerobot.processor.converters import policy_action_to_transition, transition_to_policy_action
from lerobot.lerobot_types import EnvTransition, TransitionKey
from lerobot.utils.constants import OBS_STATE, POLICY_POSTPROCESSOR_DEFAULT_NAME, POLICY_PREPROCESSOR_DEFAULT_NAME

from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import PI06RecapConfig

STATE_BINS = 256


def discretize_state(state: np.ndarray) -> np.ndarray:
    """Normalised state in [-1, 1] -> integer bins 0..255 (values outside land in the first/last bin)."""
    edges = np.linspace(-1.0, 1.0, STATE_BINS + 1)[:-1]
    return np.clip(np.digitize(state, bins=edges) - 1, 0, STATE_BINS - 1)


def render_task_and_state(task: str, state_bins: np.ndarray) -> str:
    """The prompt head: ``Task: <task>, State: <bins>`` (pi0.5's wording, task cleaned of ``_`` and newlines)."""
    cleaned = task.strip().replace("_", " ").replace("\n", " ")
    return f"Task: {cleaned}, State: {' '.join(str(int(b)) for b in state_bins)}"


@ProcessorStepRegistry.register(name="pi06_recap_prompt_state")
@dataclass
class Pi06RecapPromptStep(ProcessorStep):
    """Pads the normalised state to ``max_state_dim``, discretises it and writes the prompt head into ``task``."""

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
            raise ValueError(
                f"pi06_recap needs a task string in complementary data {self.task_key!r} (datasets carry one per "
                "frame; envs without one get '' from lerobot-eval)"
            )
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


def _check_quantile_stats(config: PI06RecapConfig, dataset_stats: dict | None) -> None:
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
    """Pre: rename, batch, normalise, prompt head, device. Post: unnormalise, to CPU."""
    _check_quantile_stats(config, dataset_stats)
    features = {**config.input_features, **config.output_features}
    input_steps = [
        RenameObservationsProcessorStep(rename_map={}),
        AddBatchDimensionProcessorStep(),
        # Normalise before the prompt step: the state bins assume a state normalised to [-1, 1].
        NormalizerProcessorStep(
            features=features, norm_map=config.normalization_mapping, stats=dataset_stats
        ),
        Pi06RecapPromptStep(max_state_dim=config.max_state_dim),
        DeviceProcessorStep(device=config.device),
    ]
    output_steps = [
        UnnormalizerProcessorStep(
            features=config.output_features, norm_map=config.normalization_mapping, stats=dataset_stats
        ),
        DeviceProcessorStep(device="cpu"),
    ]
    return (
        PolicyProcessorPipeline[dict[str, Any], dict[str, Any]](
            steps=input_steps, name=POLICY_PREPROCESSOR_DEFAULT_NAME
        ),
        PolicyProcessorPipeline[PolicyAction, PolicyAction](
            steps=output_steps,
            name=POLICY_POSTPROCESSOR_DEFAULT_NAME,
            to_transition=policy_action_to_transition,
            to_output=transition_to_policy_action,
        ),
    )
