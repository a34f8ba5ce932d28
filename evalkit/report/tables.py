"""Summary tables of a compress manifest."""
from __future__ import annotations

import pandas as pd


def summary_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per codec and target: achieved bpp (mean), worst relative error, flagged points, encodes.

    A flagged point is one where the target could not be met within tolerance: out of the
    codec's range, or between two adjacent settings of a coarse axis (``flag`` says which).
    """
    m = manifest.assign(abs_err=manifest["rel_error"].abs() * 100,
                        flagged=manifest["flag"].fillna("").astype(str) != "")
    table = m.groupby(["codec", "target_bpp"], sort=True).agg(
        images=("image", "count"), bpp=("bpp", "mean"), max_err_pct=("abs_err", "max"),
        flagged=("flagged", "sum"), encodes=("encodes", "mean"), encode_s=("encode_s", "mean"))
    return table.round({"bpp": 4, "max_err_pct": 2, "encodes": 2, "encode_s": 3})


def metrics_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric column per codec and target (or overall for a plain pairs table)."""
    from ..metrics import METRICS

    columns = [c for m in METRICS.values() if m.level == "pair" for c in m.columns if c in pairs.columns]
    keys = [c for c in ("codec", "target_bpp") if c in pairs.columns]
    if "bpp" in pairs.columns:
        columns = ["bpp", *columns]
    if not keys:
        return pairs[columns].agg(["mean"])
    return pairs.groupby(keys)[columns].mean().round(4)
