"""The Inception features behind a table's FID/KID, kept beside the table so that the set-level
metrics of shards are computed from the merged features (never averaged over shards).

:class:`Features` maps each path of a pairs table (as the table writes it) to the content hash
of the file, and each (mode, hash) — mode ``image`` or ``patch`` — to its pool3 features
(float32, P×2048). On disk it is one ``.npz`` (NumPy's zip of arrays; no pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import atomic_path

#: The feature modes, in the order of a set metric's columns (e.g. ``fid``, ``fid_patch``).
MODES = ("image", "patch")


def sample_count_column(mode: str) -> str:
    """The column that counts a set's samples in ``mode`` (``n_samples``, ``n_samples_patch``)."""
    return "n_samples" if mode == MODES[0] else f"n_samples_{mode}"


@dataclass
class Features:
    sha: dict[str, str]  # path as in the table → content hash
    arrays: dict[tuple[str, str], np.ndarray]  # (mode, hash) → features
    metrics: tuple[str, ...] = ()  # the set-level metrics they were asked for

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m for m in MODES if any(k[0] == m for k in self.arrays))

    def save(self, path: str | Path) -> None:
        arrays = {f"{mode}/{h}": f for (mode, h), f in self.arrays.items()}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as out:
                np.savez(
                    out,
                    paths=np.array(list(self.sha), dtype=str),
                    hashes=np.array(list(self.sha.values()), dtype=str),
                    metrics=np.array(self.metrics, dtype=str),
                    **arrays,
                )

    @classmethod
    def load(cls, path: str | Path) -> Features:
        path = Path(path)
        if not path.is_file():
            raise InputError(
                f"{path}: no features file (FID/KID of merged shards are computed "
                "from the features 'evalkit metrics' writes beside its table)"
            )
        with np.load(path, allow_pickle=False) as data:
            sha = dict(zip(data["paths"].tolist(), data["hashes"].tolist()))
            arrays = {tuple(k.split("/", 1)): data[k] for k in data.files if "/" in k}
            return cls(sha, arrays, tuple(data["metrics"].tolist()))

    def rebased(self, move: Callable[[str], str]) -> Features:
        """The same features with every path passed through ``move``."""
        return Features({move(p): h for p, h in self.sha.items()}, self.arrays, self.metrics)

    @classmethod
    def union(cls, parts: list[Features]) -> Features:
        """All parts together; a path or a (mode, hash) found twice must agree, and so must the
        metrics they were asked for."""
        sha, arrays = {}, {}
        if len({part.metrics for part in parts}) > 1:
            raise InputError(
                f"the runs were measured with different set-level metrics: "
                f"{sorted({part.metrics for part in parts})}"
            )
        for part in parts:
            for p, h in part.sha.items():
                if sha.setdefault(p, h) != h:
                    raise InputError(f"{p} has different contents in two of the merged runs")
            for key, f in part.arrays.items():
                if key in arrays and not np.array_equal(arrays[key], f):
                    raise InputError(
                        f"the {key[0]} features of {key[1]} differ between two of the "
                        "merged runs (different precision or network?)"
                    )
                arrays.setdefault(key, f)
        return cls(sha, arrays, parts[0].metrics if parts else ())
