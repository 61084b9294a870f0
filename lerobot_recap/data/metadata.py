"""RECAP metadata of a dataset: ``meta/recap.json``.

Per-frame facts live in the five columns; everything else lives in one JSON file next to LeRobot's own
``meta/info.json``::

    {
      "repo_id": "me/yam_round1_recap",
      "convention": {"version": "recap-v1", "c_fail_coef": 1.0},
      "tasks": {"0": {"task": "hand the cube over", "norm_length": 120, "c_fail": 120.0, "normalizer": 240.0}},
      "episodes": {"0": {"outcome": "success", "source": "demo"}, ...},
      "labels": {...provenance of the latest lerobot-recap-label run...},
      "history": [{"step": "annotate", "time": "...", ...}, ...]
    }

Recorders (``recap_dagger``, the simulated data generator) write only the ``episodes`` part with outcomes and,
where known, sources; ``lerobot-recap-annotate`` reads it with no manual step and fills in the rest. ``repo_id`` is
the id a transform gave its output: LeRobot's ``info.json`` has no such field (``DatasetInfo.from_dict`` drops
unknown keys), so it lives here.
Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lerobot_recap.data.contract import CONVENTION_VERSION, Outcome, Source

RECAP_META_PATH = "meta/recap.json"


@dataclass
class TaskConstants:
    """The convention's constants of one task: ``L``, ``C_fail`` and the normalizer ``D = L + C_fail``."""

    task: str
    norm_length: int
    c_fail: float

    @property
    def normalizer(self) -> float:
        return self.norm_length + self.c_fail

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "norm_length": self.norm_length,
            "c_fail": self.c_fail,
            "normalizer": self.normalizer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskConstants:
        return cls(task=data["task"], norm_length=int(data["norm_length"]), c_fail=float(data["c_fail"]))


@dataclass
class EpisodeInfo:
    """What is known of one episode beyond its frames."""

    outcome: Outcome = Outcome.UNKNOWN
    source: Source | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"outcome": self.outcome.value}
        if self.source is not None:
            data["source"] = self.source.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeInfo:
        source = data.get("source")
        return cls(outcome=Outcome(data.get("outcome", "unknown")), source=Source(source) if source else None)


@dataclass
class RecapMetadata:
    """The content of ``meta/recap.json``."""

    convention_version: str | None = None
    c_fail_coef: float | None = None
    repo_id: str | None = None
    tasks: dict[int, TaskConstants] = field(default_factory=dict)
    episodes: dict[int, EpisodeInfo] = field(default_factory=dict)
    labels: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_annotated(self) -> bool:
        return self.convention_version is not None

    def check_convention(self, expected: str = CONVENTION_VERSION) -> None:
        """Raise unless the dataset was annotated with the ``expected`` convention."""
        if self.convention_version is None:
            raise ValueError("the dataset has no RECAP annotation: run lerobot-recap-annotate on it first")
        if self.convention_version != expected:
            raise ValueError(
                f"the dataset was annotated with convention {self.convention_version!r} but {expected!r} is "
                "expected: re-run lerobot-recap-annotate with this version of lerobot-recap"
            )

    def add_history(self, step: str, **details: Any) -> None:
        self.history.append({"step": step, "time": datetime.now(timezone.utc).isoformat(), **details})

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.repo_id is not None:
            data["repo_id"] = self.repo_id
        if self.convention_version is not None:
            data["convention"] = {"version": self.convention_version, "c_fail_coef": self.c_fail_coef}
            data["tasks"] = {str(k): v.to_dict() for k, v in sorted(self.tasks.items())}
        data["episodes"] = {str(k): v.to_dict() for k, v in sorted(self.episodes.items())}
        if self.labels is not None:
            data["labels"] = self.labels
        if self.history:
            data["history"] = self.history
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecapMetadata:
        convention = data.get("convention") or {}
        return cls(
            convention_version=convention.get("version"),
            c_fail_coef=convention.get("c_fail_coef"),
            repo_id=data.get("repo_id"),
            tasks={int(k): TaskConstants.from_dict(v) for k, v in (data.get("tasks") or {}).items()},
            episodes={int(k): EpisodeInfo.from_dict(v) for k, v in (data.get("episodes") or {}).items()},
            labels=data.get("labels"),
            history=list(data.get("history") or []),
        )


def load_recap_metadata(root: str | Path) -> RecapMetadata:
    """Read ``meta/recap.json`` of a dataset root (an empty metadata if the file does not exist)."""
    path = Path(root) / RECAP_META_PATH
    if not path.exists():
        return RecapMetadata()
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):  # a list or a number: from_dict would fail with an AttributeError traceback
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object")
        return RecapMetadata.from_dict(data)
    except (KeyError, ValueError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not a valid RECAP metadata file: {err}") from err


def save_recap_metadata(root: str | Path, metadata: RecapMetadata) -> Path:
    """Write ``meta/recap.json`` atomically."""
    path = Path(root) / RECAP_META_PATH
    write_json_atomic(path, metadata.to_dict())
    return path


def record_episode_outcomes(
    root: str | Path,
    outcomes: dict[int, Outcome | str],
    sources: dict[int, Source | str] | None = None,
) -> None:
    """Record episode outcomes (and sources) in a dataset's ``meta/recap.json``: what recorders call.

    Existing entries of other episodes are kept; entries of the given episodes are replaced.
    """
    metadata = load_recap_metadata(root)
    sources = sources or {}
    for episode, outcome in outcomes.items():
        source = sources.get(episode)
        metadata.episodes[int(episode)] = EpisodeInfo(
            outcome=Outcome(outcome), source=Source(source) if source is not None else None
        )
    save_recap_metadata(root, metadata)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temp file in the same directory and an atomic rename.

    The temp file is created with ``open(..., "x")``, not ``tempfile.mkstemp``: mkstemp makes it mode 0600 whatever
    the umask, and the rename would hand that to ``info.json`` / ``stats.json`` / ``recap.json``, so a copy shared
    with a group or served to a trainer under another user could not be read. ``open`` gives the file the mode the
    user's umask gives any new file (0644 under umask 022), like every other file of the dataset.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "x") as f:  # "x": a fresh file, never one a concurrent writer is filling
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
