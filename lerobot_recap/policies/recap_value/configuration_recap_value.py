"""Config of ``recap_value``: the VLM value function of RECAP (stage 4), trained by stock ``lerobot-train``.

    lerobot-train --policy.type=recap_value --dataset.root=<annotated dataset> --output_dir=outputs/value

The model (SigLIP vision over every configured camera, Gemma3 over image tokens + the task prompt, a 201-bin
distributional head on [-1, 0]) is in ``modeling_recap_value.py``. With ``--policy.state_token=true`` the
proprioceptive state (``observation.state``, z-scored by the preprocessor with the dataset's stats, which the
checkpoint's preprocessor keeps) enters as one more token between the image tokens and the prompt, and the head
reads that token's output next to the pooled sequence.

The tiny size (random backbones, trained from scratch on CPU) uses a from-scratch learning rate (1e-3) and
Gaussian-spread value targets (``target_sigma_bins=2``); with ``--policy.state_token=true`` it learns the embedded
task's value in a few hundred steps. The full size keeps the fine-tuning rate (5e-5) and two-hot targets.

The checkpoint's ``config.json`` carries the data contract it was trained under (convention version, per-task L
and C_fail, bins), filled in from the training dataset's ``meta/recap.json``; a dataset of another convention or
with other constants is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import FeatureType, NormalizationMode
from lerobot.optim.optimizers import AdamWConfig
from lerobot.optim.schedulers import CosineDecayWithWarmupSchedulerConfig
from lerobot.utils.constants import OBS_STATE

from lerobot_recap.utils.config_errors import ConfigError

SIZES = ("full", "tiny")


VALUE_NORMALIZATION = {
    "VISUAL": NormalizationMode.IDENTITY,
    "STATE": NormalizationMode.MEAN_STD,
    "ACTION": NormalizationMode.IDENTITY,
}


@PreTrainedConfig.register_subclass("recap_value")
@dataclass
class RecapValueConfig(PreTrainedConfig):
    """Config of `recap_value` (the VLM value model)."""

    size: str = "full"
    """`full` (the backbones below, ~670M) or `tiny` (random tiny SigLIP + Gemma3 and a local tokenizer, for tests)."""
    vision_model: str = "google/siglip2-so400m-patch14-224"
    """Hub id or local path of the SigLIP vision checkpoint (only the vision tower is loaded)."""
    language_model: str = "google/gemma-3-270m"
    """Hub id or local path of the Gemma3 checkpoint (its decoder is used, not its LM head)."""
    tokenizer_name: str | None = None
    """Tokenizer id or path (default: the language model's; `local`: the offline byte-level BPE of tiny)."""
    image_resolution: tuple[int, int] | None = None
    """Images are resized to this square size for SigLIP (unset = 224x224 for full, 32x32 for tiny)."""
    cameras: list[str] | None = None
    """Image keys to use (default every camera of the dataset, in sorted order)."""
    state_token: bool = False
    """Also read the proprioceptive state (observation.state, normalized by the preprocessor) as one token."""
    time_input: bool = False
    """Also read the frame's elapsed time (timestamp / time_horizon_s) in the state token: a time-limited return
    depends on it, so late frames of an episode that will time out can be told from early ones."""
    time_horizon_s: float | None = None
    """Seconds the elapsed time is divided by (set at training to the longest episode's length L / fps)."""
    prompt_template: str = "Task: {task}\nValue:"
    """Text after the image tokens; `{task}` is the frame's task string."""
    tokenizer_max_length: int = 48
    """Prompt tokens (padded/truncated)."""

    num_bins: int = 201
    """Atoms of the distributional head, evenly spaced on [bin_min, bin_max]."""
    bin_min: float = -1.0
    """Lowest atom (the normalized return of the worst failure)."""
    bin_max: float = 0.0
    """Highest atom (the normalized return at a success)."""
    target_sigma_bins: float | None = None
    """Spread of the value target over the atoms (0 = two-hot, s > 0 = a Gaussian of std s bins, as HL-Gauss).
    Unset = 0 for full, 2 for tiny."""
    head_hidden_dim: int = 512
    """Width of the MLP head (32 for tiny)."""
    head_dropout: float = 0.1
    """Dropout in the head."""
    freeze_vision_encoder: bool = False
    """Keep the SigLIP tower fixed (its weights still go into the checkpoint)."""
    freeze_language: bool = False
    """Keep the Gemma3 decoder fixed."""
    image_augmentation: bool = True
    """Random crop (to 95 percent) and brightness/contrast jitter on training images."""

    val_fraction: float = 0.1
    """Fraction of episodes held out of the loss (per outcome) for held-out MAE/Spearman/separation."""
    val_episodes: list[int] | None = None
    """Held-out episode indices (default drawn from val_fraction at the first run; saved with the checkpoint)."""
    split_seed: int = 0
    """Seed of the held-out draw."""
    metrics_log_freq: int = 50
    """Log running train/held-out metrics every this many training forwards (0 = never)."""

    convention_version: str | None = None
    """RECAP convention of the training data (filled from meta/recap.json; checked against later datasets)."""
    c_fail_coef: float | None = None
    """C_fail / L of the training data's convention."""
    task_norm_length: dict[str, int] = field(default_factory=dict)
    """Per task string, the normalization length L the value targets were built with."""
    task_c_fail: dict[str, float] = field(default_factory=dict)
    """Per task string, the failure penalty C_fail the value targets were built with."""

    optimizer_lr: float | None = None
    """Peak learning rate (AdamW); default 5e-5 (full: pretrained backbones) or 1e-3 (tiny: trained from scratch)."""
    optimizer_weight_decay: float = 1e-5
    """AdamW weight decay."""
    optimizer_grad_clip_norm: float = 1.0
    """Gradient clipping norm."""
    scheduler_warmup_steps: int = 500
    """Linear warmup steps (scaled down when training is shorter than the decay)."""
    scheduler_decay_steps: int = 8000
    """Cosine decay steps."""
    scheduler_decay_lr: float = 1e-6
    """Learning rate at the end of the decay."""

    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=lambda: dict(VALUE_NORMALIZATION))
    """Images stay in [0, 1] (SigLIP's normalization is in the model); the state (state_token) is z-scored."""
    push_to_hub: bool = False
    """Upload the checkpoint to the Hub after training (needs --policy.repo_id)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size not in SIZES:
            raise ConfigError(f"--policy.size must be one of {SIZES}, got {self.size!r}")
        if self.size == "tiny":
            self.vision_model = "tiny"
            self.language_model = "tiny"
            self.tokenizer_name = "local"
            if self.head_hidden_dim == 512:
                self.head_hidden_dim = 32
        if self.image_resolution is None:
            self.image_resolution = (32, 32) if self.size == "tiny" else (224, 224)
        self.image_resolution = tuple(self.image_resolution)
        if len(self.image_resolution) != 2 or self.image_resolution[0] != self.image_resolution[1]:
            raise ConfigError(f"--policy.image_resolution={self.image_resolution} must be square (SigLIP input)")
        # The tiny model is randomly initialized and learns from scratch: at the fine-tuning rate of the pretrained
        # backbones its 201-bin head stays near uniform for hundreds of steps (V is a constant), and with one-bin
        # two-hot targets neighbouring atoms share no signal, so ordering 201 atoms from scratch is slow.
        if self.optimizer_lr is None:
            self.optimizer_lr = 1e-3 if self.size == "tiny" else 5e-5
        if self.target_sigma_bins is None:
            self.target_sigma_bins = 2.0 if self.size == "tiny" else 0.0
        if self.target_sigma_bins < 0:
            raise ConfigError(f"--policy.target_sigma_bins must be >= 0 (0: two-hot), got {self.target_sigma_bins}")
        if self.num_bins < 2:
            raise ConfigError(f"--policy.num_bins must be >= 2, got {self.num_bins}")
        if not self.bin_min < self.bin_max:
            raise ConfigError(f"--policy.bin_min ({self.bin_min}) must be below --policy.bin_max ({self.bin_max})")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"--policy.val_fraction must lie in [0, 1), got {self.val_fraction}")

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> None:
        return None

    @property
    def reward_delta_indices(self) -> None:
        return None

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(
            lr=self.optimizer_lr,
            betas=(0.9, 0.95),
            eps=1e-8,
            weight_decay=self.optimizer_weight_decay,
            grad_clip_norm=self.optimizer_grad_clip_norm,
        )

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(
            num_warmup_steps=self.scheduler_warmup_steps,
            num_decay_steps=self.scheduler_decay_steps,
            peak_lr=self.optimizer_lr,
            decay_lr=self.scheduler_decay_lr,
        )

    @property
    def camera_keys(self) -> list[str]:
        """The image keys the model reads, in a fixed order."""
        if self.cameras:
            return list(self.cameras)
        return sorted(key for key, ft in (self.input_features or {}).items() if ft.type is FeatureType.VISUAL)

    def validate_features(self) -> None:
        available = sorted(key for key, ft in (self.input_features or {}).items() if ft.type is FeatureType.VISUAL)
        if not available:
            raise ValueError("recap_value needs at least one camera (an image or video feature) in the dataset")
        missing = [key for key in self.cameras or [] if key not in available]
        if missing:
            raise ValueError(f"--policy.cameras {missing} are not image features of the dataset ({available})")
        if self.state_token and self.state_dim is None:
            raise ValueError(
                f"--policy.state_token=true but the dataset has no 1-D {OBS_STATE!r} feature: record the robot state, "
                "or set --policy.state_token=false"
            )

    @property
    def state_token_dim(self) -> int | None:
        """Width of the state token's input: the state (state_token) and the elapsed time (time_input); None if neither."""
        width = (self.state_dim or 0 if self.state_token else 0) + (1 if self.time_input else 0)
        return width or None

    @property
    def state_dim(self) -> int | None:
        """Length of the state vector the model reads (None: the dataset has no usable state)."""
        feature = (self.input_features or {}).get(OBS_STATE)
        if feature is None or feature.type is not FeatureType.STATE or len(feature.shape) != 1:
            return None
        return int(feature.shape[0])
