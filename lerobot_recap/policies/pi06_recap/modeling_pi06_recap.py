"""``pi06_recap``: LeRobot's pi0.5 conditioned on RECAP's advantage indicator.

The network and its training and sampling code are LeRobot's (``PI05Policy``, ``PI05Pytorch``): this module
subclasses them and adds RECAP, nothing else.

* **The clause.** The indicator is prompt text, pistar's wording, after task and state and before ``Action:``:
  ``Task: ..., State: ..., Advantage: positive;\\nAction: ``. In training it comes from the frame's ``adv_ind``
  (looked up by ``index``: stock ``lerobot-train`` drops the column) and is omitted with probability
  ``indicator_dropout``; a ``none`` code omits it too, so an omitted clause reads exactly as pi0.5's own prompt.
  At inference the clause is ``inference_advantage`` (positive by default). Bimanual datasets may carry one
  indicator per arm (``per_arm_indicator``). The policy tokenizes the prompts itself, padded to the batch's longest.
* **Classifier-free guidance** (``cfg_beta`` != 1): the conditional and the clause-free prompts run as one batch of
  2B through LeRobot's ``sample_actions`` (one prefix pass, one Euler loop, so Real-Time Chunking composes with it);
  at each denoising step the two velocities combine as v = v_u + beta (v_c - v_u) and both halves follow it.
* **The indicator embedding** (``indicator_conditioning``): a learned, zero-initialised embedding of the code added
  to the time conditioning of the action expert's adaptive norms.
* **Delta actions** (``delta_actions``): actions relative to the normalized state at the chunk's start.
* **The state token** (``state_token``): the normalized state as one more token of the action expert (pi0's
  ``state_proj``), in a block of its own before the action tokens.
* **Sizes**: the backbone is LeRobot's ``PaliGemmaWithExpertModel`` built at any size
  (:mod:`lerobot_recap.models.pi05_backbone`), so a tiny model runs the same code on CPU.

The per-call RECAP inputs (indicator codes, state, guidance weight) reach LeRobot's model code through
:meth:`PI06RecapPytorch.conditioned`, a context that the two overridden hooks (``embed_suffix``, ``denoise_step``)
read: LeRobot's ``forward`` and ``sample_actions`` pass only their own arguments down.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from lerobot.policies.pi05.modeling_pi05 import PI05Policy, PI05Pytorch
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.policies.rtc.modeling_rtc import RTCProcessor
from lerobot.utils.constants import ACTION, OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS, OBS_STATE
from torch import Tensor, nn

from lerobot_recap.data.contract import ADV_IND, ADV_IND_CODES, ADV_IND_STRINGS
from lerobot_recap.models.pi05_backbone import GEMMA_SIZES, VISION_SIZES, SizedPaliGemmaWithExpert
from lerobot_recap.policies.pi06_recap.configuration_pi06_recap import LOCAL_TOKENIZER, PI06RecapConfig

logger = logging.getLogger(__name__)

TOKENIZER_SUBDIR = "tokenizer"
"""Where a checkpoint keeps its tokenizer files (so --policy.path works offline)."""

PER_ARM_COLUMNS = ("adv_ind_left", "adv_ind_right")
"""Per-arm indicator columns of bimanual datasets (same integer codes as adv_ind)."""

ACTION_MARKER = ";\nAction: "
"""Where pi0.5's prompt ends and the actions begin; the clause goes right before it."""


# ---------------------------------------------------------------------------------------------------------------
# Prompt
# ---------------------------------------------------------------------------------------------------------------
def indicator_clause(code: int | tuple[int, int]) -> str:
    """The clause for an indicator code (+1/-1/0) or a (left, right) pair; '' when it is to be omitted."""
    if isinstance(code, tuple):
        left, right = (int(c) for c in code)
        if left == 0 and right == 0:
            return ""
        return f", Left advantage: {ADV_IND_STRINGS[left]}, Right advantage: {ADV_IND_STRINGS[right]}"
    code = int(code)
    return "" if code == 0 else f", Advantage: {ADV_IND_STRINGS[code]}"


