"""Processors of ``recap_value``: rename, batch, move to the device and, with ``state_token``, z-score the state.

Images stay in [0, 1] (the model applies SigLIP's normalization and resizes), the task string travels as
complementary data and is tokenized by the model (with a per-task cache), and the frame ``index`` and
``episode_index`` survive LeRobot's converters, which is how the value targets and the held-out split are found.

The pre- and post-processor always hold a ``NormalizerProcessorStep`` / ``UnnormalizerProcessorStep``, even when
they normalize nothing: stock ``lerobot-train --resume`` reloads the saved processors with overrides keyed
``normalizer_processor`` and ``unnormalizer_processor`` and refuses a pipeline without those steps. With
``state_token`` the normalizer z-scores ``observation.state`` with the training dataset's stats; they are saved
with the checkpoint's preprocessor, and a preprocessor rebuilt from a checkpoint's config (``lerobot-recap-label``)
reads them back from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lerobot.processor import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    NormalizerProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
    RenameObservationsProcessorStep,
    UnnormalizerProcessorStep,
)
from lerobot.processor.converters import policy_action_to_transition, transition_to_policy_action
from lerobot.utils.constants import OBS_STATE, POLICY_POSTPROCESSOR_DEFAULT_NAME, POLICY_PREPROCESSOR_DEFAULT_NAME

from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig


def make_recap_value_pre_post_processors(
    config: RecapValueConfig,
    dataset_stats: dict[str, dict[str, Any]] | None = None,
) -> tuple[PolicyProcessorPipeline[dict[str, Any], dict[str, Any]], PolicyProcessorPipeline[PolicyAction, PolicyAction]]:
    """The value model's pre- and post-processors.

    ``dataset_stats`` matter only with ``state_token`` (the state's mean/std). Without them, the stats come from the
    preprocessor saved in ``config.pretrained_path``; a state model with neither is refused rather than fed raw
    joint values.
    """
    state_features: dict = {}
    state_stats: dict[str, dict[str, Any]] | None = None
    if config.state_token:
        if config.state_dim is None:
            config.validate_features()  # raises, naming the missing observation.state
        state_features = {OBS_STATE: config.input_features[OBS_STATE]}
        if dataset_stats is not None and OBS_STATE in dataset_stats:
            state_stats = {OBS_STATE: dataset_stats[OBS_STATE]}
        else:
            state_stats = saved_state_stats(config.pretrained_path)
    preprocessor = PolicyProcessorPipeline[dict[str, Any], dict[str, Any]](
        steps=[
            RenameObservationsProcessorStep(rename_map={}),
            AddBatchDimensionProcessorStep(),
            DeviceProcessorStep(device=config.device),
            NormalizerProcessorStep(
                features=state_features, norm_map=config.normalization_mapping, stats=state_stats, device=config.device
            ),
        ],
        name=POLICY_PREPROCESSOR_DEFAULT_NAME,
    )
    postprocessor = PolicyProcessorPipeline[PolicyAction, PolicyAction](
        steps=[
            UnnormalizerProcessorStep(features={}, norm_map=config.normalization_mapping),
            DeviceProcessorStep(device="cpu"),
        ],
        name=POLICY_POSTPROCESSOR_DEFAULT_NAME,
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return preprocessor, postprocessor


def saved_state_stats(checkpoint: str | Path | None) -> dict[str, dict[str, Any]]:
    """The ``observation.state`` stats kept by the preprocessor saved in a value checkpoint."""
    if checkpoint is None:
        raise ValueError(
            "recap_value with state_token needs the observation.state stats: pass the dataset's stats "
            "(dataset_stats=...) or load the model from a checkpoint, whose preprocessor keeps them"
        )
    try:
        saved = PolicyProcessorPipeline.from_pretrained(
            checkpoint,
            config_filename=f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json",
            overrides={"device_processor": {"device": "cpu"}},
        )
    except (FileNotFoundError, OSError, KeyError) as err:
        raise ValueError(
            f"the value checkpoint {checkpoint} reads the state but has no loadable preprocessor with its stats "
            f"({err}): use a checkpoint written by lerobot-train (it saves {POLICY_PREPROCESSOR_DEFAULT_NAME}.json)"
        ) from err
    for step in saved.steps:
        if isinstance(step, NormalizerProcessorStep) and OBS_STATE in (step.stats or {}):
            return {OBS_STATE: {k: torch.as_tensor(v) for k, v in step.stats[OBS_STATE].items()}}
    raise ValueError(
        f"the preprocessor saved in {checkpoint} holds no {OBS_STATE} stats, but the model reads the state: the "
        "checkpoint is incomplete; retrain it with --policy.state_token=true"
    )
