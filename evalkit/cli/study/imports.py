"""``evalkit study import``: another study's answer files as evalkit's comparison and stimuli tables."""

from __future__ import annotations

import argparse

from ..options import LibraryChoices


def add_parser(sub) -> argparse.ArgumentParser:
    im = sub.add_parser(
        "import",
        help="read a public study's answers (AIC-3, CLIC, any CSV) into comparison tables",
        description="Read answer files of another study into evalkit's comparison table "
        "(one row per answer: rater, image, left, right, answer, boosted, trap, "
        "expected, response time, condition) and stimuli table, written as "
        "comparisons.csv and stimuli.csv (or .parquet) in --out. Formats: aic3 "
        "(JPEG AIC-3 PTC/BTC triplets), clic (methodA,methodB,originalName,"
        "answerValue), csv (any layout, with --map).",
    )
    im.add_argument(
        "format",
        choices=LibraryChoices("evalkit.study.imports", "FORMATS"),
        metavar="FORMAT",
        help="the files' format: %(choices)s",
    )
    im.add_argument("files", nargs="+", help="answer files (CSV)")
    im.add_argument("--out", required=True, help="output folder")
    im.add_argument(
        "--as",
        dest="table_format",
        choices=("csv", "parquet"),
        default="csv",
        help="table file format (default csv)",
    )
    im.add_argument("--metrics", help="a metric table to join to the stimuli (e.g. AIC-4's metric scores)")
    im.add_argument(
        "--join",
        choices=("file", "stimulus"),
        default="file",
        help="join the metric table by file name (default) or by image and stimulus id",
    )
    im.add_argument(
        "--key",
        help="the metric table's column to join on (default: 'file' or 'stimulus'; AIC-4: img_distorted)",
    )
    im.add_argument(
        "--metric-columns", help="comma-separated metric columns to join (default: every numeric one)"
    )
    im.add_argument(
        "--map",
        nargs="+",
        default=[],
        metavar="COLUMN=CSV_COLUMN",
        help="csv: which CSV column holds each table column (rater, image, left, right, answer; "
        "optional trap, expected, boosted, response_time, condition, pivot)",
    )
    im.add_argument(
        "--answers",
        nargs="+",
        default=[],
        metavar="VALUE=ANSWER",
        help="csv: how answer values read, e.g. A=left B=right tie=not_sure x=skip "
        "(default: left, right, not_sure, skip themselves)",
    )
    im.add_argument(
        "--answer-names",
        choices=("better", "worse"),
        default="better",
        help="csv: an answer names the side of better (default) or worse quality",
    )
    im.add_argument(
        "--time-unit-s",
        type=float,
        default=1.0,
        help="csv: seconds per unit of the response-time column (0.001 for ms; default 1)",
    )
    im.add_argument(
        "--screen",
        action="store_true",
        help="screen the raters: trap accuracy and the outlier rule (relative score and skill "
        "floor); writes raters.csv and prints the share screened out per condition",
    )
    im.add_argument(
        "--min-trap-accuracy",
        type=float,
        default=0.8,
        help="--screen: exclude raters below this share of decided traps right (default 0.8)",
    )
    im.add_argument(
        "--not-sure",
        choices=LibraryChoices("evalkit.study.comparisons", "NOT_SURE_RULES"),
        metavar="RULE",
        default="split",
        help="--screen: a not-sure answer counts half a win each way (split, the default) or not "
        "at all (%(choices)s)",
    )
    return im


def run(args, config) -> int:
    import json

    import pandas as pd

    from ...errors import InputError
    from ...study import imports
    from ...study.outliers import OUTLIER_THRESHOLD, SKILL_FLOOR
    from ..options import name_list

    if args.format != "csv" and (args.map or args.answers):
        raise InputError(
            f"--map and --answers are for the csv format; {args.format} files have a fixed layout"
        )
    mapping = (
        imports.ColumnMapping.parse(
            args.map, args.answers, answer_names=args.answer_names, time_unit_s=args.time_unit_s
        )
        if args.format == "csv"
        else None
    )
    result = imports.read(args.format, args.files, mapping)
    stimuli = None
    if args.metrics:
        try:
            table = pd.read_csv(args.metrics)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise InputError(f"{args.metrics}: not a readable metric table ({error})") from None
        stimuli = imports.join_metrics(
            result.stimuli,
            table,
            on=args.join,
            key=args.key,
            columns=name_list(args.metric_columns) if args.metric_columns else None,
        )
    written = imports.write(result, args.out, args.table_format, stimuli)
    print(json.dumps(result.summary(), indent=1))
    if args.screen:
        from ...study.screening import screen_comparisons, screening_summary

        raters = screen_comparisons(result.comparisons, args.not_sure, args.min_trap_accuracy)
        raters.to_csv(written[0].parent / "raters.csv", index=False)
        written.append(written[0].parent / "raters.csv")
        print(
            f"screened out (traps: accuracy < {args.min_trap_accuracy:g}; outliers: score > "
            f"{OUTLIER_THRESHOLD:g} or skill < {SKILL_FLOOR:g}; not sure: {args.not_sure}):"
        )
        print(screening_summary(raters).to_string(index=False, float_format=lambda v: f"{v:.1%}"))
    for path in written:
        print(f"→ {path}")
    return 0
