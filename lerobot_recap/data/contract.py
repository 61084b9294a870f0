"""The RECAP data contract: column names, dtypes, indicator codes, episode outcome and source.

The five per-frame columns keep pistar's names so that datasets move between pistar/limb and LeRobot without
renaming:

============== ======= ===================================================================================
column         dtype   meaning
============== ======= ===================================================================================
intervention   int64   1 where a human drove the frame (teleop demo or correction), else 0
reward         float32 sparse task reward: 1 on the last frame of a successful episode, else 0
reward_label   float32 dense RECAP reward: a constant step cost, a failure penalty on a failed episode's last frame
value_label    float32 normalized return-to-go in [-1, 0]: reverse cumulative sum of ``reward_label``
adv_ind        int64   improvement indicator: +1 positive, -1 negative, 0 none (pistar's strings on export)
============== ======= ===================================================================================

The relabel stage (``lerobot-recap-label``) adds two more float32 columns: ``advantage`` (the continuous
advantage, kept so a new threshold needs no value-model run) and ``value`` (the value model's prediction).

``adv_ind`` is stored as an integer code rather than a string so that it collates into a tensor, gets
``stats.json`` entries like every other column, and survives LeRobot's ``merge_datasets``; the pistar export
writes the strings ``"positive"``, ``"negative"`` and ``"none"``.

Everything that is not per frame (the convention's version and constants per task, the outcome and source of
each episode, the provenance of labels) lives in ``meta/recap.json`` (see :mod:`lerobot_recap.data.metadata`).
"""

from __future__ import annotations

from enum import Enum

CONVENTION_VERSION = "recap-v1"
"""Version of the reward/value convention. Bumped whenever a formula in ``recap_math`` changes meaning."""

INTERVENTION = "intervention"
REWARD = "reward"
REWARD_LABEL = "reward_label"
VALUE_LABEL = "value_label"
ADV_IND = "adv_ind"
ADVANTAGE = "advantage"
VALUE = "value"

RECAP_COLUMNS = (INTERVENTION, REWARD, REWARD_LABEL, VALUE_LABEL, ADV_IND)
"""The five columns every annotated dataset carries."""

LABEL_COLUMNS = (ADVANTAGE, VALUE)
"""Columns added by the relabel stage (stage 5)."""

RECAP_FEATURES: dict[str, dict] = {
    INTERVENTION: {"dtype": "int64", "shape": [1], "names": ["intervention_flag"]},
    REWARD: {"dtype": "float32", "shape": [1], "names": None},
    REWARD_LABEL: {"dtype": "float32", "shape": [1], "names": None},
    VALUE_LABEL: {"dtype": "float32", "shape": [1], "names": None},
    ADV_IND: {"dtype": "int64", "shape": [1], "names": ["adv_ind_code"]},
}
"""LeRobot ``info.json`` feature declarations of the five columns."""

LABEL_FEATURES: dict[str, dict] = {
    ADVANTAGE: {"dtype": "float32", "shape": [1], "names": None},
    VALUE: {"dtype": "float32", "shape": [1], "names": None},
}

ADV_POSITIVE = 1
ADV_NEGATIVE = -1
ADV_NONE = 0

ADV_IND_STRINGS = {ADV_POSITIVE: "positive", ADV_NEGATIVE: "negative", ADV_NONE: "none"}
"""Integer code -> pistar's string."""

ADV_IND_CODES = {name: code for code, name in ADV_IND_STRINGS.items()}
"""pistar's string -> integer code."""

PISTAR_COLUMN_ALIASES = {"value_lable": VALUE_LABEL}
"""Legacy misspellings that pistar's readers still accept."""


class Outcome(str, Enum):
    """How an episode ended. ``UNKNOWN`` is never silently treated as a failure."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class Source(str, Enum):
    """Who drove an episode: a human demo, the policy alone, or the policy with human corrections."""

    DEMO = "demo"
    ROLLOUT = "rollout"
    CORRECTION = "correction"


def source_from_intervention(n_human_frames: int, n_frames: int) -> Source:
    """An episode is a demo if a human drove every frame, a rollout if none, otherwise a corrected rollout."""
    if n_human_frames >= n_frames:
        return Source.DEMO
    if n_human_frames == 0:
        return Source.ROLLOUT
    return Source.CORRECTION


def adv_ind_to_string(code: int) -> str:
    """Integer ``adv_ind`` code -> pistar's string; raises on an unknown code."""
    try:
        return ADV_IND_STRINGS[int(code)]
    except KeyError as err:
        raise ValueError(f"adv_ind code {code!r} is not one of {sorted(ADV_IND_STRINGS)}") from err


def adv_ind_from_string(name: str) -> int:
    """pistar's string (``positive``/``negative``/``none``) -> integer code; raises on anything else."""
    try:
        return ADV_IND_CODES[name.strip().lower()]
    except KeyError as err:
        raise ValueError(f"adv_ind value {name!r} is not one of {sorted(ADV_IND_CODES)}") from err
