"""Plots of a study's analysis (matplotlib), each written as PNG and SVG.

Each is drawn on its own ``matplotlib.figure.Figure``, never through pyplot: no backend is
chosen and no figure is registered, so a caller's matplotlib (a notebook's inline backend) is
left as it was."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

METHOD_LABELS = {"thurstone": "Thurstone Case V (JOD)", "bradley_terry": "Bradley–Terry (1 = 75 %)"}


def _subplots(*args, figsize, **kwargs):
    """A new figure of its own and its axes, as ``pyplot.subplots`` gives them."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*args, **kwargs)


def _save(figure, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    figure.savefig(paths[0], dpi=120, bbox_inches="tight")
    figure.savefig(paths[1], bbox_inches="tight")
    return paths


def _message(text: str, stem: Path) -> list[Path]:
    figure, axis = _subplots(figsize=(5, 1.5))
    axis.axis("off")
    axis.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return _save(figure, stem)


def ranking_plot(view, stem: Path) -> list[Path]:
    """Per bpp (columns) and method (rows): each ranked codec's score with its confidence interval."""
    scores = view.ranking.scores
    if scores.empty:
        return _message("nothing to rank: " + "; ".join(view.ranking.notes[:3]), stem)
    bpps, methods = sorted(scores["target_bpp"].unique()), list(dict.fromkeys(scores["method"]))
    figure, axes = _subplots(
        len(methods),
        len(bpps),
        squeeze=False,
        sharey="row",
        figsize=(1.2 + 3.2 * len(bpps), 0.6 + 2.8 * len(methods)),
    )
    codecs = sorted(scores["codec"].unique())
    colours = {c: matplotlib.colormaps["tab10"](n % 10) for n, c in enumerate(codecs)}
    for row, method in enumerate(methods):
        for column, bpp in enumerate(bpps):
            axis = axes[row][column]
            group = scores[(scores["method"] == method) & (scores["target_bpp"] == bpp)].sort_values("score")
            y = np.arange(len(group))
            axis.errorbar(
                group["score"],
                y,
                xerr=[group["score"] - group["ci_low"], group["ci_high"] - group["score"]],
                fmt="none",
                ecolor="0.4",
                capsize=3,
            )
            axis.scatter(group["score"], y, c=[colours[c] for c in group["codec"]], zorder=3)
            axis.set_yticks(y, group["codec"])
            axis.axvline(0, color="0.85", lw=0.8, zorder=0)
            axis.set_title(f"{bpp:g} bpp" if row == 0 else "")
            axis.set_xlabel(METHOD_LABELS.get(method, method))
            axis.grid(axis="x", alpha=0.3)
    figure.suptitle(f"Codec ranking, {view.raters} raters (95 % CI: raters and images resampled)")
    figure.tight_layout()
    return _save(figure, stem)


def preference_plot(view, stem: Path) -> list[Path]:
    """Per bpp: heat map of how often the row codec was preferred to the column codec."""
    table = view.preferences
    if table.empty:
        return _message("no pair judgements", stem)
    bpps = sorted(table["target_bpp"].unique())
    codecs = sorted(set(table["row"]) | set(table["column"]))
    figure, axes = _subplots(
        1, len(bpps), squeeze=False, figsize=(1.5 + 0.9 * len(codecs) * len(bpps) + 1, 1 + 0.8 * len(codecs))
    )
    for axis, bpp in zip(axes[0], bpps):
        group = table[table["target_bpp"] == bpp]
        matrix = np.full((len(codecs), len(codecs)), np.nan)
        counts = np.zeros_like(matrix)
        for row in group.itertuples(index=False):
            matrix[codecs.index(row.row), codecs.index(row.column)] = row.preference
            counts[codecs.index(row.row), codecs.index(row.column)] = row.judgements
        image = axis.imshow(matrix, cmap="RdBu", vmin=0, vmax=1)
        for i in range(len(codecs)):
            for j in range(len(codecs)):
                text = (
                    "—"
                    if i == j
                    else (
                        "not compared"
                        if np.isnan(matrix[i, j])
                        else f"{matrix[i, j]:.0%}\nn={int(counts[i, j])}"
                    )
                )
                strong = not np.isnan(matrix[i, j]) and abs(matrix[i, j] - 0.5) > 0.3
                axis.text(
                    j, i, text, ha="center", va="center", fontsize=7, color="white" if strong else "black"
                )
        axis.set_xticks(range(len(codecs)), codecs, rotation=45, ha="right")
        axis.set_yticks(range(len(codecs)), codecs)
        axis.set_title(f"{bpp:g} bpp: row preferred to column")
    figure.colorbar(image, ax=list(axes[0]), shrink=0.8, label="preference")
    return _save(figure, stem)


def rater_plot(raters: pd.DataFrame, stem: Path, rules=None) -> list[Path]:
    """Sentinel accuracy against median response time, one dot per rater; excluded raters marked,
    and the screening thresholds drawn when ``rules`` are given."""
    if raters.empty:
        return _message("no raters", stem)
    figure, axis = _subplots(figsize=(6, 4))
    accuracy = raters["sentinel_accuracy"].astype(float)
    jitter = np.random.default_rng(0).uniform(-0.015, 0.015, len(raters))  # identical scores stay visible
    for excluded, marker, colour, label in (
        (False, "o", "tab:blue", "kept"),
        (True, "x", "tab:red", "excluded"),
    ):
        mine = (raters["excluded"] == excluded) & accuracy.notna()
        axis.scatter(
            raters.loc[mine, "median_response_s"],
            accuracy[mine] + jitter[mine],
            marker=marker,
            color=colour,
            label=f"{label} ({int((raters['excluded'] == excluded).sum())})",
        )
    axis.set_xscale("log")
    axis.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if rules is not None and rules.min_sentinel_accuracy is not None:
        axis.axhline(rules.min_sentinel_accuracy, color="tab:red", lw=0.8, ls="--")
    if rules is not None:
        axis.axvline(
            rules.fast_answer_s, color="tab:red", lw=0.8, ls=":", label=f"{rules.fast_answer_s:g} s: too fast"
        )
    axis.set_xlabel("median response time (s)")
    axis.set_ylabel("sentinel accuracy")
    axis.set_ylim(-0.05, 1.05)
    unmeasured = int(accuracy.isna().sum())
    axis.set_title("Rater quality" + (f" ({unmeasured} without sentinels not shown)" if unmeasured else ""))
    axis.legend(loc="best")
    axis.grid(alpha=0.3)
    return _save(figure, stem)


def _extent(point, low, high) -> list[np.ndarray]:
    """Error-bar lengths below and above a point from a percentile interval, which need not hold
    the point (a short bar then, not a negative one)."""
    return [np.maximum(point - low, 0), np.maximum(high - point, 0)]


def stimulus_scale_plot(scale, stem: Path, condition: str) -> list[Path]:
    """One panel per source image: each stimulus's scale (JND from the source, 0) with its
    interval, by codec (a line per codec over its levels where the stimuli table gave them)."""
    scores = scale.scores
    if scores.empty:
        return _message("nothing scaled", stem)
    images = sorted(scores["image"].unique(), key=str)
    figure, axes = _subplots(1, len(images), squeeze=False, figsize=(1 + 3.6 * len(images), 3.6))
    for axis, image in zip(axes[0], images):
        group = scores[scores["image"] == image].sort_values("scale", ascending=False)
        y = np.arange(len(group))
        axis.errorbar(
            group["scale"],
            y,
            xerr=_extent(group["scale"], group["ci_low"], group["ci_high"]),
            fmt="o",
            ms=3,
            color="C0",
            ecolor="0.5",
            capsize=2,
        )
        axis.set_yticks(y, group["stimulus"], fontsize=6)
        axis.axvline(0, color="0.8", lw=0.8, zorder=0)
        gain = scale.gains.loc[scale.gains["image"] == image, "gain"]
        axis.set_title(
            f"image {image}" + (f" (boost gain {gain.item():.2f})" if len(gain) else ""), fontsize=9
        )
        axis.set_xlabel("JND from the source")
        axis.grid(axis="x", alpha=0.3)
        axis.invert_yaxis()
    figure.suptitle(
        f"{condition}: scale per source image (95 % CI, raters resampled; "
        f"not sure {scale.not_sure}, {scale.prior} prior)"
    )
    figure.tight_layout()
    return _save(figure, stem)


def benchmark_plot(bench, stem: Path, condition: str) -> list[Path]:
    """Held-out 2AFC score of each metric and fitted pair with its interval, beside the ceiling."""
    scores = bench.scores.sort_values("2afc")
    if scores.empty:
        return _message("no metric to benchmark", stem)
    figure, axis = _subplots(figsize=(6.5, 0.9 + 0.22 * len(scores)))
    y = np.arange(len(scores))
    colours = ["C0" if n == 1 else "C2" for n in scores["metrics"]]
    axis.errorbar(
        scores["2afc"],
        y,
        xerr=_extent(scores["2afc"], scores["2afc_low"], scores["2afc_high"]),
        fmt="none",
        ecolor="0.5",
        capsize=2,
    )
    axis.scatter(scores["2afc"], y, c=colours, zorder=3, s=14)
    axis.set_yticks(y, scores["candidate"], fontsize=7)
    ceiling = bench.agreement.get("ceiling")
    if ceiling is not None:
        axis.axvline(ceiling, color="C3", ls="--", lw=1, label=f"ceiling {ceiling:.3f}")
        axis.legend(loc="lower right", fontsize=7)
    axis.set_xlabel("held-out 2AFC score (leave one image out; blue: a metric, green: a fitted pair)")
    axis.set_title(f"{condition}: metrics against people", fontsize=10)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _save(figure, stem)