def build_prompt(head: str, code: int | tuple[int, int]) -> str:
    """pi0.5's prompt ``Task: ..., State: ...;\\nAction: `` with the clause inserted before the action marker.

    ``head`` is what the pre-processor wrote into ``task``: LeRobot's pi05 step ends it with the marker, the
    prompt step of lerobot-recap 0.1 checkpoints does not.
    """
    if head.endswith(ACTION_MARKER):
        head = head[: -len(ACTION_MARKER)]
    return f"{head}{indicator_clause(code)}{ACTION_MARKER}"


def flat_codes(codes: list) -> list[int]:
    """One code per sample: per-arm (left, right) pairs count as the one with the larger magnitude."""
    return [c if isinstance(c, int) else max(c, key=abs) for c in codes]


# ---------------------------------------------------------------------------------------------------------------
# The flow-matching model
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecapConditioning:
    """What one forward or sampling call of :class:`PI06RecapPytorch` is conditioned on, besides the prompt."""

    indicator: Tensor | None = None
    """Indicator codes (B,) in {-1, 0, +1}, for ``indicator_conditioning``."""
    state: Tensor | None = None
    """The normalized state (B, max_state_dim), for ``state_token``."""
    cfg_beta: float | None = None
    """Set while sampling with guidance: the batch is [conditional; unconditional] and the velocities combine."""


class PI06RecapPytorch(PI05Pytorch):
    """LeRobot's ``PI05Pytorch`` at any size, with the indicator embedding, the state token and guidance."""

    def __init__(self, config: PI06RecapConfig, rtc_processor: RTCProcessor | None = None):
        # PI05Pytorch.__init__ builds LeRobot's two fixed sizes only; this builds the same modules at any size.
        nn.Module.__init__(self)
        self.config = config
        self.rtc_processor = rtc_processor
        expert = GEMMA_SIZES[config.action_expert_variant]
        self.paligemma_with_expert = SizedPaliGemmaWithExpert(
            vlm=GEMMA_SIZES[config.paligemma_variant],
            expert=expert,
            vision=VISION_SIZES[config.vision_variant],
            vocab_size=config.vlm_vocab_size,
            image_size=config.image_resolution[0],
            precision=config.dtype,
            freeze_vision_encoder=config.freeze_vision_encoder,
            train_expert_only=config.train_expert_only,
        )
        self.action_in_proj = nn.Linear(config.max_action_dim, expert.width)
        self.action_out_proj = nn.Linear(expert.width, config.max_action_dim)
        self.time_mlp_in = nn.Linear(expert.width, expert.width)
        self.time_mlp_out = nn.Linear(expert.width, expert.width)
        if config.state_token:
            self.state_proj = nn.Linear(config.max_state_dim, expert.width)
        if config.indicator_conditioning:
            # Zero-init: a checkpoint trained without it behaves the same until fine-tuning moves it.
            self.indicator_embedding = nn.Embedding(3, expert.width)
            nn.init.zeros_(self.indicator_embedding.weight)
        self.gradient_checkpointing_enabled = False
        self._conditioning = RecapConditioning()
        if config.compile_model:
            torch.set_float32_matmul_precision("high")
            self.sample_actions = torch.compile(self.sample_actions, mode=config.compile_mode)
            self.forward = torch.compile(self.forward, mode=config.compile_mode)

    @contextmanager
    def conditioned(self, conditioning: RecapConditioning) -> Iterator[None]:
        """Condition the calls made inside the block (LeRobot's forward/sample_actions take no such argument)."""
        previous, self._conditioning = self._conditioning, conditioning
        try:
            yield
        finally:
            self._conditioning = previous

    def embed_suffix(self, noisy_actions: Tensor, timestep: Tensor):
        """LeRobot's action tokens and time conditioning, plus the indicator embedding and the state token."""
        action_emb, pad_masks, att_masks, adarms_cond = super().embed_suffix(noisy_actions, timestep)
        conditioning = self._conditioning
        if self.config.indicator_conditioning:
            if conditioning.indicator is None:
                raise ValueError("--policy.indicator_conditioning=true needs the indicator codes")
            codes = conditioning.indicator.to(device=adarms_cond.device, dtype=torch.long) + 1
            adarms_cond = adarms_cond + self.indicator_embedding(codes).to(adarms_cond.dtype)
        if self.config.state_token:
            if conditioning.state is None:
                raise ValueError("--policy.state_token=true needs the state in the batch")
            state = conditioning.state.to(device=action_emb.device, dtype=self.state_proj.weight.dtype)
            state_emb = self.state_proj(state)[:, None, :].to(action_emb.dtype)
            # The state token opens a block of its own: it sees the prefix, the action tokens see it, not back.
            action_emb = torch.cat([state_emb, action_emb], dim=1)
            pad_masks = torch.cat([pad_masks[:, :1], pad_masks], dim=1)
            att_masks = torch.cat([torch.ones_like(att_masks[:, :1]), att_masks], dim=1)
        return action_emb, pad_masks, att_masks, adarms_cond

    def denoise_step(self, prefix_pad_masks, past_key_values, x_t, timestep):
        """LeRobot's velocity; under guidance, v_u + beta (v_c - v_u) for both halves of the [cond; uncond] batch."""
        velocity = super().denoise_step(prefix_pad_masks, past_key_values, x_t, timestep)
        beta = self._conditioning.cfg_beta
        if beta is None:
            return velocity
        v_cond, v_uncond = velocity.chunk(2)
        guided = v_uncond + beta * (v_cond - v_uncond)
        return torch.cat([guided, guided])


