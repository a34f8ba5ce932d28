"""Bjøntegaard deltas for callers: numbers from two curves, and every codec of a table against
an anchor, on the mean curve or averaged over images.

:func:`bd_rate` and :func:`bd_metric` are :mod:`.bjontegaard`'s computation returning the number
(a refusal raises :class:`~evalkit.report.bjontegaard.BDRefusal`, an ``InputError``, with the
reason). :func:`bd_table_of` takes a table with one row per (image, codec, point) — a metrics
table of ``evalkit metrics``, or any DataFrame with ``codec``, a rate column and a metric
column — and gives one row per codec:

* ``per="curve"``: one delta on the mean curve of each codec (per ``target_bpp`` when the table
  has one, else per rate point: the mean achieved bpp and mean metric over images), as the report
  shows it;
* ``per="image"``: one delta per image against the anchor on the same image, then their mean,
  as JVET's common test conditions average per-sequence BD-rates (``images`` counts the deltas,
  ``refused`` the images whose curves could not be compared).

>>> from evalkit.report.deltas import bd_rate
>>> round(bd_rate([0.25, 0.5, 1, 2], [30, 33, 36, 39], [0.2, 0.4, 0.8, 1.6], [30, 33, 36, 39]), 6)
-20.0
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import InputError
from . import bjontegaard
from .bjontegaard import DEFAULT_MIN_OVERLAP, BDRefusal

PER = ("curve", "image")


def bd_rate(
    anchor_rate: npt.ArrayLike,
    anchor_metric: npt.ArrayLike,
    test_rate: npt.ArrayLike,
    test_metric: npt.ArrayLike,
    interpolation: str = "pchip",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> float:
    """Mean rate difference (%) of the test curve against the anchor at equal metric (negative:
    the test needs fewer bits); rates in any unit (bpp, kbps), the metric higher or lower better."""
    return bjontegaard.bd_rate(
        anchor_rate, anchor_metric, test_rate, test_metric, interpolation, min_overlap
    ).value


def bd_metric(
    anchor_rate: npt.ArrayLike,
    anchor_metric: npt.ArrayLike,
    test_rate: npt.ArrayLike,
    test_metric: npt.ArrayLike,
    interpolation: str = "pchip",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> float:
    """Mean metric difference of the test curve against the anchor at equal (log) rate."""
    return bjontegaard.bd_metric(
        anchor_rate, anchor_metric, test_rate, test_metric, interpolation, min_overlap
    ).value


def bd_table_of(
    table: pd.DataFrame,
    anchor: str,
    metric: str,
    *,
    per: str = "curve",
    rate: str = "bpp",
    interpolation: str = "pchip",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> pd.DataFrame:
    """BD-rate (%) and BD-metric of every codec of ``table`` but ``anchor`` against it, on the
    column ``metric`` (see the module docstring for ``per``): one row per codec with ``bd_rate``,
    ``bd_metric`` (NaN where refused), ``images`` (deltas averaged) and ``refused`` (why not)."""
    if per not in PER:
        raise InputError(f"per must be one of {', '.join(PER)}, got {per!r}")
    needed = {"codec", rate, metric} | ({"image"} if per == "image" else set())
    missing = sorted(needed - set(table.columns))
    if missing:
        raise InputError(
            f"the table lacks the column(s) {', '.join(missing)} (BD needs codec, "
            f"{rate}, {metric}{' and image' if per == 'image' else ''})"
        )
    if anchor not in set(table["codec"]):
        raise InputError(
            f"anchor codec {anchor!r} is not in the table (codecs: {', '.join(sorted(set(table['codec'])))})"
        )
    curves = (
        dict(tuple(table.groupby("image"))) if per == "image" else {"mean": _mean_curves(table, rate, metric)}
    )
    rows = []
    for codec in sorted(set(table["codec"]) - {anchor}):
        deltas: dict[str, list[float]] = {"bd_rate": [], "bd_metric": []}
        reasons: list[str] = []
        for points in curves.values():
            a, t = points[points["codec"] == anchor], points[points["codec"] == codec]
            if t.empty or a.empty:
                continue
            try:
                for key, delta in (("bd_rate", bd_rate), ("bd_metric", bd_metric)):
                    deltas[key].append(
                        delta(a[rate], a[metric], t[rate], t[metric], interpolation, min_overlap)
                    )
            except BDRefusal as exc:
                reasons.append(str(exc))
        rows.append(
            {
                "codec": codec,
                "anchor": anchor,
                "metric": metric,
                "per": per,
                "bd_rate": np.mean(deltas["bd_rate"]) if deltas["bd_rate"] else np.nan,
                "bd_metric": np.mean(deltas["bd_metric"]) if deltas["bd_metric"] else np.nan,
                "images": len(deltas["bd_rate"]) if per == "image" else np.nan,
                "refused": "; ".join(dict.fromkeys(reasons)),
            }
        )
    return pd.DataFrame(rows)


def _mean_curves(table: pd.DataFrame, rate: str, metric: str) -> pd.DataFrame:
    """Per codec, the mean rate and metric over images at each target (or each rate point)."""
    by = "target_bpp" if "target_bpp" in table.columns and rate != "target_bpp" else rate
    return table.groupby(["codec", by], as_index=False)[[rate, metric] if by != rate else [metric]].mean()
