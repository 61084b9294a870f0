"""Pre/post-processors of ``recap_remote``: batch and device only; normalization happens on the server."""

from __future__ import annotations

from typing import Any

from lerobot.processor import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    PolicyAction,
    PolicyProcessorPipeline,
    RenameObservationsProcessorStep,
)
from lerobot.processor.factory import make_policy_processor_pipelines

from lerobot_recap.serving.recap_remote.configuration_recap_remote import (
    RecapRemoteConfig,
)


def make_recap_remote_pre_post_processors(
    config: RecapRemoteConfig, dataset_stats: dict[str, dict[str, Any]] | None = None
) -> tuple[PolicyProcessorPipeline[dict[str, Any], dict[str, Any]], PolicyProcessorPipeline[PolicyAction, PolicyAction]]:
    """LeRobot's rename / batch / device steps (their usual names, so LeRobot's overrides apply) and no normalizer.

    The server runs the checkpoint's own pre- and post-processors on raw observations and returns raw actions;
    ``dataset_stats`` is accepted for LeRobot's factory and not used.
    """
    return make_policy_processor_pipelines(
        input_steps=[
            RenameObservationsProcessorStep(rename_map={}),
            AddBatchDimensionProcessorStep(),
            DeviceProcessorStep(device=config.device or "cpu"),
        ],
        output_steps=[DeviceProcessorStep(device="cpu")],
    )
