"""A trained ``recap_value`` model over every frame of a dataset: V(o_t) in dataset order (RECAP stage 5's model pass).

:func:`resolve_value_checkpoint` finds the ``pretrained_model`` directory of a checkpoint, a ``lerobot-train``
output directory or a Hub id; :func:`load_value_config` and :func:`check_value_model_fits` refuse a checkpoint that
is not a ``recap_value`` model or does not fit the dataset (another reward convention, a camera the dataset
lacks). :func:`predict_values` runs the model over the dataset in batches, with DataLoader workers decoding frames
in parallel. Under any ``torch.distributed`` launcher (``torchrun``, ``accelerate launch``) accelerate's
``Accelerator`` shards the frames across the processes and gathers the values on the main one;
:func:`align_to_dataset_order` puts the gathered ``(index, value)`` pairs back in dataset order.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lerobot_recap.data.dataset_io import DatasetError
from lerobot_recap.data.metadata import RecapMetadata
from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

if TYPE_CHECKING:
    from lerobot.datasets.utils import DatasetInfo

logger = logging.getLogger(__name__)


@dataclass
class InferenceStats:
    """How the value-model pass went."""

    frames: int = 0
    seconds: float = 0.0
    data_wait_seconds: float = 0.0
    processes: int = 1

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def data_wait_fraction(self) -> float:
        return self.data_wait_seconds / self.seconds if self.seconds > 0 else float("nan")


def resolve_value_checkpoint(value_path: str) -> Path:
    """A local ``pretrained_model`` directory for a checkpoint dir, a training output dir or a Hub id."""
    path = Path(value_path).expanduser()
    if path.is_dir():
        for candidate in (path, path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"):
            if (candidate / "config.json").exists():
                return candidate
        raise DatasetError(
            f"{path} holds no value checkpoint (config.json): pass a pretrained_model directory or a lerobot-train "
            "output directory"
        )
    if path.exists() or value_path.startswith((".", "/", "~")):
        raise DatasetError(f"value checkpoint {value_path} does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=value_path, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as err:  # noqa: BLE001  (offline, missing repo, ...): report what was asked
        raise DatasetError(f"cannot fetch the value checkpoint {value_path!r} from the Hub: {err}") from err


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    """The sha256 of a file (the value model's weights, recorded in the labels' provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_value_config(checkpoint: Path) -> RecapValueConfig:
    """The checkpoint's config; raises unless it is a ``recap_value`` model."""
    from lerobot.configs.policies import PreTrainedConfig

    from lerobot_recap.policies.legacy_checkpoints import check_not_legacy

    try:
        check_not_legacy(checkpoint)
    except ValueError as err:
        raise DatasetError(str(err)) from None
    try:
        config = PreTrainedConfig.from_pretrained(checkpoint)
    except Exception as err:  # noqa: BLE001
        raise DatasetError(f"{checkpoint} is not a loadable policy checkpoint: {err}") from err
    if not isinstance(config, RecapValueConfig):
        raise DatasetError(f"{checkpoint} is a {config.type!r} checkpoint, not a recap_value model")
    return config


def check_value_model_fits(config: RecapValueConfig, recap_meta: RecapMetadata, info: DatasetInfo) -> None:
    """The dataset must follow the checkpoint's convention and constants and have its cameras."""
    from lerobot_recap.policies.recap_value.modeling_recap_value import check_and_record_contract

    try:
        check_and_record_contract(config, recap_meta, record=False)
    except ValueError as err:
        raise DatasetError(str(err)) from err
    cameras = sorted(k for k, ft in info.features.items() if ft["dtype"] in ("image", "video"))
    missing = [key for key in config.camera_keys if key not in cameras]
    if missing:
        raise DatasetError(
            f"the value model reads the camera(s) {missing} that the dataset lacks (it has {cameras}): label a "
            "dataset recorded with the same cameras, or train a value model on these"
        )
    unseen = [c.task for c in recap_meta.tasks.values() if c.task not in config.task_norm_length]
    if unseen:
        logger.warning("the value model never trained on the task(s) %s: their values are extrapolated", unseen)


def predict_values(
    checkpoint: Path,
    config: RecapValueConfig,
    root: Path,
    repo_id: str,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str | None = None,
    video_backend: str | None = None,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray] | None, InferenceStats]:
    """V for every frame of the dataset at ``root``.

    Returns ``{"index", "value"}`` (in the order the processes delivered them) on the main process, None on the
    others, and the timing of the pass. ``device`` defaults to cuda when available; under a distributed launcher
    each process takes its own GPU.
    """
    import torch
    from accelerate import Accelerator
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    from lerobot_recap.policies.recap_value.modeling_recap_value import RecapValuePolicy
    from lerobot_recap.policies.recap_value.processor_recap_value import make_recap_value_pre_post_processors

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    accelerator = Accelerator(cpu=device == "cpu")
    if device.startswith("cuda"):
        device = str(accelerator.device)  # this process's GPU under a distributed launcher
    config.device = device
    config.pretrained_path = checkpoint
    policy = RecapValuePolicy.from_pretrained(checkpoint, config=config)
    policy.eval()
    preprocessor, _ = make_recap_value_pre_post_processors(config)

    dataset = LeRobotDataset(repo_id, root=root, video_backend=video_backend)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.startswith("cuda"),
        persistent_workers=False,
    )
    if accelerator.num_processes > 1:
        loader = accelerator.prepare_data_loader(loader, device_placement=False)

    indices, values = [], []
    stats = InferenceStats(processes=accelerator.num_processes)
    start = time.perf_counter()
    wait_start = start
    with torch.inference_mode():
        for batch in tqdm(loader, desc="value model", disable=not (progress and accelerator.is_main_process)):
            stats.data_wait_seconds += time.perf_counter() - wait_start
            index = batch["index"].reshape(-1)
            value = policy.predict_value(preprocessor(batch)).float()
            if accelerator.num_processes > 1:
                index, value = accelerator.gather_for_metrics((index.to(accelerator.device), value.to(accelerator.device)))
            indices.append(index.cpu().numpy())
            values.append(value.cpu().numpy())
            wait_start = time.perf_counter()
    stats.seconds = time.perf_counter() - start
    stats.frames = int(sum(v.size for v in values))
    if not accelerator.is_main_process:
        return None, stats
    return {"index": np.concatenate(indices), "value": np.concatenate(values)}, stats


def align_to_dataset_order(frame_index: np.ndarray, predicted: dict[str, np.ndarray]) -> np.ndarray:
    """Values in dataset order from (index, value) pairs in any order; raises if a frame got no value."""
    size = int(max(frame_index.max(), predicted["index"].max())) + 1
    dense = np.full(size, np.nan, dtype=np.float64)
    dense[predicted["index"].astype(np.int64)] = predicted["value"]
    values = dense[frame_index.astype(np.int64)]
    if np.isnan(values).any():
        raise RuntimeError(f"{int(np.isnan(values).sum())} frames got no value from the model pass")
    return values


def value_model_provenance(value_path: str, checkpoint: Path, config: RecapValueConfig) -> dict[str, Any]:
    """What identifies the value model in the labels' provenance: where it came from, its weights' hash, its split."""
    weights = checkpoint / "model.safetensors"
    return {
        "path": str(value_path),
        "resolved": str(checkpoint),
        "sha256": file_sha256(weights) if weights.exists() else None,
        "convention_version": config.convention_version,
        "held_out_episodes": list(config.val_episodes or []),
    }