# ---------------------------------------------------------------------------------------------------------------
# Loading LeRobot pi05 checkpoints
# ---------------------------------------------------------------------------------------------------------------
UNUSED_PI05_KEYS = re.compile(
    r"^model\.paligemma_with_expert\.(paligemma|gemma_expert)\.lm_head\.weight$"
)
"""pi05 checkpoints carry two vocabulary heads that pi0.5 never reads; this model does not build them."""

NOT_IN_PI05 = re.compile(r"^model\.(state_proj|indicator_embedding)\.")
"""RECAP's own parameters (state token, indicator embedding): pi0.5 has none, so they keep their fresh init."""


def resolve_weights_file(source: str | Path) -> Path:
    """A ``model.safetensors`` from a file, a directory or a Hub repo id."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / "model.safetensors"
    elif not path.exists():
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(repo_id=str(source), filename="model.safetensors"))
        except Exception as err:  # noqa: BLE001  (any hub/network failure gets the same actionable message)
            raise FileNotFoundError(
                f"--policy.base_model={source!r}: no local file or folder and the Hub download failed ({err}). "
                "Pass a local folder holding model.safetensors, or go online / pre-download it."
            ) from err
    if not path.is_file():
        raise FileNotFoundError(f"--policy.base_model: {path} does not exist")
    return path


def load_pi05_weights(policy: PI06RecapPolicy, source: str | Path) -> list[str]:
    """Strictly load pi05 weights (LeRobot's key fixing applied) into ``policy``; returns the skipped keys.

    LeRobot's own ``PI05Policy.from_pretrained`` prints and carries on with random weights when a file is missing
    or keys differ. Here an unreadable file, a missing or unexpected key or a shape mismatch is a ValueError that
    names them.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = resolve_weights_file(source)
    try:
        state_dict = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"--policy.base_model: cannot read {path} as safetensors ({err})") from err
    fixed = policy._fix_pytorch_state_dict_keys(state_dict, policy.config)  # LeRobot's renames, as pi05 loads
    checkpoint = {key if key.startswith("model.") else f"model.{key}": value for key, value in fixed.items()}
    skipped = sorted(key for key in checkpoint if UNUSED_PI05_KEYS.search(key))
    checkpoint = {key: value for key, value in checkpoint.items() if key not in skipped}
    own = {key: value for key, value in policy.state_dict().items() if not NOT_IN_PI05.search(key)}
    missing = sorted(set(own) - set(checkpoint))
    unexpected = sorted(set(checkpoint) - set(own))
    mismatched = sorted(
        f"{key}: checkpoint {tuple(checkpoint[key].shape)} vs model {tuple(own[key].shape)}"
        for key in set(own) & set(checkpoint)
        if checkpoint[key].shape != own[key].shape
    )
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{path} does not match this pi06_recap model (check --policy.paligemma_variant/action_expert_variant/"
            f"vision_variant/vlm_vocab_size/max_action_dim/image_resolution):\n"
            f"  missing ({len(missing)}):\n    {_listing(missing)}\n"
            f"  unexpected ({len(unexpected)}):\n    {_listing(unexpected)}\n"
            f"  shape mismatches ({len(mismatched)}):\n    {_listing(mismatched)}"
        )
    with torch.no_grad():
        for key, param in own.items():
            param.copy_(checkpoint[key].to(param.dtype))
    return skipped


