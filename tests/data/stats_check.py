"""Check a dataset's ``stats.json`` and per-episode stats (``meta/episodes``) against the columns they describe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_recap.data.dataset_io import read_frame_columns

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STATS = ("min", "max", "mean", "std", "count", *QUANTILES)


def _expected(values: np.ndarray) -> dict[str, np.ndarray]:
    values = values.reshape(values.shape[0], -1).astype(np.float64)
    expected = {
        "min": values.min(axis=0),
        "max": values.max(axis=0),
        "mean": values.mean(axis=0),
        "std": values.std(axis=0),
        "count": np.array([values.shape[0]]),
    }
    expected.update({key: np.quantile(values, q, axis=0) for key, q in QUANTILES.items()})
    return expected


def assert_stats_describe_columns(root: Path, names: list[str]) -> None:
    """``stats.json`` and every episode's ``stats/<name>/<stat>`` hold the statistics of the column's values.

    Also checks the layout LeRobot 0.6 writes for its own numeric features: the same set of statistics, float64
    lists (count an int64 list) in ``meta/episodes``, and a ``stats.json`` that LeRobot's metadata loads.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    columns = read_frame_columns(root, ["episode_index", *names])
    stats = json.loads((root / "meta" / "stats.json").read_text())
    episodes = pa.concat_tables([pq.read_table(p) for p in sorted((root / "meta" / "episodes").rglob("*.parquet"))])
    reference = next(name for name in ("frame_index", "timestamp") if f"stats/{name}/min" in episodes.column_names)
    episode_ids = episodes.column("episode_index").to_numpy()
    meta = LeRobotDatasetMetadata("local/check", root=root)
    for name in names:
        values = columns[name]
        assert set(stats[name]) == set(STATS) == set(stats[reference]), name
        for key, value in _expected(values).items():
            np.testing.assert_allclose(stats[name][key], value, rtol=1e-6, atol=1e-7, err_msg=f"stats.json {name} {key}")
            np.testing.assert_allclose(meta.stats[name][key], value, rtol=1e-6, atol=1e-7, err_msg=f"meta.stats {name} {key}")
        for key in STATS:
            column = f"stats/{name}/{key}"
            assert episodes.schema.field(column).type == episodes.schema.field(f"stats/{reference}/{key}").type, column
        for row, episode in enumerate(episode_ids):
            in_episode = values[columns["episode_index"] == episode]
            for key, value in _expected(in_episode).items():
                stored = episodes.column(f"stats/{name}/{key}")[row].as_py()
                np.testing.assert_allclose(stored, value, rtol=1e-6, atol=1e-7, err_msg=f"episode {episode} {name} {key}")
