"""Config of ``pi06_recap``: the pi0.5 architecture conditioned on RECAP's advantage indicator (prompt text).

Kept import-light (no torch model code, no transformers): LeRobot's CLIs parse it before any model is built.
It deliberately does not subclass LeRobot's ``PI05Config``: the processor factory dispatches on ``isinstance`` and
would pick pi05's processors, which lack the indicator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.optim.optimizers import AdamWConfig
from lerobot.optim.schedulers import CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import OBS_STATE

GEMMA_VARIANT_NAMES = ("gemma_2b", "gemma_300m", "tiny", "tiny_wide")
PI05_NORMALIZATION = {
    "VISUAL": NormalizationMode.IDENTITY,
    "STATE": NormalizationMode.QUANTILES,
    "ACTION": NormalizationMode.QUANTILES,
}
"""pi0.5's normalization: images as they are, state and action by their q01/q99 quantiles."""
LOCAL_TOKENIZER = "local"
"""``tokenizer_name`` value that builds the offline byte-level BPE tokenizer (tiny sizes, tests)."""
SIZE_PRESETS: dict[str, dict[str, object]] = {
    "full": {
        "paligemma_variant": "gemma_2b",
        "action_expert_variant": "gemma_300m",
        "vision_variant": "so400m",
        "vlm_vocab_size": 257_152,
        "image_resolution": (224, 224),
        "chunk_size": 50,
        "n_action_steps": 50,
        "num_inference_steps": 10,
        "max_state_dim": 32,
        "max_action_dim": 32,
        "tokenizer_name": "google/paligemma-3b-pt-224",
        "tokenizer_max_length": 200,
        "optimizer_lr": 2.5e-5,
        "scheduler_warmup_steps": 1_000,
        "state_token": False,
        "indicator_conditioning": False,
    },
    "tiny": {
        "paligemma_variant": "tiny",
        "action_expert_variant": "tiny_wide",
        "vision_variant": "tiny",
        "vlm_vocab_size": 1024,
        "image_resolution": (28, 28),
        "chunk_size": 10,
        "n_action_steps": 10,
        "num_inference_steps": 3,
        "max_state_dim": 16,
        "max_action_dim": 16,
        "tokenizer_name": LOCAL_TOKENIZER,
        "tokenizer_max_length": 96,
        "optimizer_lr": 1e-3,
        "scheduler_warmup_steps": 0,
        "state_token": True,
        "indicator_conditioning": True,
    },
}
"""What each ``--policy.size`` fills in for the fields left unset (None); a value the user gives always wins."""
SIZES = tuple(SIZE_PRESETS)
TINY_PRESET = SIZE_PRESETS["tiny"]
VISION_VARIANT_NAMES = ("so400m", "tiny")
ADVANTAGE_CHOICES = ("positive", "negative", "none")