def _listing(items: list[str], limit: int = 20) -> str:
    more = f"\n    ... {len(items) - limit} more" if len(items) > limit else ""
    return "\n    ".join(items[:limit]) + more


# ---------------------------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------------------------
class PI06RecapPolicy(PI05Policy):
    """LeRobot's pi0.5 policy conditioned on RECAP's advantage indicator, trained and served by the stock CLIs."""

    config_class = PI06RecapConfig
    name = "pi06_recap"

    def __init__(self, config: PI06RecapConfig, **kwargs: Any):
        # PI05Policy.__init__ builds LeRobot's fixed-size PI05Pytorch; the same steps with this model instead.
        PreTrainedPolicy.__init__(self, config)
        from lerobot_recap.data.frame_labels import FrameLabels

        config.validate_features()
        self.config = config
        self.init_rtc_processor()
        self.model = PI06RecapPytorch(config, rtc_processor=self.rtc_processor)
        if config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self._tokenizer = None
        self._tokenizer_source = kwargs.get("tokenizer_dir") or config.tokenizer_name
        self.frame_labels = None
        self._label_names: tuple[str, ...] = ()
        if config.per_arm_indicator:
            self.frame_labels = FrameLabels.from_policy_kwargs(kwargs, names=PER_ARM_COLUMNS)
            self._label_names = PER_ARM_COLUMNS if self.frame_labels is not None else ()
        if self.frame_labels is None:
            self.frame_labels = FrameLabels.from_policy_kwargs(kwargs, names=(ADV_IND,))
            self._label_names = (ADV_IND,) if self.frame_labels is not None else ()
        self._warned_unlabeled = False
        self._warned_truncation = False
        if config.delta_actions and config.delta_action_mask is None:
            config.delta_action_mask = default_delta_mask(config.action_feature_names, self._action_dim)
        if config.base_model and not kwargs.get("skip_base_model", False):
            skipped = load_pi05_weights(self, config.base_model)
            logger.info("Loaded pi0.5 weights from %s (skipped the unused keys %s)", config.base_model, skipped)
        self.model.to(config.device)
        self.reset()

    # -- checkpoints ---------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_name_or_path, *, config=None, strict: bool = True, **kwargs):
        """Load a pi06_recap checkpoint strictly, with the tokenizer saved beside it when there is one.

        LeRobot's ``PI05Policy.from_pretrained`` falls back to random weights on any error; this goes through
        ``PreTrainedPolicy.from_pretrained`` instead, strict by default.
        """
        from lerobot.configs.policies import PreTrainedConfig

        hub_keys = ("force_download", "resume_download", "proxies", "token", "cache_dir", "local_files_only", "revision")
        hub_kwargs = {k: kwargs.pop(k) for k in hub_keys if k in kwargs}
        if config is None:
            config = PreTrainedConfig.from_pretrained(pretrained_name_or_path, **hub_kwargs)
        kwargs.setdefault("tokenizer_dir", _find_checkpoint_tokenizer(pretrained_name_or_path, hub_kwargs))
        kwargs["skip_base_model"] = True  # the checkpoint's own weights replace the base model's anyway
        return super(PI05Policy, cls).from_pretrained(
            pretrained_name_or_path, config=config, strict=strict, **hub_kwargs, **kwargs
        )

    @classmethod
    def _load_as_safetensor(cls, model: PI06RecapPolicy, model_file: str, map_location: str, strict: bool):
        """Load the weights (0.1 checkpoints' names upgraded), naming what differs instead of a bare RuntimeError."""
        from safetensors.torch import load_file

        from lerobot_recap.policies.legacy_checkpoints import upgrade_pi06_weights

        state_dict = upgrade_pi06_weights(load_file(model_file))
        own = set(model.state_dict())
        missing, unexpected = sorted(own - set(state_dict)), sorted(set(state_dict) - own)
        if strict and (missing or unexpected):
            raise ValueError(
                f"{model_file} does not match this pi06_recap model (its config.json sizes): missing "
                f"{_listing(missing, 5)}; unexpected {_listing(unexpected, 5)}"
            )
        model.load_state_dict(state_dict, strict=strict)
        return model

    def _save_pretrained(self, save_directory: Path, state_dict: dict[str, Tensor] | None = None) -> None:
        super()._save_pretrained(save_directory, state_dict=state_dict)
        try:
            tokenizer = self.tokenizer
        except Exception as err:  # noqa: BLE001  (an unreachable tokenizer must not lose the weights)
            logger.warning("Could not save the tokenizer with the checkpoint (%s)", err)
            return
        tokenizer.save_pretrained(str(Path(save_directory) / TOKENIZER_SUBDIR))

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._tokenizer_source == LOCAL_TOKENIZER:
                from lerobot_recap.models.local_tokenizer import build_local_tokenizer

                self._tokenizer = build_local_tokenizer(vocab_size=self.config.vlm_vocab_size)
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self._tokenizer_source))
        return self._tokenizer

    def _validate_peft_config(self, peft_config) -> None:
        # LeRobot asks for a pretrained_path; here pi0.5 weights may also come from base_model.
        if not (self.config.pretrained_path or self.config.base_model):
            raise ValueError(
                "LoRA on random weights is unlikely to learn: start from pi0.5 weights with "
                "--policy.base_model=lerobot/pi05_base (or a pi06_recap checkpoint with --policy.path)"
            )

    # -- LeRobot API ---------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, dict]:
        """pi0.5's flow-matching loss on prompts that carry each frame's clause (dropped at random)."""
        prompts, codes = self.training_prompts(batch)
        batch = self._with_tokens(batch, prompts)
        if self.config.delta_actions:
            batch[ACTION] = batch[ACTION] - self._delta_reference(batch)[:, None, :].to(batch[ACTION].dtype)
        conditioning = RecapConditioning(
            indicator=self._indicator_input(codes), state=self._state_token_input(batch)
        )
        with self.model.conditioned(conditioning):
            loss, info = super().forward(batch, reduction=reduction)
        flat = np.array(flat_codes(codes))
        info["clause_positive"] = float((flat > 0).mean())
        info["clause_negative"] = float((flat < 0).mean())
        return loss, info

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs: Any) -> Tensor:
        """pi0.5's sampling, prompted with ``inference_advantage``; with guidance, [cond; uncond] in one batch.

        Extra keyword arguments go to LeRobot's ``sample_actions``: ``noise`` (B, chunk_size, max_action_dim) and
        the RTC arguments.
        """
        cond_prompts, uncond_prompts = self.inference_prompts(batch)
        code = ADV_IND_CODES[self.config.inference_advantage]
        indicator = [code] * len(cond_prompts)
        state = self._state_token_input(batch)
        reference = self._delta_reference(batch) if self.config.delta_actions else None
        cfg_beta = None
        if uncond_prompts is not None:
            if kwargs.get("noise") is None:
                # Both halves must start from the same noise: guidance combines v_c and v_u at the same point x_t.
                # Left to pi05, the 2B batch would draw a different noise per half and mix unrelated velocities.
                shape = (len(cond_prompts), self.config.chunk_size, self.config.max_action_dim)
                kwargs["noise"] = self.model.sample_noise(shape, next(self.model.parameters()).device)
            batch = _doubled(batch, self.config.image_features)
            kwargs = {k: _doubled_value(v) for k, v in kwargs.items()}
            indicator = indicator + [0] * len(uncond_prompts)
            state = None if state is None else torch.cat([state, state])
            cfg_beta = self.config.cfg_beta
        batch = self._with_tokens(batch, cond_prompts + (uncond_prompts or []))
        conditioning = RecapConditioning(indicator=self._indicator_input(indicator), state=state, cfg_beta=cfg_beta)
        with self.model.conditioned(conditioning):
            actions = super().predict_action_chunk(batch, **kwargs)
        actions = actions[: len(cond_prompts)]  # under guidance both halves are the same guided sample
        if reference is not None:
            actions = actions + reference[:, None, :].to(actions.dtype)
        return actions

    # -- prompts -------------------------------------------------------------------------------------------------
    def training_prompts(self, batch: dict[str, Any]) -> tuple[list[str], list]:
        """Training prompts (clause from each frame's adv_ind, dropped with indicator_dropout) and their codes."""
        heads = self._prompt_heads(batch)
        codes = self._training_codes(batch, len(heads))
        return [build_prompt(h, c) for h, c in zip(heads, codes, strict=True)], codes

    def inference_prompts(self, batch: dict[str, Any]) -> tuple[list[str], list[str] | None]:
        """Conditional prompts (inference_advantage clause) and, with guidance, the clause-free ones."""
        heads = self._prompt_heads(batch)
        code = ADV_IND_CODES[self.config.inference_advantage]
        per_arm = self.config.per_arm_indicator
        cond = [build_prompt(h, (code, code) if per_arm else code) for h in heads]
        if not self.config.guided:
            return cond, None
        return cond, [build_prompt(h, (0, 0) if per_arm else 0) for h in heads]

    def _prompt_heads(self, batch: dict[str, Any]) -> list[str]:
        heads = batch.get("task")
        if heads is None:
            raise ValueError(
                "the batch has no 'task' prompt: run it through the pi06_recap pre-processor "
                "(make_pi06_recap_pre_post_processors or the checkpoint's policy_preprocessor.json)"
            )
        return [heads] if isinstance(heads, str) else list(heads)

    def _training_codes(self, batch: dict[str, Any], size: int) -> list:
        """Per-sample indicator codes for training prompts, with clause dropout applied.

        The dropout draws from numpy's generator (seeded by lerobot-train's --seed), not torch's: torch's stream
        then gives the flow-matching noise and time exactly as LeRobot's pi05 draws them.
        """
        labels = None
        if self.frame_labels is not None and "index" in batch:
            table = self.frame_labels.lookup(batch["index"])
            labels = np.stack([_to_numpy(table[n]).reshape(-1) for n in self._label_names], axis=1)
        elif ADV_IND in batch:
            labels = _to_numpy(batch[ADV_IND]).reshape(size, 1)
        if labels is None:
            if not self._warned_unlabeled:
                logger.warning("pi06_recap: no adv_ind labels for this dataset: training without the clause")
                self._warned_unlabeled = True
            labels = np.zeros((size, 1), dtype=np.int64)
        labels = labels.astype(np.int64)
        if not np.isin(labels, (-1, 0, 1)).all():
            raise ValueError(f"adv_ind codes must be +1/-1/0, got {sorted(set(labels.ravel().tolist()))}")
        if self.training and self.config.indicator_dropout > 0:
            labels[np.random.random(size) < self.config.indicator_dropout] = 0
        if self.config.per_arm_indicator:
            labels = np.repeat(labels, 2, axis=1) if labels.shape[1] == 1 else labels
            return [(int(left), int(right)) for left, right in labels]
        return [int(c) for c in labels[:, 0]]

    def _with_tokens(self, batch: dict[str, Any], prompts: list[str]) -> dict[str, Any]:
        """A shallow copy of the batch with the prompts tokenized where LeRobot's pi05 reads them."""
        # Padded to the batch's longest prompt, not to max_length (pi05's processor): padding is masked out, and
        # on small models it would be most of the compute.
        encoded = self.tokenizer(
            prompts, padding="longest", max_length=self.config.tokenizer_max_length, truncation=True, return_tensors="pt"
        )
        tokens, masks = encoded["input_ids"], encoded["attention_mask"].bool()
        if int(tokens.max()) >= self.config.vlm_vocab_size:
            raise ValueError(
                f"the tokenizer {self._tokenizer_source} emits ids up to {int(tokens.max())} but the model's "
                f"vocabulary has {self.config.vlm_vocab_size}: set --policy.vlm_vocab_size to the tokenizer's size"
            )
        if tokens.shape[1] >= self.config.tokenizer_max_length and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "pi06_recap: a prompt filled all %d tokens and may be truncated (raise --policy.tokenizer_max_length)",
                self.config.tokenizer_max_length,
            )
        device = next(self.parameters()).device
        return {**batch, OBS_LANGUAGE_TOKENS: tokens.to(device), OBS_LANGUAGE_ATTENTION_MASK: masks.to(device)}

    # -- RECAP inputs --------------------------------------------------------------------------------------------
    @property
    def _action_dim(self) -> int:
        feature = self.config.action_feature
        return feature.shape[0] if feature is not None else self.config.max_action_dim

    def _indicator_input(self, codes: list) -> Tensor | None:
        """Per-sample indicator codes (B,) for ``indicator_conditioning`` (None when it is off)."""
        if not self.config.indicator_conditioning:
            return None
        return torch.tensor(flat_codes(codes), dtype=torch.long)

    def _state_token_input(self, batch: dict[str, Tensor]) -> Tensor | None:
        """The normalized state padded to max_state_dim, for the state token (None when it is off)."""
        if not self.config.state_token:
            return None
        state = latest_state(batch, "--policy.state_token=true")
        return F.pad(state, (0, self.config.max_state_dim - state.shape[-1]))

    def _delta_reference(self, batch: dict[str, Tensor]) -> Tensor:
        """The normalized state on the delta dims, zero on absolute ones: actions are predicted relative to it."""
        state = latest_state(batch, "--policy.delta_actions=true")
        mask = torch.tensor(self.config.delta_action_mask, dtype=state.dtype, device=state.device)
        if state.shape[-1] < mask.shape[0]:
            raise ValueError(
                f"--policy.delta_actions=true: the state has {state.shape[-1]} dims but the action "
                f"{mask.shape[0]}; delta actions need the state to list the action's joints first, in order"
            )
        return state[..., : mask.shape[0]] * mask


