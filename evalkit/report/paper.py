"""Paper figures: one rate–distortion plot per metric, as PDF and SVG, sized for a column.

Each shows, per codec, the mean curve over the images (at each target: the mean achieved bpp
and the mean value, as the report's first panel) and the spread of the images around it (a band
from the 25th to the 75th percentile of the per-image values at that target, as compression
papers shade per-image variation), with the metric's label, unit and direction on the y axis.
Set-level metrics (FID, KID) have one value per target and no band. Drawn on their own
``Figure`` under a scoped style (``matplotlib.rc_context``): the caller's settings are untouched.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from ..metrics.registry import label
from .build import load_run
from .figures import codec_colors
from .tables import metric_directions, rd_curves

#: A column of a two-column paper (3.5 in), fonts as small as a caption's, embedded in the PDF.
STYLE = {
    "font.size": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SIZE = (3.5, 2.6)


def paper_figure(
    curve: pd.DataFrame, column: str, higher_is_better: bool, colors: dict[str, str], stem: Path
) -> list[Path]:
    """The figure of one metric from its RD curve (``rd_curves``' frame: ``panel`` "all" for the
    mean, one panel per image): ``stem.pdf`` and ``stem.svg``."""
    mean = curve[curve["panel"] == "all"]
    per_image = curve[curve["panel"] != "all"]
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=SIZE, layout="constrained")
        axis = figure.subplots()
        for codec, points in mean.groupby("codec"):
            points = points.sort_values("bpp")
            images = per_image[per_image["codec"] == codec]
            if len(images) and "target_bpp" in points.columns:
                spread = images.groupby("target_bpp")["value"].quantile([0.25, 0.75]).unstack()
                spread = spread.loc[points["target_bpp"]]
                axis.fill_between(
                    points["bpp"], spread[0.25], spread[0.75], color=colors[codec], alpha=0.18, linewidth=0
                )
            axis.plot(
                points["bpp"],
                points["value"],
                marker="o",
                markersize=3,
                linewidth=1.2,
                color=colors[codec],
                label=codec,
            )
        axis.set_xlabel("bits per pixel")
        axis.set_ylabel(f"{label(column)} {'↑' if higher_is_better else '↓'}")
        axis.grid(True, color="#e5e5e5", linewidth=0.5)
        axis.legend(frameon=False)
        paths = [stem.with_name(f"{stem.name}.pdf"), stem.with_name(f"{stem.name}.svg")]
        stem.parent.mkdir(parents=True, exist_ok=True)
        for path in paths:
            figure.savefig(path)
    return paths


def write_paper_figures(
    run_folder: str | Path, out: str | Path, columns: list[str] | None = None
) -> list[Path]:
    """One figure per metric column of a run folder (or those of ``columns``) in ``out``:
    ``rd_<column>.pdf`` and ``.svg``. Returns the files."""
    run = load_run(run_folder)
    curves = rd_curves(run.pairs, run.sets)
    directions = {
        **metric_directions(run.pairs.columns),
        **(metric_directions(run.sets.columns) if run.sets is not None else {}),
    }
    colors = codec_colors(run.pairs["codec"].unique())
    written = []
    for column, curve in curves.items():
        if columns is None or column in columns:
            written += paper_figure(curve, column, directions[column], colors, Path(out) / f"rd_{column}")
    return written
