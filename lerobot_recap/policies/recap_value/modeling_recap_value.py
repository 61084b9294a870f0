"""``recap_value``: a distributional VLM value function V(o_t, task) trained on ``value_label`` (RECAP stage 4).

Architecture (as in the pi*0.6 paper's ~670M value model): every configured camera goes through a SigLIP vision
tower, its patch tokens are projected into Gemma3's embedding space, the task prompt follows, Gemma3 runs over the
prefix with bidirectional attention (with ``state_token``, the normalized proprioceptive state enters as one
projected token between the images and the prompt, and its output joins the pooled vector), the masked mean of its
last hidden states feeds an MLP head of ``num_bins`` logits over atoms evenly spaced on [bin_min, bin_max] = [-1, 0].
The loss is the cross-entropy against the two-hot projection of the target (or, ``target_sigma_bins`` > 0, a
Gaussian spread over neighbouring atoms: the tiny default); the value is the expectation of the atoms under the
softmax.

Inside stock ``lerobot-train`` the target ``value_label`` would be dropped by the preprocessor, so the policy reads it
by the frame's global ``index`` (:class:`~lerobot_recap.data.frame_labels.FrameLabels`). A deterministic set of
held-out episodes (``val_fraction``, per outcome, recorded in the config) is masked out of the loss; the policy
logs running MAE, Spearman and success-vs-failure separation on them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import OBS_STATE

from lerobot_recap.data.contract import CONVENTION_VERSION, VALUE_LABEL, Outcome
from lerobot_recap.policies.recap_value.configuration_recap_value import RecapValueConfig

logger = logging.getLogger(__name__)

METRIC_BUFFER_FRAMES = 50_000
"""Most recent frames kept for the running metrics."""


# ----------------------------------------------------------------------------------------------------------------
# Distributional head math
# ----------------------------------------------------------------------------------------------------------------


def bin_centers(num_bins: int, low: float, high: float) -> Tensor:
    return torch.linspace(low, high, num_bins)


def two_hot(target: Tensor, num_bins: int, low: float, high: float) -> Tensor:
    """Split each target between its two neighbouring atoms by linear interpolation: (B,) -> (B, num_bins)."""
    target = target.float().clamp(low, high)
    position = (target - low) / (high - low) * (num_bins - 1)
    lower = position.floor().long().clamp(0, num_bins - 1)
    upper = (lower + 1).clamp(max=num_bins - 1)
    upper_weight = position - lower.float()
    probs = torch.zeros(target.shape[0], num_bins, device=target.device)
    probs.scatter_add_(1, lower.unsqueeze(1), (1.0 - upper_weight).unsqueeze(1))
    probs.scatter_add_(1, upper.unsqueeze(1), upper_weight.unsqueeze(1))
    return probs


def gaussian_target(target: Tensor, num_bins: int, low: float, high: float, sigma_bins: float) -> Tensor:
    """Spread each target as a Gaussian of std ``sigma_bins`` bins over the atoms' cells: (B,) -> (B, num_bins).

    Each atom gets the Gaussian's mass on its cell (half a bin either side); the tails beyond [low, high] go to the
    end atoms, so a target on an end atom keeps its mass there. Unlike two-hot, neighbouring atoms share the
    signal, which is what lets a head trained from scratch order 201 atoms quickly ("HL-Gauss").
    """
    target = target.float().clamp(low, high)
    width = (high - low) / (num_bins - 1)
    inner_edges = torch.linspace(low + width / 2, high - width / 2, num_bins - 1, device=target.device)
    cdf = torch.special.ndtr((inner_edges.unsqueeze(0) - target.unsqueeze(1)) / (sigma_bins * width))
    zeros = torch.zeros_like(cdf[:, :1])
    cdf = torch.cat([zeros, cdf, zeros + 1.0], dim=1)
    return cdf[:, 1:] - cdf[:, :-1]


def value_target_probs(target: Tensor, config: RecapValueConfig) -> Tensor:
    """The distribution over the atoms that the head is trained towards (two-hot or Gaussian, per the config)."""
    if config.target_sigma_bins:
        return gaussian_target(target, config.num_bins, config.bin_min, config.bin_max, config.target_sigma_bins)
    return two_hot(target, config.num_bins, config.bin_min, config.bin_max)


def expected_value(logits: Tensor, centers: Tensor) -> Tensor:
    return torch.softmax(logits.float(), dim=-1) @ centers.float()


# ----------------------------------------------------------------------------------------------------------------
# Metrics (numpy, no scipy at runtime)
# ----------------------------------------------------------------------------------------------------------------


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (what Spearman's rho needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    first_of_run = np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])
    run_id = np.cumsum(first_of_run) - 1
    run_start = np.flatnonzero(first_of_run)
    run_end = np.concatenate([run_start[1:], [values.size]])
    mean_rank = (run_start + run_end + 1) / 2.0  # ranks are 1-based
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[run_id]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (nan when either side is constant or fewer than 2 samples)."""
    if len(a) < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def value_metrics(
    predicted: np.ndarray,
    target: np.ndarray,
    episode_index: np.ndarray,
    success_episodes: set[int],
    failure_episodes: set[int],
) -> dict[str, float]:
    """MAE and Spearman against the targets; separation of success vs failure frames (mean gap and AUC).

    ``final_quarter_auc`` is the AUC over the last quarter of each episode's frames only: early frames cannot know an
    outcome that is decided later, so the all-frames AUC of even a perfect value model stays well below 1. Frames of
    an episode must be contiguous (dataset order).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    metrics = {
        "frames": float(predicted.size),
        "mae": float(np.abs(predicted - target).mean()) if predicted.size else float("nan"),
        "spearman": spearman(predicted, target),
    }
    is_success = np.isin(episode_index, list(success_episodes))
    is_failure = np.isin(episode_index, list(failure_episodes))
    if is_success.any() and is_failure.any():
        metrics["success_minus_failure"] = float(predicted[is_success].mean() - predicted[is_failure].mean())
        metrics["success_auc"] = success_auc(predicted[is_success], predicted[is_failure])
        final = final_quarter_mask(episode_index)
        metrics["final_quarter_auc"] = success_auc(predicted[is_success & final], predicted[is_failure & final])
    return metrics


def success_auc(success_values: np.ndarray, failure_values: np.ndarray) -> float:
    """Probability that a success frame's V exceeds a failure frame's (Mann-Whitney U from ranks, ties count half)."""
    n_s, n_f = len(success_values), len(failure_values)
    if n_s == 0 or n_f == 0:
        return float("nan")
    ranks = average_ranks(np.concatenate([success_values, failure_values]))
    return float((ranks[:n_s].sum() - n_s * (n_s + 1) / 2) / (n_s * n_f))


def final_quarter_mask(episode_index: np.ndarray) -> np.ndarray:
    """Frames in the last quarter of their episode (by position in the episode; episodes contiguous)."""
    episode_index = np.asarray(episode_index)
    if episode_index.size == 0:
        return np.zeros(0, dtype=bool)
    _, first, inverse, counts = np.unique(episode_index, return_index=True, return_inverse=True, return_counts=True)
    position = np.arange(episode_index.size) - first[inverse]
    return position >= 0.75 * counts[inverse]


# ----------------------------------------------------------------------------------------------------------------
# The data contract carried by the checkpoint
# ----------------------------------------------------------------------------------------------------------------


def check_and_record_contract(config: RecapValueConfig, recap_meta: Any, record: bool) -> None:
    """Refuse a dataset of another convention or other per-task constants; with ``record``, adopt its constants.

    ``recap_meta`` is the dataset's :class:`~lerobot_recap.data.metadata.RecapMetadata`.
    """
    recap_meta.check_convention(CONVENTION_VERSION)
    if config.convention_version is not None and config.convention_version != recap_meta.convention_version:
        raise ValueError(
            f"the value model was trained under RECAP convention {config.convention_version!r} but the dataset is "
            f"annotated with {recap_meta.convention_version!r}: re-annotate the dataset with the matching "
            "lerobot-recap version, or train a new value model"
        )
    for constants in recap_meta.tasks.values():
        known_l = config.task_norm_length.get(constants.task)
        known_c = config.task_c_fail.get(constants.task)
        if known_l is not None and (known_l != constants.norm_length or not math.isclose(known_c, constants.c_fail)):
            raise ValueError(
                f"task {constants.task!r}: the value model was trained with L={known_l}, C_fail={known_c} but the "
                f"dataset was annotated with L={constants.norm_length}, C_fail={constants.c_fail}; the value scales "
                f"differ. Re-annotate with `lerobot-recap-annotate --norm_length={known_l} "
                f"--c_fail_coef={known_c / known_l:g}` (or train a new value model on this dataset)"
            )
    if record:
        config.convention_version = recap_meta.convention_version
        config.c_fail_coef = recap_meta.c_fail_coef
        for constants in recap_meta.tasks.values():
            config.task_norm_length.setdefault(constants.task, int(constants.norm_length))
            config.task_c_fail.setdefault(constants.task, float(constants.c_fail))


def draw_held_out_episodes(episodes: dict[int, Any], fraction: float, seed: int) -> list[int]:
    """Per outcome, a seeded ``fraction`` of the episodes, and at least min(3, half) where the outcome has 3 or more.

    A held-out set with a single failure cannot support a separation figure; three of each outcome is the least that
    can, and at least half of an outcome's episodes stay in training.
    """
    rng = np.random.default_rng(seed)
    held_out: list[int] = []
    for outcome in Outcome:
        group = sorted(ep for ep, info in episodes.items() if info.outcome == outcome)
        if not group or fraction <= 0:
            continue
        count = int(round(fraction * len(group)))
        if len(group) >= 3:
            count = max(count, min(3, len(group) // 2))
        held_out.extend(int(ep) for ep in rng.choice(group, size=min(count, len(group) - 1), replace=False))
    return sorted(held_out)


# ----------------------------------------------------------------------------------------------------------------
# The policy
# ----------------------------------------------------------------------------------------------------------------


class RecapValuePolicy(PreTrainedPolicy):
    """The value model as a LeRobot policy: ``forward`` trains it, ``predict_value`` evaluates V."""

    config_class = RecapValueConfig
    name = "recap_value"

    def __init__(self, config: RecapValueConfig, **kwargs: Any):
        super().__init__(config)
        config.validate_features()
        self.config = config
        dataset_meta = kwargs.get("dataset_meta")
        self.labels = None
        self.success_episodes: set[int] = set()
        self.failure_episodes: set[int] = set()
        if dataset_meta is not None and getattr(dataset_meta, "root", None) is not None:
            self._attach_training_dataset(dataset_meta)

        from lerobot_recap.models.siglip_gemma3 import BackboneSpec, SiglipGemma3Encoder

        self.tokenizer = self._load_tokenizer()
        spec = BackboneSpec(
            vision=config.vision_model,
            language=config.language_model,
            image_size=config.image_resolution[0],
            # A checkpoint being loaded brings its own weights: build the backbones from their configs only.
            load_weights=config.pretrained_path is None,
            tiny_vocab_size=len(self.tokenizer),
        )
        self.encoder = SiglipGemma3Encoder(spec, state_dim=config.state_token_dim)
        width = self.encoder.output_size
        self.head = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, config.head_hidden_dim),
            nn.GELU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(config.head_hidden_dim, config.num_bins),
        )
        self.register_buffer("atoms", bin_centers(config.num_bins, config.bin_min, config.bin_max), persistent=True)
        if config.freeze_vision_encoder:
            self.encoder.vision.requires_grad_(False)
        if config.freeze_language:
            self.encoder.language.requires_grad_(False)
        self._token_cache: dict[str, tuple[list[int], list[int]]] = {}
        self._forward_calls = 0
        self._buffers_np: dict[str, list[np.ndarray]] = {"train": [], "val": []}

    # -- setup ---------------------------------------------------------------------------------------------------

    def _attach_training_dataset(self, dataset_meta: Any) -> None:
        """Check the dataset's contract, adopt its constants, read its value targets and pick held-out episodes."""
        from lerobot_recap.data.frame_labels import FrameLabels
        from lerobot_recap.data.metadata import load_recap_metadata

        recap_meta = load_recap_metadata(dataset_meta.root)
        check_and_record_contract(self.config, recap_meta, record=True)
        self.labels = FrameLabels.from_policy_kwargs({"dataset_meta": dataset_meta}, names=(VALUE_LABEL,), required=True)
        self.success_episodes = {ep for ep, info in recap_meta.episodes.items() if info.outcome == Outcome.SUCCESS}
        self.failure_episodes = {ep for ep, info in recap_meta.episodes.items() if info.outcome == Outcome.FAILURE}
        if self.config.time_input and self.config.time_horizon_s is None:
            longest = max(self.config.task_norm_length.values(), default=0)
            if longest <= 0 or not dataset_meta.fps:
                raise ValueError("--policy.time_input=true needs the tasks' lengths L (annotate the dataset) and its fps")
            self.config.time_horizon_s = float(longest) / float(dataset_meta.fps)
        if self.config.val_episodes is None:
            self.config.val_episodes = draw_held_out_episodes(
                recap_meta.episodes, self.config.val_fraction, self.config.split_seed
            )
        logger.info(
            "recap_value: %d held-out episodes %s, tasks %s",
            len(self.config.val_episodes),
            self.config.val_episodes[:20],
            sorted(self.config.task_norm_length),
        )

    def _load_tokenizer(self):
        name = self.config.tokenizer_name or self.config.language_model
        if name == "local":
            from lerobot_recap.models.local_tokenizer import build_local_tokenizer

            return build_local_tokenizer()
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)

    def get_optim_params(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def _get_default_peft_targets(self) -> dict[str, Any]:
        """LoRA on Gemma3's attention projections; projection and head train fully."""
        return {
            "target_modules": r"encoder\.language\.layers\.\d+\.self_attn\.(q|k|v|o)_proj",
            "modules_to_save": ["encoder.image_projection", "head"]
            + (["encoder.state_projection"] if self.config.state_token_dim else []),
        }

    def _validate_peft_config(self, peft_config: Any) -> None:
        """LoRA needs pretrained weights to adapt: the backbones' (loaded from the Hub) or a value checkpoint's."""
        if self.config.pretrained_path is None and self.config.size == "tiny":
            logger.warning("LoRA on the tiny recap_value adapts randomly initialized backbones (tests only)")

    def reset(self) -> None:
        pass

    def select_action(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        raise NotImplementedError("recap_value is a value model: it predicts V with predict_value, not actions")

    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        raise NotImplementedError("recap_value is a value model: it predicts V with predict_value, not actions")

    # -- inputs --------------------------------------------------------------------------------------------------

    def _images(self, batch: dict[str, Any]) -> list[Tensor]:
        keys = self.config.camera_keys
        missing = [key for key in keys if key not in batch]
        if missing:
            raise KeyError(f"the batch lacks the camera(s) {missing} this value model was trained on (has {sorted(batch)})")
        size = self.config.image_resolution[0]
        images = []
        for key in keys:
            image = batch[key].float()
            if image.ndim == 3:
                image = image.unsqueeze(0)
            if self.training and self.config.image_augmentation:
                image = self._augment(image)
            if image.shape[-2:] != (size, size):
                image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            images.append(image)
        return images

    @staticmethod
    def _augment(image: Tensor) -> Tensor:
        """A random 95% crop and brightness/contrast jitter, per sample."""
        batch, _, height, width = image.shape
        crop_h, crop_w = max(int(0.95 * height), 1), max(int(0.95 * width), 1)
        top = int(torch.randint(0, height - crop_h + 1, (1,)))
        left = int(torch.randint(0, width - crop_w + 1, (1,)))
        image = image[:, :, top : top + crop_h, left : left + crop_w]
        brightness = torch.empty(batch, 1, 1, 1, device=image.device).uniform_(0.8, 1.2)
        contrast = torch.empty(batch, 1, 1, 1, device=image.device).uniform_(0.8, 1.2)
        mean = image.mean(dim=(1, 2, 3), keepdim=True)
        return ((image - mean) * contrast + mean * brightness).clamp(0.0, 1.0)

    def _tokens(self, tasks: Any, batch_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
        if isinstance(tasks, str):
            tasks = [tasks] * batch_size
        if tasks is None or len(tasks) != batch_size:
            raise KeyError("the batch lacks a `task` string per sample (the value model is prompted with the task)")
        ids, masks = [], []
        for task in tasks:
            if task not in self._token_cache:
                prompt = self.config.prompt_template.format(task=str(task).strip().replace("_", " "))
                encoded = self.tokenizer(
                    prompt, max_length=self.config.tokenizer_max_length, truncation=True, padding="max_length"
                )
                self._token_cache[task] = (encoded["input_ids"], encoded["attention_mask"])
            ids.append(self._token_cache[task][0])
            masks.append(self._token_cache[task][1])
        return torch.tensor(ids, device=device), torch.tensor(masks, device=device)

    def _state(self, batch: dict[str, Any], batch_size: int) -> Tensor | None:
        """The state token's input: the normalized state and/or the elapsed time, (B, state_token_dim); or None."""
        parts = []
        if self.config.state_token:
            if OBS_STATE not in batch:
                raise KeyError(f"the batch lacks {OBS_STATE!r}, which this value model reads (state_token=true)")
            state = batch[OBS_STATE].float()
            parts.append(state.unsqueeze(0) if state.ndim == 1 else state)
        if self.config.time_input:
            if "timestamp" not in batch:
                raise KeyError("the batch lacks the frame `timestamp`, which this value model reads (time_input=true)")
            if not self.config.time_horizon_s:
                raise ValueError("time_input=true but time_horizon_s is unset: the checkpoint was not trained on a dataset")
            device = parts[0].device if parts else self.atoms.device
            elapsed = torch.as_tensor(batch["timestamp"], device=device).float().reshape(-1, 1)
            parts.append(elapsed / self.config.time_horizon_s)
        if not parts:
            return None
        rows = {part.shape[0] for part in parts}
        if rows != {batch_size}:
            raise ValueError(f"the state token's inputs have {sorted(rows)} rows for {batch_size} images")
        return torch.cat(parts, dim=-1)

    def logits(self, batch: dict[str, Any]) -> Tensor:
        images = self._images(batch)
        input_ids, attention_mask = self._tokens(batch.get("task"), images[0].shape[0], images[0].device)
        pooled = self.encoder(images, input_ids, attention_mask, state=self._state(batch, images[0].shape[0]))
        return self.head(pooled.float())

    @torch.no_grad()
    def predict_value(self, batch: dict[str, Any]) -> Tensor:
        """V(o_t) for every sample of a (preprocessed) batch: the expectation over the atoms, shape (B,)."""
        return expected_value(self.logits(batch), self.atoms)

    # -- training ------------------------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any], reduction: str = "mean") -> tuple[Tensor, dict[str, Any]]:
        if self.labels is None:
            raise RuntimeError(
                "recap_value has no value targets: it trains inside lerobot-train, which hands it the dataset "
                "(make_policy's dataset_meta); the dataset must be annotated by lerobot-recap-annotate"
            )
        if "index" not in batch:
            raise KeyError("the batch lacks the frame `index` that the value targets are looked up by")
        target = self.labels.lookup(batch["index"])[VALUE_LABEL].reshape(-1).float()
        logits = self.logits(batch)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        per_sample = -(value_target_probs(target, self.config) * log_probs).sum(-1)

        episode = batch["episode_index"].reshape(-1).to(per_sample.device)
        held_out = torch.isin(episode, torch.tensor(self.config.val_episodes or [], device=episode.device, dtype=episode.dtype))
        train_weight = (~held_out).float()
        if reduction == "none":
            loss = per_sample * train_weight
        else:
            # Held-out frames stay in the graph with weight 0, so a batch of only held-out frames still backprops.
            loss = (per_sample * train_weight).sum() / train_weight.sum().clamp(min=1.0)

        with torch.no_grad():
            value = (torch.softmax(logits.float(), dim=-1) @ self.atoms.float()).cpu().numpy()
        output = self._track_metrics(value, target.cpu().numpy(), episode.cpu().numpy(), held_out.cpu().numpy())
        output["loss_ce"] = float(loss.mean().detach()) if reduction == "none" else float(loss.detach())
        return loss, output

    def _track_metrics(self, value: np.ndarray, target: np.ndarray, episode: np.ndarray, held_out: np.ndarray) -> dict:
        """Per-batch train MAE/Spearman, plus running train/held-out metrics logged every metrics_log_freq calls."""
        train = ~held_out
        output: dict[str, Any] = {}
        if train.any():
            output["mae"] = float(np.abs(value[train] - target[train]).mean())
            output["spearman"] = spearman(value[train], target[train])
        for split, mask in (("train", train), ("val", held_out)):
            if mask.any():
                self._buffers_np[split].append(np.stack([value[mask], target[mask], episode[mask].astype(np.float64)]))
                while sum(b.shape[1] for b in self._buffers_np[split]) > METRIC_BUFFER_FRAMES:
                    self._buffers_np[split].pop(0)
        self._forward_calls += 1
        freq = self.config.metrics_log_freq
        if freq > 0 and self._forward_calls % freq == 0:
            parts = []
            for split in ("train", "val"):
                if not self._buffers_np[split]:
                    continue
                values, targets, episodes = np.concatenate(self._buffers_np[split], axis=1)
                metrics = value_metrics(values, targets, episodes.astype(np.int64), self.success_episodes, self.failure_episodes)
                output.update({f"{split}/{k}": v for k, v in metrics.items()})
                parts.append(f"{split}: " + " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
                self._buffers_np[split] = []
            logger.info("recap_value metrics after %d batches | %s", self._forward_calls, " | ".join(parts))
        return output
