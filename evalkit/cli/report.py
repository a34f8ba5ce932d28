"""``evalkit report``: the HTML comparison report of a run."""

from __future__ import annotations

import argparse

from .options import name_list


def add_parser(sub) -> argparse.ArgumentParser:
    r = sub.add_parser(
        "report",
        help="an HTML comparison report of a run: tables, RD curves, BD-rate, visual comparisons",
        description="Write one self-contained HTML page (figures, crops and CSV tables in "
        "<name>_files/ beside it) from a run folder of 'evalkit compress' and "
        "'evalkit metrics', optionally with a study's results.",
    )
    r.add_argument("run", help="run folder (holds metrics.csv or manifest.csv, and metrics_sets.csv)")
    r.add_argument("--out", help="HTML file to write (default: report.html in the run folder)")
    r.add_argument(
        "--anchor", help="codec the BD-rate/BD-metric refer to (default: hevc-bpg, else jpeg, else the first)"
    )
    r.add_argument(
        "--interpolation",
        choices=("pchip", "cubic"),
        default="pchip",
        help="Bjøntegaard interpolation: piecewise cubic Hermite (default) or the original cubic polynomial",
    )
    r.add_argument(
        "--min-overlap",
        type=float,
        default=None,
        help="warn beside a BD value when the curves share less than this fraction "
        "of their range (default: 0.25; computed over the shared part either way)",
    )
    r.add_argument(
        "--images",
        type=name_list,
        default=None,
        help="images for the visual comparison (default: the first two)",
    )
    r.add_argument(
        "--visual-bpp",
        type=float,
        default=None,
        help="target bpp of the visual comparison (default: the lowest)",
    )
    r.add_argument(
        "--region",
        default=None,
        help="x,y,width,height of the magnified box (default: where the codecs differ most)",
    )
    r.add_argument("--study", help="a study.toml (or its out/ folder) whose results to add")
    r.add_argument("--title", help="page title")
    r.add_argument(
        "--published",
        nargs="+",
        default=[],
        metavar="JSON",
        help="CompressAI eval_model codec files (e.g. its results/image/kodak/*.json) "
        "whose curves are drawn beside the run's, dashed, and compared in BD tables",
    )
    r.add_argument(
        "--eval-model",
        metavar="DIR",
        help="also write the run's curves as CompressAI eval_model JSON to DIR (one "
        "file per codec and one per image, codec and target)",
    )
    r.add_argument(
        "--paper-figures",
        metavar="DIR",
        help="also write one RD figure per metric to DIR as PDF and SVG, sized for a "
        "paper column: the mean curve with the images' interquartile spread",
    )
    return r


def run(args) -> int:
    from pathlib import Path

    from ..report.build import ReportOptions, write_report
    from ..report.visual import Region

    overlap = {} if args.min_overlap is None else {"min_overlap": args.min_overlap}
    options = ReportOptions(
        anchor=args.anchor,
        interpolation=args.interpolation,
        **overlap,
        visual_images=args.images,
        visual_bpp=args.visual_bpp,
        region=Region.parse(args.region) if args.region else None,
        study=Path(args.study) if args.study else None,
        title=args.title,
        published=[Path(p) for p in args.published],
    )
    out = write_report(args.run, args.out or Path(args.run) / "report.html", options)
    if args.paper_figures:
        from ..report.paper import write_paper_figures

        written = write_paper_figures(args.run, args.paper_figures)
        print(f"paper figures: {len(written)} files in {Path(args.paper_figures).resolve()}")
    if args.eval_model:
        from ..report.build import load_run
        from ..report.compressai_json import write_eval_model

        written = write_eval_model(load_run(args.run).pairs, args.eval_model, per_image=True)
        print(f"eval_model JSON: {len(written)} files in {Path(args.eval_model).resolve()}")
    print(f"report: {out.resolve()}  (open it in a browser; figures and tables in {out.stem}_files/)")
    return 0
