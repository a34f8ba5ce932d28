"""Rate–distortion figures (matplotlib), written as PNG for the page and SVG for papers.

Each is drawn on its own ``matplotlib.figure.Figure``, never through pyplot: no backend is
chosen and no figure is registered, so a caller's matplotlib (a notebook's inline backend) is
left as it was."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from ..files import text_hash
from ..metrics.registry import label

#: What a figure's look depends on besides its data and its metric's label (the registry's):
#: this module and matplotlib's version.
DRAWING = text_hash(Path(__file__).read_text() + matplotlib.__version__)


def codec_colors(codecs) -> dict[str, str]:
    """A fixed colour per codec (tab10 in sorted order), the same in every figure."""
    palette = matplotlib.colormaps["tab10"].colors
    return {c: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, c in enumerate(sorted(codecs))}


def rd_figure(
    curve: pd.DataFrame,
    column: str,
    higher_is_better: bool,
    colors: dict[str, str],
    stem: Path,
    published: set[str] = frozenset(),
) -> list[Path]:
    """One figure for one metric: the set (``panel == "all"``) first and larger, then one small
    panel per image; every codec a line through its points at achieved bpp (a ``published``
    curve dashed). Writes :func:`rd_paths` (``stem.png`` and ``stem.svg``)."""
    panels = ["all", *sorted(p for p in curve["panel"].unique() if p != "all")]
    cols = min(len(panels), 5)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(2.9 * cols + 0.8, 2.5 * rows + 0.2), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for codec, points in curve[curve["panel"] == panel].groupby("codec"):
            points = points.sort_values("bpp")
            ax.plot(
                points["bpp"],
                points["value"],
                marker="o",
                markersize=3.5,
                linewidth=1.4,
                color=colors[codec],
                label=codec,
                linestyle="--" if codec in published else "-",
            )
        ax.set_title(
            "all images (mean)" if panel == "all" else panel,
            fontsize=9,
            fontweight="bold" if panel == "all" else "normal",
        )
        ax.set_xlabel("bits per pixel", fontsize=8)
        ax.set_ylabel(f"{label(column)} {'↑' if higher_is_better else '↓'}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize=8, frameon=False)
    paths = rd_paths(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(paths[0], dpi=130)
    fig.savefig(paths[1])
    return paths


def rd_paths(stem: Path) -> list[Path]:
    """The PNG and the SVG of the figure :func:`rd_figure` draws at ``stem``."""
    return [stem.with_name(f"{stem.name}.png"), stem.with_name(f"{stem.name}.svg")]
