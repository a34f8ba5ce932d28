"""The judgement table: one row per 2AFC comparison, as CSV or Parquet.

Required columns: ``reference``, ``a``, ``b`` (image paths relative to the table, absolute
paths, or ids) and ``n_a``, ``n_b`` (how many raters preferred A, and B). Optional: ``codec_a``,
``codec_b``, ``bpp_a``, ``bpp_b``, and precomputed metric values ``<column>_a`` / ``<column>_b``
(``psnr_a``, ``ms_ssim_b``, ``lpips_a``, …, the engine's column names), used instead of computing
them. A metric the registry does not declare (VMAF, SSIMULACRA2, CVVDP, … measured elsewhere) is
named by its column stem and taken from the table: ``vmaf_neg`` reads ``vmaf_neg_a`` and
``vmaf_neg_b``. evalkit's study export writes this format; ``evalkit fit`` reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..metrics import METRICS, metric, read_table

REQUIRED = ("reference", "a", "b", "n_a", "n_b")


def read_judgements(path: str | Path) -> pd.DataFrame:
    """Read and check a judgement table; adds ``p_a`` = n_a / (n_a + n_b)."""
    path = Path(path)
    return check_judgements(read_table(path), str(path))


def check_judgements(table: pd.DataFrame, where: str = "judgement table") -> pd.DataFrame:
    """The table with ``p_a`` = n_a / (n_a + n_b), after checking its columns and counts."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise InputError(
            f"{where}: a judgement table needs the columns {', '.join(REQUIRED)}; lacks {', '.join(missing)}"
        )
    if table.empty:
        raise InputError(f"{where}: no judgements")
    counts = table[["n_a", "n_b"]].apply(pd.to_numeric, errors="coerce")
    bad = counts.isna().any(axis=1) | (counts < 0).any(axis=1) | (counts.sum(axis=1) == 0)
    if bad.any():
        raise InputError(
            f"{where}: n_a and n_b must be non-negative counts with a positive sum; "
            f"{int(bad.sum())} row(s) are not, first at row {int(np.flatnonzero(bad)[0])}"
        )
    table = table.assign(n_a=counts["n_a"], n_b=counts["n_b"])
    return table.assign(p_a=table["n_a"] / (table["n_a"] + table["n_b"]))


def metric_column(name: str) -> str:
    """The column stem of a metric: the registry's column for a declared pair metric, else the
    name itself (a metric taken from the table)."""
    return metric(name, "pair").column if name in METRICS else name


def metric_values(
    table: pd.DataFrame, metrics: list[str], root: str | Path = ".", engine_options: dict | None = None
) -> pd.DataFrame:
    """Columns ``<column>_a`` and ``<column>_b`` for each metric: taken from the table where
    present, otherwise computed by the metric engine (cached) on (reference, a) and (reference, b);
    a metric the registry does not declare must be in the table."""
    columns = {m: metric_column(m) for m in metrics}
    todo = [m for m in metrics if not {f"{columns[m]}_a", f"{columns[m]}_b"} <= set(table.columns)]
    foreign = [m for m in todo if m not in METRICS]
    if foreign:
        raise InputError(
            f"{', '.join(foreign)}: not a metric evalkit computes, and the table has no "
            f"{', '.join(f'{m}_a/{m}_b' for m in foreign)} columns to take it from "
            f"(evalkit computes {', '.join(n for n, m in METRICS.items() if m.level == 'pair')})"
        )
    out = table.copy()
    if todo:
        from ..metrics import MetricEngine

        pairs = pd.DataFrame(
            {
                "reference": pd.concat([table["reference"], table["reference"]]),
                "reconstruction": pd.concat([table["a"], table["b"]]),
            }
        )
        result = MetricEngine(todo, **(engine_options or {})).evaluate(pairs, root=root).pairs
        n = len(table)
        for m in todo:
            out[f"{columns[m]}_a"] = result[columns[m]].to_numpy()[:n]
            out[f"{columns[m]}_b"] = result[columns[m]].to_numpy()[n:]
    return out


def features_and_targets(table: pd.DataFrame, metrics: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """X = [m(A)…, m(B)…] and y = p_A for :class:`~evalkit.fit.estimator.CombinedMetric`."""
    columns = [metric_column(m) for m in metrics]
    x = table[[f"{c}_a" for c in columns] + [f"{c}_b" for c in columns]].to_numpy(np.float64)
    return x, table["p_a"].to_numpy(np.float64)


def judgement_counts(table: pd.DataFrame) -> np.ndarray:
    """How many people judged each row, n_a + n_b: the fit's ``sample_weight``."""
    return (table["n_a"] + table["n_b"]).to_numpy(np.float64)
