"""A content-addressed store of metric values and deep features (SQLite in the evalkit cache).

Keys are (metric with its version, content hash of the reference file, content hash of the
reconstruction file), so a re-run computes only what changed, whatever the files are called.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from ..files import cache_dir


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32]


class MetricCache:
    """Values and feature arrays by key; ``enabled=False`` stores and finds nothing."""

    def __init__(self, path: str | Path | None = None, enabled: bool = True):
        self.enabled = enabled
        if enabled:
            path = Path(path or cache_dir() / "metrics.sqlite")
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS pair_values (metric TEXT, ref TEXT, rec TEXT,"
                " value REAL, PRIMARY KEY (metric, ref, rec))"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS features (model TEXT, image TEXT, shape TEXT,"
                " data BLOB, PRIMARY KEY (model, image))"
            )

    def values(self, metric: str, ref: str) -> dict[str, float]:
        """Stored values of ``metric`` between reference ``ref`` and any reconstruction."""
        if not self.enabled:
            return {}
        return dict(
            self.db.execute("SELECT rec, value FROM pair_values WHERE metric = ? AND ref = ?", (metric, ref))
        )

    def put_values(self, metric: str, ref: str, values: dict[str, float]) -> None:
        if self.enabled and values:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO pair_values VALUES (?, ?, ?, ?)",
                    [(metric, ref, rec, v) for rec, v in values.items()],
                )

    def features(self, model: str, image: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        row = self.db.execute(
            "SELECT shape, data FROM features WHERE model = ? AND image = ?", (model, image)
        ).fetchone()
        if row is None:
            return None
        shape = tuple(int(s) for s in row[0].split("x"))
        return np.frombuffer(row[1], dtype=np.float32).reshape(shape)

    def put_features(self, model: str, image: str, array: np.ndarray) -> None:
        if self.enabled:
            array = np.ascontiguousarray(array, dtype=np.float32)
            with self.db:
                self.db.execute(
                    "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)",
                    (model, image, "x".join(map(str, array.shape)), array.tobytes()),
                )
