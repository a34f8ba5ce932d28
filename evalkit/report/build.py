"""``evalkit report``: one HTML page comparing the codecs of a run, figures and tables beside it.

Reads what the run folder holds — ``metrics.csv`` (or only ``manifest.csv``), ``metrics_sets.csv``
— and, when given, a study's output folder, and renders one section per artefact found: tables at
each target bpp, rate–distortion figures, BD-rate/BD-metric against an anchor, visual
comparisons, and the study's results. Everything the page shows lies in ``<name>_files/`` beside
it (PNG and SVG figures, PNG crops, the tables as CSV), linked relatively: the page reads
without a server and the folder can be copied anywhere. The folder is rewritten on every run;
a figure or crop whose inputs did not change is carried over from the previous one
(:mod:`.carry`), which makes a rerun fast.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from .. import __version__
from ..codecs.ratematch import FLAG_MEANINGS
from ..errors import InputError
from ..files import image_hash, read_csv_table
from ..images import load_image
from ..metrics.registry import BY_COLUMN, label, shown_columns
from .bjontegaard import DEFAULT_MIN_OVERLAP, INTERPOLATIONS
from .carry import Carry, inputs_key
from .compressai_json import with_published
from .figures import DRAWING as FIGURE_DRAWING
from .figures import codec_colors, rd_figure, rd_paths
from .loop_section import loop_section
from .study_sections import study_sections
from .tables import (
    bd_table,
    best_codecs,
    default_anchor,
    is_flagged,
    metric_directions,
    rd_curves,
    table_at_target,
)
from .visual import DRAWING as PANEL_DRAWING
from .visual import Region, most_different_region, panel_paths, write_panels

#: Decimals shown of achieved bpp and of columns that are no metric's (a metric's are in its
#: registry entry); the full value is in each cell's data-value and in the CSV files.
BPP_DECIMALS, OTHER_DECIMALS = 3, 4


@dataclass
class ReportOptions:
    anchor: str | None = None  # codec the BD figures are relative to (default: jpeg, else first)
    interpolation: str = "pchip"
    min_overlap: float = DEFAULT_MIN_OVERLAP
    visual_images: list[str] | None = None  # default: the first two images
    visual_bpp: float | None = None  # default: the lowest target
    region: Region | None = None  # default: where the codecs differ most
    study: Path | None = None  # a study.toml or its out/ folder
    title: str | None = None
    notes: list[str] = field(default_factory=list)  # shown at the top (e.g. missing weights)
    loop: Path | None = None  # `evalkit loop`'s answer.json: its section first
    published: list[Path] = field(default_factory=list)  # CompressAI eval_model codec files drawn beside


@dataclass
class Run:
    folder: Path
    pairs: pd.DataFrame
    sets: pd.DataFrame | None
    pairs_file: Path
    sets_file: Path | None


def load_run(folder: str | Path) -> Run:
    """The tables of a run folder: ``metrics.csv`` if it exists (else ``manifest.csv``: bpp only)
    and ``metrics_sets.csv`` if it exists."""
    folder = Path(folder)
    pairs_file = next((folder / n for n in ("metrics.csv", "manifest.csv") if (folder / n).is_file()), None)
    if pairs_file is None:
        raise InputError(
            f"{folder}: no metrics.csv or manifest.csv; run 'evalkit compress --out "
            f"{folder}' (and 'evalkit metrics') first"
        )
    pairs = _read_csv(pairs_file)
    missing = {"image", "codec", "target_bpp", "bpp", "flag", "reference", "reconstruction"} - set(
        pairs.columns
    )
    if missing:
        raise InputError(
            f"{pairs_file}: not a manifest or metrics table of 'evalkit compress' "
            f"(lacks {', '.join(sorted(missing))})"
        )
    if pairs.empty:
        raise InputError(f"{pairs_file}: no rows")
    pairs["flag"] = pairs["flag"].fillna("").astype(str)
    sets_file = folder / "metrics_sets.csv"
    sets = _read_csv(sets_file) if sets_file.is_file() else None
    return Run(folder, pairs, sets, pairs_file, sets_file if sets is not None else None)


def _read_csv(path: Path) -> pd.DataFrame:
    """A table of the run, empty cells as NaN, once :func:`~evalkit.files.read_csv_table` has
    found it whole (not empty, cut or garbled)."""
    read_csv_table(path, path.name)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _fmt(column: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column in ("images", "interpolated", "flagged") or column.startswith("n_samples"):
        return f"{int(value)}"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    declared = BY_COLUMN.get(column)
    decimals = BPP_DECIMALS if column == "bpp" else declared.decimals if declared else OTHER_DECIMALS
    return f"{value:.{decimals}f}"


def _target_section(run: Run, target: float, files: Path) -> dict:
    table = table_at_target(run.pairs, run.sets, target)
    table.to_csv(files / f"table_{target:g}bpp.csv")
    best = best_codecs(table)
    directions = metric_directions(table.columns)
    counts = {
        "images": "images",
        "interpolated": "interp.",
        "flagged": "flagged",
        "n_samples": "n",
        "n_samples_patch": "n (patches)",
    }
    head = [
        {
            "key": c,
            "count": c in counts,
            "text": counts.get(c) or label(c) + {True: " ↑", False: " ↓"}.get(directions.get(c), ""),
        }
        for c in table.columns
    ]
    rows, dagger = [], False
    for codec, values in table.iterrows():
        cells = []
        for column in table.columns:
            value = values[column]
            set_level = run.sets is not None and column in directions and column in run.sets.columns
            mark = set_level and values["flagged"] > 0 and not pd.isna(value)
            dagger |= bool(mark)
            cells.append(
                {
                    "key": column,
                    "text": _fmt(column, value) + (" †" if mark else ""),
                    "value": repr(float(value)) if not pd.isna(value) else "",
                    "best": codec in best.get(column, ()),
                }
            )
        rows.append(
            {
                "codec": codec,
                "cells": cells,
                "interpolated": values["interpolated"] > 0,
                "partial": values["flagged"] > values["interpolated"],
            }
        )
    flags = _flag_reasons(run.pairs[run.pairs["target_bpp"] == target])
    return {
        "target": target,
        "id": f"at-{target:g}".replace(".", "_"),
        "head": head,
        "rows": rows,
        "csv": f"{files.name}/table_{target:g}bpp.csv",
        "dagger": dagger,
        "flags": flags,
    }


def _flag_reasons(at: pd.DataFrame) -> dict:
    """Why points at one target are flagged: per codec, count per flag; and what each flag means."""
    flagged = at[is_flagged(at)]
    counts = flagged.groupby(["codec", "flag"]).size()
    per_codec = {
        codec: ", ".join(f"{n} {flag}" for (c, flag), n in counts.items() if c == codec)
        for codec in dict.fromkeys(flagged["codec"])
    }
    meanings = {flag: FLAG_MEANINGS.get(flag, flag) for flag in sorted(set(flagged["flag"]))}
    return {"codecs": per_codec, "meanings": meanings}


def _visuals(run: Run, options: ReportOptions, carry: Carry) -> list[dict]:
    files = carry.files
    images = options.visual_images or sorted(run.pairs["image"].unique())[:2]
    unknown = sorted(set(images) - set(run.pairs["image"]))
    if unknown:
        raise InputError(f"no image named {', '.join(unknown)} in {run.pairs_file}")
    targets = sorted(run.pairs["target_bpp"].unique())
    target = targets[0] if options.visual_bpp is None else options.visual_bpp
    if target not in targets:
        raise InputError(
            f"no target {target:g} bpp in {run.pairs_file} (targets: {', '.join(f'{t:g}' for t in targets)})"
        )
    shown = [c for c in shown_columns() if c in run.pairs.columns]
    out = []
    for image in images:
        rows = run.pairs[(run.pairs["image"] == image) & (run.pairs["target_bpp"] == target)]
        rows = rows.sort_values("codec")
        original = load_image(run.folder / rows["reference"].iloc[0])
        recons = {r["codec"]: load_image(run.folder / r["reconstruction"]) for _, r in rows.iterrows()}
        region = options.region or most_different_region(list(recons.values()), min(original.shape[:2]) // 6)
        stem = f"visual_{image}_{target:g}bpp"
        panels = panel_paths(files, stem, ["original", *recons])
        key = inputs_key(
            PANEL_DRAWING,
            region,
            image_hash(original),
            {codec: image_hash(pixels) for codec, pixels in recons.items()},
        )
        if not carry.reuse(stem, key, [p for pair in panels.values() for p in pair]):
            write_panels(original, recons, region, files, stem)
        cards = [
            {
                "name": "original",
                "caption": ["reference"],
                "full": panels["original"][0],
                "zoom": panels["original"][1],
            }
        ]
        for _, r in rows.iterrows():
            caption = [f"{r['bpp']:.3f} bpp"] + [f"{label(c).split(' (')[0]} {_fmt(c, r[c])}" for c in shown]
            if r["flag"]:
                caption.append(f"flagged: {r['flag']}")
            cards.append(
                {
                    "name": r["codec"],
                    "caption": caption,
                    "full": panels[r["codec"]][0],
                    "zoom": panels[r["codec"]][1],
                }
            )
        for card in cards:
            card["full"], card["zoom"] = (
                f"{files.name}/{card['full'].name}",
                f"{files.name}/{card['zoom'].name}",
            )
        out.append(
            {
                "image": image,
                "target": target,
                "cards": cards,
                "region": f"{region.width}×{region.height} px at ({region.x}, {region.y})",
                "given": options.region is not None,
            }
        )
    return out


def _bd_sections(bd: pd.DataFrame, codecs: list[str]) -> list[dict]:
    """BD-rate and BD-metric as codec × metric matrices; a refused cell points to its reason, a
    value over a small overlap to its warning."""
    reasons: list[str] = []
    sections = []
    for key, title, unit in (("bd_rate", "BD-rate (%)", "%"), ("bd_metric", "BD-metric", "")):
        metrics = list(dict.fromkeys(bd["metric"]))
        rows = []
        for codec in (c for c in codecs if c in set(bd["codec"])):
            cells = []
            for metric in metrics:
                r = bd[(bd["codec"] == codec) & (bd["metric"] == metric)].iloc[0]
                value = r[key]
                reason = r[f"{key}_refused"] or r[f"{key}_warning"]
                if reason and reason not in reasons:
                    reasons.append(reason)
                note = reasons.index(reason) + 1 if reason else None
                if np.isnan(value):
                    cells.append({"metric": metric, "value": "", "text": "–", "note": note})
                else:
                    cells.append(
                        {
                            "metric": metric,
                            "value": repr(float(value)),
                            "note": note,
                            "text": f"{value:+.2f}" if key == "bd_rate" else f"{value:+.4g}",
                        }
                    )
            rows.append({"codec": codec, "cells": cells})
        sections.append(
            {"key": key, "title": title, "unit": unit, "head": [label(m) for m in metrics], "rows": rows}
        )
    return [{"tables": sections, "reasons": reasons}] if len(bd) else []


def write_report(run_folder: str | Path, out: str | Path, options: ReportOptions | None = None) -> Path:
    """Write the HTML report of ``run_folder`` to ``out`` and its files to ``<out stem>_files/``."""
    options = options or ReportOptions()
    if options.interpolation not in INTERPOLATIONS:
        raise InputError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {options.interpolation!r}"
        )
    run = load_run(run_folder)
    out = Path(out)
    files = out.parent / f"{out.stem}_files"
    carry = Carry(files)

    codecs = sorted(run.pairs["codec"].unique())
    anchor = options.anchor or default_anchor(codecs)
    if anchor not in codecs:
        raise InputError(f"anchor codec {anchor!r} is not in this run (codecs: {', '.join(codecs)})")
    targets = sorted(run.pairs["target_bpp"].unique())
    curves, published = with_published(rd_curves(run.pairs, run.sets), options.published)
    colors = codec_colors([*codecs, *published])
    directions = {
        **metric_directions(run.pairs.columns),
        **(metric_directions(run.sets.columns) if run.sets is not None else {}),
    }
    figures = []
    for column, curve in curves.items():
        curve.to_csv(files / f"rd_{column}.csv", index=False)
        png, svg = rd_paths(files / f"rd_{column}")
        key = inputs_key(
            FIGURE_DRAWING, curve.to_csv(index=False), column, label(column), directions[column], colors
        )
        if not carry.reuse(png.stem, key, [png, svg]):
            rd_figure(curve, column, directions[column], colors, files / f"rd_{column}", set(published))
        figures.append(
            {
                "column": column,
                "label": label(column),
                "png": f"{files.name}/{png.name}",
                "svg": f"{files.name}/{svg.name}",
                "csv": f"{files.name}/rd_{column}.csv",
                "per_image": curve["panel"].nunique() > 1,
            }
        )
    bd = bd_table(curves, anchor, options.interpolation, options.min_overlap)
    bd.to_csv(files / "bd.csv", index=False)
    study = study_sections(options.study, files) if options.study else []

    flagged = int(is_flagged(run.pairs).sum())
    context = {
        "title": options.title or f"Codec comparison: {run.folder.resolve().name}",
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "folder": str(run.folder.resolve()),
        "notes": options.notes,
        "images": sorted(run.pairs["image"].unique()),
        "codecs": codecs,
        "colors": colors,
        "targets": [f"{t:g}" for t in targets],
        "flagged": flagged,
        "points": len(run.pairs),
        "pairs_file": run.pairs_file.name,
        "sets_file": run.sets_file.name if run.sets_file else None,
        "metrics": [label(c) for c in directions],
        "tables": [_target_section(run, t, files) for t in targets],
        "figures": figures,
        "anchor": anchor,
        "files": files.name,
        "interpolation": INTERPOLATIONS[options.interpolation],
        "min_overlap": options.min_overlap,
        "bd": _bd_sections(bd, [*codecs, *published]),
        "visuals": _visuals(run, options, carry),
        "study": study,
        "answer": loop_section(options.loop) if options.loop else None,
    }
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    ).get_template("report.html")
    out.write_text(template.render(**context), encoding="utf-8")
    carry.close()
    return out