def latest_state(batch: dict[str, Tensor], needed_by: str) -> Tensor:
    """The batch's (normalized) state as float (B, D), the latest frame when it holds several."""
    state = batch.get(OBS_STATE)
    if state is None:
        raise ValueError(f"{needed_by} needs {OBS_STATE!r} in the batch")
    state = state.float()
    return state[:, -1] if state.dim() == 3 else state  # (B, n_obs_steps, D): the latest observation


def _doubled(batch: dict[str, Any], image_keys) -> dict[str, Any]:
    """The batch with every camera repeated: row i and row B + i are the same observation."""
    return {key: _doubled_value(value) if key in image_keys else value for key, value in batch.items()}


def _doubled_value(value: Any) -> Any:
    return torch.cat([value, value]) if isinstance(value, Tensor) else value


def _to_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def default_delta_mask(action_names: list[str] | None, action_dim: int) -> list[bool]:
    """Delta on every action dim except grippers (named ``*gripper*`` in the dataset), as openpi does for arms."""
    if isinstance(action_names, dict):  # LeRobot sometimes nests names as {"motors": [...]}
        action_names = next(iter(action_names.values()), None)
    if not action_names or len(action_names) != action_dim:
        logger.warning("pi06_recap: no action names to find the grippers; every action dim is a delta")
        return [True] * action_dim
    return ["gripper" not in str(name).lower() for name in action_names]


def _find_checkpoint_tokenizer(path_or_id, hub_kwargs: dict) -> str | None:
    """The ``tokenizer/`` folder of a checkpoint (local dir or Hub repo), or None."""
    local = Path(str(path_or_id)) / TOKENIZER_SUBDIR
    if local.is_dir():
        return str(local)
    if os.path.isdir(str(path_or_id)):
        return None
    try:
        from huggingface_hub import snapshot_download

        root = snapshot_download(
            repo_id=str(path_or_id),
            allow_patterns=[f"{TOKENIZER_SUBDIR}/*"],
            revision=hub_kwargs.get("revision"),
            cache_dir=hub_kwargs.get("cache_dir"),
            token=hub_kwargs.get("token"),
        )
    except Exception:  # noqa: BLE001  (no tokenizer in the repo or offline: fall back to config.tokenizer_name)
        return None
    candidate = Path(root) / TOKENIZER_SUBDIR
    return str(candidate) if candidate.is_dir() else None
