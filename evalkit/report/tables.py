"""Summary tables of a compress manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import features
from ..metrics.features import MODES
from ..metrics.registry import BY_COLUMN, METRICS, PAIR_METRICS, shown_columns


def summary_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per codec and target: achieved bpp (mean), worst relative error, flagged points, encodes.

    A flagged point is one where the target could not be met within tolerance: out of the
    codec's range, or between two adjacent settings of a coarse axis (``flag`` says which).
    """
    m = manifest.assign(
        abs_err=manifest["rel_error"].abs() * 100, flagged=manifest["flag"].fillna("").astype(str) != ""
    )
    table = m.groupby(["codec", "target_bpp"], sort=True).agg(
        images=("image", "count"),
        bpp=("bpp", "mean"),
        max_err_pct=("abs_err", "max"),
        flagged=("flagged", "sum"),
        encodes=("encodes", "mean"),
        encode_s=("encode_s", "mean"),
    )
    return table.round({"bpp": 4, "max_err_pct": 2, "encodes": 2, "encode_s": 3})


def metrics_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric column per codec and target (or overall for a plain pairs table)."""
    columns = [c for m in PAIR_METRICS for c in METRICS[m].columns if c in pairs.columns]
    keys = [c for c in ("codec", "target_bpp") if c in pairs.columns]
    if "bpp" in pairs.columns:
        columns = ["bpp", *columns]
    if not keys:
        return pairs[columns].agg(["mean"])
    return pairs.groupby(keys)[columns].mean().round(4)


# ------------------------------------------------------------------ comparison report tables
def metric_directions(columns) -> dict[str, bool]:
    """Metric column → higher_is_better, for the columns of ``columns`` that are metrics (from
    the metric registry; fitted combinations, ``combined…``, are qualities: higher is better)."""
    return {
        c: BY_COLUMN[c].higher_is_better if c in BY_COLUMN else True
        for c in columns
        if c in BY_COLUMN or c.startswith("combined")
    }


def sample_count_column(column: str) -> str:
    """The sample-count column of a set-level metric column (``fid_patch`` → ``n_samples_patch``)."""
    return features.sample_count_column(MODES[BY_COLUMN[column].columns.index(column)])


def is_flagged(pairs: pd.DataFrame) -> pd.Series:
    return pairs["flag"].fillna("").astype(str) != ""


def read_at_target(pairs: pd.DataFrame, points: pd.DataFrame, target: float) -> pd.DataFrame:
    """Each of ``points`` (rows of ``pairs``, off their target) read at ``target`` from its image's
    RD curve for its codec: every measured point of that (image, codec), at its achieved bpp,
    interpolated linearly in log bpp (bpp is then the target). A point whose curve does not
    reach the target on both sides (the codec's range ends there) is left out."""
    columns = list(metric_directions(pairs.columns))
    rows = []
    for (image, codec), group in pairs[pairs["codec"].isin(points["codec"])].groupby(["image", "codec"]):
        if not ((points["image"] == image) & (points["codec"] == codec)).any():
            continue
        curve = group.groupby("bpp")[columns].mean().sort_index()
        if len(curve) < 2 or not curve.index[0] <= target <= curve.index[-1]:
            continue
        logs = np.log(curve.index.to_numpy(dtype=np.float64))
        rows.append(
            {
                "image": image,
                "codec": codec,
                "bpp": target,
                **{c: float(np.interp(np.log(target), logs, curve[c])) for c in columns},
            }
        )
    return pd.DataFrame(rows, columns=["image", "codec", "bpp", *columns])


def table_at_target(pairs: pd.DataFrame, sets: pd.DataFrame | None, target: float) -> pd.DataFrame:
    """One row per codec at one target bpp: matched images, points read from their image's RD
    curve, flagged points, then the mean of bpp and of every pair metric over the matched points
    and those read at the target (:func:`read_at_target`: a codec whose points miss the
    tolerance is shown from its per-image curves, never as an empty row; only a point whose
    curve does not reach the target is left out), then each set-level metric beside its sample
    count (FID/KID are computed over the whole group, flagged points included: ``flagged`` says
    how many)."""
    at = pairs[pairs["target_bpp"] == target]
    flagged = is_flagged(at)
    pair_columns = ["bpp", *metric_directions(at.columns)]
    read = read_at_target(pairs, at[flagged], target)
    shown = pd.concat([at[~flagged][["codec", *pair_columns]], read[["codec", *pair_columns]]])
    table = (
        pd.DataFrame(
            {
                "images": at[~flagged].groupby("codec").size(),
                "interpolated": read.groupby("codec").size(),
                "flagged": flagged.groupby(at["codec"]).sum(),
            }
        )
        .fillna(0)
        .astype(int)
    )
    table = table.join(shown.groupby("codec")[pair_columns].mean())
    if sets is not None and len(sets):
        group = sets[sets["target_bpp"] == target].set_index("codec")
        set_columns = list(metric_directions(sets.columns))
        for count in dict.fromkeys(sample_count_column(c) for c in set_columns):
            for column in (c for c in set_columns if sample_count_column(c) == count):
                table[column] = group[column]
            table[count] = group[count]
    table.index.name = "codec"
    return table


def best_codecs(table: pd.DataFrame) -> dict[str, set[str]]:
    """Metric column → the codecs with the best value (ties all count), by the metric's direction,
    among the codecs with a value for every image, measured or read from its curve (a mean over
    fewer images, or a FID that includes off-target points, is not comparable with the others)."""
    complete = table[table["flagged"] == table["interpolated"]] if "flagged" in table.columns else table
    best = {}
    for column, higher in metric_directions(table.columns).items():
        values = complete[column].dropna()
        if len(values):
            target = values.max() if higher else values.min()
            best[column] = set(values.index[values == target])
    return best


def rd_curves(pairs: pd.DataFrame, sets: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Rate–distortion points per metric column: a frame with ``panel`` (an image name, or
    ``"all"`` for the set), ``codec``, ``bpp`` and ``value``. Per image, every point at its
    achieved bpp; over the set, per (codec, target) the mean achieved bpp and mean value of all
    images (set-level metrics: their group value at the group's mean bpp)."""
    curves = {}
    for column in metric_directions(pairs.columns):
        per_image = pairs[["image", "codec", "target_bpp", "bpp", column]].rename(
            columns={"image": "panel", column: "value"}
        )
        overall = per_image.groupby(["codec", "target_bpp"], as_index=False)[["bpp", "value"]].mean()
        curves[column] = pd.concat([overall.assign(panel="all"), per_image], ignore_index=True)
    if sets is not None and len(sets):
        mean_bpp = pairs.groupby(["codec", "target_bpp"], as_index=False)["bpp"].mean()
        for column in metric_directions(sets.columns):
            curves[column] = (
                sets[["codec", "target_bpp", column]]
                .rename(columns={column: "value"})
                .merge(mean_bpp, on=["codec", "target_bpp"])
                .assign(panel="all")
            )
    return {c: f.sort_values(["panel", "codec", "bpp"], ignore_index=True) for c, f in curves.items()}


def bd_table(
    curves: dict[str, pd.DataFrame],
    anchor: str,
    interpolation: str = "pchip",
    min_overlap: float | None = None,
) -> pd.DataFrame:
    """BD-rate (%) and BD-metric of every codec against ``anchor`` on the set curves, one row per
    (metric, codec), each over the range both curves cover with that overlap (``bd_rate_overlap``)
    and, below ``min_overlap``, a warning (``bd_rate_warning``); a refused value is NaN with its
    reason in ``bd_rate_refused`` / ``bd_metric_refused``."""
    from .bjontegaard import DEFAULT_MIN_OVERLAP, BDRefusal, bd_metric, bd_rate

    rows = []
    for column, frame in curves.items():
        overall = frame[frame["panel"] == "all"]
        if anchor not in set(overall["codec"]):
            continue
        a = overall[overall["codec"] == anchor]
        for codec, t in overall[overall["codec"] != anchor].groupby("codec"):
            row = {"metric": column, "codec": codec, "anchor": anchor, "interpolation": interpolation}
            args = (
                a["bpp"],
                a["value"],
                t["bpp"],
                t["value"],
                interpolation,
                DEFAULT_MIN_OVERLAP if min_overlap is None else min_overlap,
            )
            for key, delta in (("bd_rate", bd_rate), ("bd_metric", bd_metric)):
                try:
                    result = delta(*args)
                    row.update(
                        {
                            key: result.value,
                            f"{key}_overlap": result.overlap,
                            f"{key}_warning": result.warning,
                            f"{key}_refused": "",
                        }
                    )
                except BDRefusal as exc:
                    row.update(
                        {
                            key: float("nan"),
                            f"{key}_overlap": float("nan"),
                            f"{key}_warning": "",
                            f"{key}_refused": str(exc),
                        }
                    )
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[
            "metric",
            "codec",
            "anchor",
            "interpolation",
            *(
                f"{key}{part}"
                for key in ("bd_rate", "bd_metric")
                for part in ("", "_overlap", "_warning", "_refused")
            ),
        ],
    )


#: Anchors BD figures refer to unless told otherwise, in order: HEVC intra as BPG (the anchor
#: papers quote, and in the middle of the classical codecs' quality, so their curves overlap it),
#: then JPEG.
ANCHORS = ("hevc-bpg", "jpeg")


def default_anchor(codecs) -> str:
    """The codec BD figures are relative to unless told otherwise: the first of :data:`ANCHORS`
    in ``codecs``, else the first by name."""
    codecs = sorted(codecs)
    return next((a for a in ANCHORS if a in codecs), codecs[0])


def codec_summary(pairs: pd.DataFrame, anchor: str | None = None) -> pd.DataFrame:
    """One row per codec: BD-rate (%, PCHIP, the report's default) against ``anchor`` in each of
    the metric columns shown by default (the registry's ``shown`` pair metrics: fidelity,
    structure, perception) the table has (0 for the anchor itself), each with a note
    (``note_<column>``: the overlap where it is low, or why the value cannot be computed), and
    ``flagged`` / ``points``: the reconstructions off target and all of them."""
    anchor = anchor or default_anchor(pairs["codec"].unique())
    curves = {c: f for c, f in rd_curves(pairs, None).items() if c in shown_columns()}
    bd = bd_table(curves, anchor)
    codecs = sorted(pairs["codec"].unique())
    table = pd.DataFrame(index=pd.Index(codecs, name="codec"))
    for column in curves:
        rows = bd[bd["metric"] == column].set_index("codec")
        table[f"bd_rate_{column}"] = rows["bd_rate"].reindex(codecs).astype(float)
        table.loc[anchor, f"bd_rate_{column}"] = 0.0
        notes = [
            f"{o:.0%} overlap" if w else r
            for o, w, r in zip(rows["bd_rate_overlap"], rows["bd_rate_warning"], rows["bd_rate_refused"])
        ]
        table[f"note_{column}"] = pd.Series(notes, index=rows.index, dtype=object).reindex(codecs).fillna("")
    table["flagged"] = is_flagged(pairs).groupby(pairs["codec"]).sum().astype(int)
    table["points"] = pairs.groupby("codec").size()
    return table
