"""How the RECAP columns reach a policy inside stock ``lerobot-train``.

Stock LeRobot 0.4.4 drops every top-level batch key that is not ``observation.*``, ``action``, a reward/done key
or one of a few complementary keys before the policy sees the batch; ``adv_ind`` and ``intervention`` are
dropped. The global frame ``index`` is one of the complementary keys that survive, on a fresh run and on
``--resume`` alike (where the processors are reloaded from the checkpoint with LeRobot's fixed converters).

So the policy reads the columns itself: ``make_policy`` hands every policy the training dataset's metadata
(``dataset_meta``, fresh and resumed), and :class:`FrameLabels` loads the wanted columns of that dataset once into
dense arrays indexed by ``index``. In ``forward`` the policy calls ``lookup(batch["index"])``. The table is the
*current* dataset's, so a run started from another checkpoint with ``--policy.path`` still reads the labels of
the data it trains on. At inference (eval, record) there is no dataset and no table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_recap.data.contract import ADV_IND, INTERVENTION


class FrameLabels:
    """Per-frame columns of a dataset held in dense arrays indexed by the global frame ``index``."""

    def __init__(self, columns: dict[str, np.ndarray], present: np.ndarray, root: Path | None = None):
        self.columns = columns
        self.present = present
        self.root = root

    @classmethod
    def from_dataset_root(cls, root: str | Path, names: Sequence[str] = (ADV_IND, INTERVENTION)) -> FrameLabels:
        """Read ``names`` (and ``index``) from every data parquet file of the dataset at ``root``."""
        import pyarrow.parquet as pq

        root = Path(root)
        files = sorted((root / "data").glob("*/*.parquet"))
        if not files:
            raise FileNotFoundError(f"no data parquet files under {root / 'data'}")
        schema_names = set(pq.read_schema(files[0]).names)
        missing = [name for name in names if name not in schema_names]
        if missing:
            raise ValueError(
                f"the dataset at {root} lacks the RECAP columns {missing}: run lerobot-recap-annotate on it "
                "and train on the annotated copy"
            )
        tables = [pq.read_table(f, columns=["index", *names]) for f in files]
        index = np.concatenate([t.column("index").to_numpy() for t in tables]).astype(np.int64)
        size = int(index.max()) + 1 if index.size else 0
        present = np.zeros(size, dtype=bool)
        present[index] = True
        columns = {}
        for name in names:
            values = np.concatenate([t.column(name).to_numpy(zero_copy_only=False) for t in tables])
            dense = np.zeros(size, dtype=values.dtype)
            dense[index] = values
            columns[name] = dense
        return cls(columns, present, root)

    @classmethod
    def from_policy_kwargs(
        cls, kwargs: dict[str, Any], names: Sequence[str] = (ADV_IND, INTERVENTION), required: bool = False
    ) -> FrameLabels | None:
        """Build the table from the ``dataset_meta`` that ``make_policy`` passes to a policy's ``__init__``.

        Returns None where there is no dataset (eval, record) or it lacks the columns, unless ``required``.
        """
        meta = kwargs.get("dataset_meta")
        if meta is None or getattr(meta, "root", None) is None:
            if required:
                raise ValueError("this policy needs the training dataset's metadata to read the RECAP columns")
            return None
        try:
            return cls.from_dataset_root(meta.root, names)
        except ValueError:
            if required:
                raise
            return None

    def lookup(self, index) -> dict[str, Any]:
        """The columns' values for a batch of global frame indices (a torch tensor or an array).

        Returns torch tensors on the index's device when given a tensor, numpy arrays otherwise.
        """
        is_tensor = hasattr(index, "detach")
        flat = index.detach().cpu().numpy().reshape(-1) if is_tensor else np.asarray(index).reshape(-1)
        flat = flat.astype(np.int64)
        unknown = (flat < 0) | (flat >= self.present.size)
        unknown[~unknown] = ~self.present[flat[~unknown]]
        if unknown.any():
            raise KeyError(
                f"frame indices {flat[unknown][:10].tolist()} are not in the labeled dataset "
                f"{self.root}: the batch and the label table come from different datasets"
            )
        values = {name: column[flat] for name, column in self.columns.items()}
        if not is_tensor:
            return values
        import torch

        return {name: torch.from_numpy(v).to(index.device) for name, v in values.items()}