@PreTrainedConfig.register_subclass("pi06_recap")
@dataclass
class PI06RecapConfig(PreTrainedConfig):
    """Config of `pi06_recap` (the advantage-conditioned pi0.5-class policy)."""

    # --- sizes -------------------------------------------------------------------------------------------------

    size: str = "full"
    """Fills the size fields left unset; full is pi0.5 (gemma_2b, gemma_300m, so400m), tiny is for CPU and tests."""
    paligemma_variant: str | None = None
    """Gemma size of the VLM - gemma_2b (pi0.5), gemma_300m or tiny (tests, the embedded default)."""
    action_expert_variant: str | None = None
    """Gemma size of the action expert - gemma_300m (pi0.5), gemma_2b, tiny or tiny_wide (the tiny preset)."""
    vision_variant: str | None = None
    """SigLIP size - so400m/14 (pi0.5) or tiny."""
    vlm_vocab_size: int | None = None
    """Token vocabulary of the VLM (PaliGemma's 257152; the local tiny tokenizer needs far fewer, e.g. 1024).
    Not called `vocab_size` - PEFT's adapter saving would then try to re-read the config as a transformers one."""
    dtype: str = "float32"
    """Parameter dtype - float32 or bfloat16 (vision tower, projector and norms stay float32)."""

    # --- weights -----------------------------------------------------------------------------------------------

    base_model: str | None = None
    """pi0.5 weights to start from - a Hub id (lerobot/pi05_base, lerobot/pi05_libero) or a local dir/.safetensors.
    Loaded strictly. Use --policy.path only for pi06_recap checkpoints."""

    # --- tokenizer / prompt ------------------------------------------------------------------------------------

    tokenizer_name: str | None = None
    """Tokenizer - a Hub id, a local directory, or `local` (built offline); saved into every checkpoint."""
    tokenizer_max_length: int | None = None
    """Prompt length in tokens (padded/truncated)."""
    indicator_dropout: float = 0.3
    """Probability of omitting the advantage clause from a training prompt (classifier-free training)."""
    inference_advantage: str = "positive"
    """Clause used at inference - positive (RECAP), negative or none (ablations)."""
    cfg_beta: float = 1.0
    """Classifier-free guidance weight at each denoising step - v = v_u + beta (v_c - v_u); 1 turns it off."""
    indicator_conditioning: bool | None = None
    """Also add a learned embedding of the indicator to the action expert's adaptive norms; tiny on, full off."""
    per_arm_indicator: bool = False
    """Bimanual - use left/right clauses from the per-arm columns adv_ind_left/adv_ind_right (when present)."""

    # --- actions -----------------------------------------------------------------------------------------------

    delta_actions: bool = False
    """Predict joint targets relative to the current state (openpi's delta actions for joint-space arms)."""
    delta_action_mask: list[bool] | None = None
    """Per action dim, whether it is a delta (default  every dim whose name lacks 'gripper'; grippers stay absolute)."""

    # --- model / flow matching ---------------------------------------------------------------------------------

    n_obs_steps: int = 1
    """Observation frames per sample (pi0.5 uses the current frame only)."""
    chunk_size: int | None = None
    """Actions predicted per chunk."""
    n_action_steps: int | None = None
    """Actions executed from each chunk before predicting again."""
    max_state_dim: int | None = None
    """State padded to this size before discretisation."""
    state_token: bool | None = None
    """Also give the action expert the state as one continuous token (pi0's state_proj); tiny on, full off."""
    max_action_dim: int | None = None
    """Actions padded to this size inside the model."""
    num_inference_steps: int | None = None
    """Euler steps of the flow-matching sampler."""
    time_sampling_beta_alpha: float = 1.5
    """Training time ~ Beta(alpha, beta) * scale + offset."""
    time_sampling_beta_beta: float = 1.0
    """See time_sampling_beta_alpha."""
    time_sampling_scale: float = 0.999
    """See time_sampling_beta_alpha."""
    time_sampling_offset: float = 0.001
    """See time_sampling_beta_alpha."""
    min_period: float = 4e-3
    """Shortest period of the sinusoidal time embedding."""
    max_period: float = 4.0
    """Longest period of the sinusoidal time embedding."""
    image_resolution: tuple[int, int] | None = None
    """Images are resized with padding (aspect kept) to this square size."""

    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=lambda: dict(PI05_NORMALIZATION))
    """Per feature type normalisation (pi0.5 - quantiles q01/q99 for state and action)."""

    # --- training ----------------------------------------------------------------------------------------------

    gradient_checkpointing: bool = False
    """Recompute layer activations in backward (less memory, slower)."""
    freeze_vision_encoder: bool = False
    """Freeze the SigLIP tower."""
    train_expert_only: bool = False
    """Freeze the whole PaliGemma; train the action expert and projections only."""
    optimizer_lr: float | None = None
    """AdamW peak learning rate."""
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    optimizer_eps: float = 1e-8
    """AdamW epsilon."""
    optimizer_weight_decay: float = 0.01
    """AdamW weight decay."""
    optimizer_grad_clip_norm: float = 1.0
    """Gradient clipping norm."""
    scheduler_warmup_steps: int | None = None
    """Linear warmup steps of the cosine schedule."""
    scheduler_decay_steps: int = 30_000
    """Cosine decay steps."""
    scheduler_decay_lr: float = 2.5e-6
    """Final learning rate."""

    push_to_hub: bool = False
    """Upload the checkpoint to the Hub after training (needs --policy.repo_id)."""

    def __post_init__(self):
        super().__post_init__()
        if self.size not in SIZES:
            raise ValueError(f"--policy.size={self.size!r} is not one of {SIZES}")
        for name, value in SIZE_PRESETS[self.size].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name, value, choices in (
            ("paligemma_variant", self.paligemma_variant, GEMMA_VARIANT_NAMES),
            ("action_expert_variant", self.action_expert_variant, GEMMA_VARIANT_NAMES),
            ("vision_variant", self.vision_variant, VISION_VARIANT_NAMES),
            ("inference_advantage", self.inference_advantage, ADVANTAGE_CHOICES),
        ):
            if value not in choices:
                raise ValueError(f"--policy.{name}={value!r} is not one of {choices}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"--policy.dtype={self.dtype!r}: use float32 or bfloat16")
        if self.n_action_steps > self.chunk_size:
            raise ValueError(
                f"--policy.n_action_steps={self.n_action_steps} exceeds --policy.chunk_size={self.chunk_size}"
            )
        if tuple(self.image_resolution)[0] != tuple(self.image_resolution)[1]:
            raise ValueError(f"--policy.image_resolution={self.image_resolution} must be square (SigLIP input)")
        if not 0.0 <= self.indicator_dropout <= 1.0:
            raise ValueError(f"--policy.indicator_dropout={self.indicator_dropout} must be in [0, 1]")
        if self.cfg_beta < 0:
            raise ValueError(f"--policy.cfg_beta={self.cfg_beta} must be >= 0 (1 = no guidance)")
        if self.cfg_beta != 1.0 and self.inference_advantage == "none":
            raise ValueError("--policy.cfg_beta needs a conditional clause: set --policy.inference_advantage")

    @classmethod
    def tiny(cls, **overrides) -> PI06RecapConfig:
        """The tiny size (CPU tests): ``size="tiny"`` on CPU, with 8-dim state/action padding unless overridden."""
        defaults = dict(size="tiny", device="cpu", max_state_dim=8, max_action_dim=8)
        defaults.update(overrides)
        return cls(**defaults)

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(
            lr=self.optimizer_lr,
            betas=self.optimizer_betas,
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
            grad_clip_norm=self.optimizer_grad_clip_norm,
        )

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(
            peak_lr=self.optimizer_lr,
            decay_lr=self.scheduler_decay_lr,
            num_warmup_steps=self.scheduler_warmup_steps,
            num_decay_steps=self.scheduler_decay_steps,
        )

    def validate_features(self) -> None:
        """pi0.5 reads at least one camera and the state (it goes into the prompt); RECAP columns are not inputs."""
        if not self.image_features:
            raise ValueError(
                "pi06_recap needs at least one camera feature (observation.images.*); the dataset/env has none"
            )
        if OBS_STATE not in self.input_features:
            self.input_features[OBS_STATE] = PolicyFeature(type=FeatureType.STATE, shape=(self.max_state_dim,))
        state_dim = self.input_features[OBS_STATE].shape[0]
        if state_dim > self.max_state_dim:
            raise ValueError(
                f"observation.state has {state_dim} dims > --policy.max_state_dim={self.max_state_dim}: raise it"
            )
        if self.action_feature is not None and self.action_feature.shape[0] > self.max_action_dim:
            raise ValueError(
                f"action has {self.action_feature.shape[0]} dims > --policy.max_action_dim={self.max_action_dim}"
            )
