"""Config of ``pi06_recap``: LeRobot's pi0.5 conditioned on RECAP's advantage indicator.

``PI06RecapConfig`` subclasses LeRobot's ``PI05Config``: every pi0.5 field (flow matching, RTC, relative actions,
freezing, optimizer) keeps its meaning, and LeRobot's factories find this policy's model and processors by the
naming convention (``modeling_pi06_recap.PI06RecapPolicy``, ``make_pi06_recap_pre_post_processors``). What is
added is RECAP (the advantage clause, its dropout, the inference clause, classifier-free guidance, per-arm clauses,
the optional indicator embedding), pi0.5-relative delta actions, and sizes beyond LeRobot's two: ``--policy.size``
fills the size fields a user leaves unset, ``full`` with pi0.5's and ``tiny`` with a CPU model for tests and the
embedded default.
"""

from __future__ import annotations

from dataclasses import dataclass

from lerobot.configs.policies import PreTrainedConfig
from lerobot.policies.pi05.configuration_pi05 import PI05Config
from lerobot.utils.constants import OBS_STATE

from lerobot_recap.utils.config_errors import ConfigError

LOCAL_TOKENIZER = "local"
"""``tokenizer_name`` value that builds the offline byte-level BPE tokenizer (tiny sizes, tests)."""
PALIGEMMA_TOKENIZER = "google/paligemma-3b-pt-224"
"""The tokenizer LeRobot's pi05 processor uses."""
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
        "tokenizer_name": PALIGEMMA_TOKENIZER,
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
GEMMA_VARIANT_NAMES = ("gemma_2b", "gemma_300m", "tiny", "tiny_wide")
VISION_VARIANT_NAMES = ("so400m", "tiny")
ADVANTAGE_CHOICES = ("positive", "negative", "none")


@PreTrainedConfig.register_subclass("pi06_recap")
@dataclass
class PI06RecapConfig(PI05Config):
    """Config of `pi06_recap` (LeRobot's pi0.5 conditioned on the RECAP advantage indicator)."""

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

    # --- weights -----------------------------------------------------------------------------------------------

    base_model: str | None = None
    """pi0.5 weights to start from - a Hub id (lerobot/pi05_base, lerobot/pi05_libero) or a local dir/.safetensors.
    Loaded strictly. Use --policy.path only for pi06_recap checkpoints."""

    # --- tokenizer / prompt ------------------------------------------------------------------------------------

    tokenizer_name: str | None = None
    """Tokenizer - a Hub id, a local directory, or `local` (built offline); saved into every checkpoint."""
    tokenizer_max_length: int | None = None
    """Prompt length in tokens (truncated beyond; batches are padded to their longest prompt)."""
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

    # --- actions and state -------------------------------------------------------------------------------------

    delta_actions: bool = False
    """Predict joint targets relative to the state at the chunk's start, in normalized units (openpi's delta
    actions). Unlike --policy.use_relative_actions it stays right when a chunk is executed over several steps."""
    delta_action_mask: list[bool] | None = None
    """Per action dim, whether it is a delta (default  every dim whose name lacks 'gripper'; grippers stay absolute)."""
    state_token: bool | None = None
    """Also give the action expert the normalized state as one continuous token (pi0's state_proj); tiny on, full
    off."""
    chunk_size: int | None = None
    """Actions predicted per chunk."""
    n_action_steps: int | None = None
    """Actions executed from each chunk before predicting again."""
    max_state_dim: int | None = None
    """State padded to this size inside the model."""
    max_action_dim: int | None = None
    """Actions padded to this size inside the model."""
    num_inference_steps: int | None = None
    """Euler steps of the flow-matching sampler."""
    image_resolution: tuple[int, int] | None = None
    """Images are resized with padding (aspect kept) to this square size."""

    # --- training ----------------------------------------------------------------------------------------------

    optimizer_lr: float | None = None
    """AdamW peak learning rate."""
    scheduler_warmup_steps: int | None = None
    """Linear warmup steps of the cosine schedule."""
    push_to_hub: bool = False
    """Upload the checkpoint to the Hub after training (needs --policy.repo_id)."""

    def __post_init__(self):
        # PI05Config.__post_init__ knows only LeRobot's two Gemma sizes; its other checks are repeated below.
        PreTrainedConfig.__post_init__(self)
        if self.size not in SIZES:
            raise ConfigError(f"--policy.size={self.size!r} is not one of {SIZES}")
        for name, value in SIZE_PRESETS[self.size].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.image_resolution = tuple(self.image_resolution)
        for name, value, choices in (
            ("paligemma_variant", self.paligemma_variant, GEMMA_VARIANT_NAMES),
            ("action_expert_variant", self.action_expert_variant, GEMMA_VARIANT_NAMES),
            ("vision_variant", self.vision_variant, VISION_VARIANT_NAMES),
            ("inference_advantage", self.inference_advantage, ADVANTAGE_CHOICES),
            ("dtype", self.dtype, ("float32", "bfloat16")),
        ):
            if value not in choices:
                raise ConfigError(f"--policy.{name}={value!r} is not one of {choices}")
        if self.n_action_steps > self.chunk_size:
            raise ConfigError(
                f"--policy.n_action_steps={self.n_action_steps} exceeds --policy.chunk_size={self.chunk_size}"
            )
        if self.image_resolution[0] != self.image_resolution[1]:
            raise ConfigError(f"--policy.image_resolution={self.image_resolution} must be square (SigLIP input)")
        if not 0.0 <= self.indicator_dropout <= 1.0:
            raise ConfigError(f"--policy.indicator_dropout={self.indicator_dropout} must be in [0, 1]")
        if not self.cfg_beta >= 0:
            raise ConfigError(f"--policy.cfg_beta={self.cfg_beta} must be >= 0 (1 = no guidance)")
        if self.cfg_beta != 1.0 and self.inference_advantage == "none":
            raise ConfigError("--policy.cfg_beta needs a conditional clause: set --policy.inference_advantage")
        if self.delta_actions and self.use_relative_actions:
            raise ConfigError("--policy.delta_actions and --policy.use_relative_actions both shift the actions: pick one")

    @classmethod
    def tiny(cls, **overrides) -> PI06RecapConfig:
        """The tiny size (CPU tests): ``size="tiny"`` on CPU, with 8-dim state/action padding unless overridden."""
        defaults = dict(size="tiny", device="cpu", max_state_dim=8, max_action_dim=8)
        defaults.update(overrides)
        return cls(**defaults)

    @property
    def guided(self) -> bool:
        """Whether inference runs classifier-free guidance (a conditional and an unconditional pass)."""
        return self.cfg_beta != 1.0

    def validate_features(self) -> None:
        """pi0.5's checks, plus: a camera to look at, and state/action sizes that fit the model's padding."""
        if not self.image_features and not self.empty_cameras:
            raise ValueError(
                "pi06_recap needs at least one camera feature (observation.images.*); the dataset/env has none"
            )
        super().validate_features()
        state_dim = self.input_features[OBS_STATE].shape[0]
        if state_dim > self.max_state_dim:
            raise ValueError(
                f"observation.state has {state_dim} dims > --policy.max_state_dim={self.max_state_dim}: raise it"
            )
        if self.action_feature is not None and self.action_feature.shape[0] > self.max_action_dim:
            raise ValueError(
                f"action has {self.action_feature.shape[0]} dims > --policy.max_action_dim={self.max_action_dim}"
            )
