"""``evalkit study scale``: an imported comparison table scaled per stimulus and metrics benchmarked."""

from __future__ import annotations

import argparse

from ..options import LibraryChoices, name_list


def add_parser(sub) -> argparse.ArgumentParser:
    sc = sub.add_parser(
        "scale",
        help="JND per stimulus from its source, boost gains, metrics benchmarked",
        description="Read comparisons.csv and stimuli.csv ('evalkit study import' output) "
        "in FOLDER; per condition and all together: each stimulus's scale in "
        "JND from its source (fixed at 0) with bootstrap CIs, the gain of "
        "boosted comparisons per image, and — for the metric columns of the "
        "stimuli table — each metric's and each fitted pair's held-out 2AFC "
        "score, accuracy and rank correlation beside the agreement ceiling, "
        "probit fit beside linear. Tables, figures and scale_report.txt go "
        "to FOLDER/analysis/ ('evalkit report --study FOLDER' shows them).",
    )
    sc.add_argument("folder", help="the folder 'evalkit study import --out' wrote")
    sc.add_argument(
        "--metrics",
        type=name_list,
        default=[],
        help="comma-separated metric columns of stimuli.csv to benchmark (default: every numeric "
        "column but level)",
    )
    sc.add_argument(
        "--no-screening",
        action="store_true",
        help="keep every rater (default: leave out those who fail the traps or are outliers)",
    )
    sc.add_argument(
        "--exclude",
        help="a CSV of further raters to leave out (a 'rater' column; rows whose "
        "'excluded' column is false are kept)",
    )
    sc.add_argument(
        "--not-sure",
        choices=LibraryChoices("evalkit.study.comparisons", "NOT_SURE_RULES"),
        metavar="RULE",
        default="split",
        help="a not-sure answer: half a win each way (split, the default) or dropped (%(choices)s)",
    )
    sc.add_argument(
        "--prior",
        choices=LibraryChoices("evalkit.study.stimulus_scale", "PRIORS"),
        metavar="PRIOR",
        default="distance",
        help="%(choices)s; distance: pwcmp's distance prior (default); normal: N(0, 10²) per score; none",
    )
    sc.add_argument(
        "--bootstrap", type=int, default=200, help="bootstrap replicates of the scale (default 200)"
    )
    sc.add_argument("--hypotheses", type=int, default=1000, help="RANSAC hypotheses per fit (default 1000)")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--quiet", action="store_true", help="no progress bar")
    return sc


def run(args, config) -> int:
    from pathlib import Path

    import pandas as pd

    from ...errors import InputError
    from ...study import comparisons as cmp
    from ...study.imports import read_comparisons
    from ...study.scale_analysis import analyze_scale, format_scale_report, write_scale_analysis
    from ...study.screening import screen_comparisons

    folder = Path(args.folder)
    comparisons = read_comparisons(folder / "comparisons.csv")
    stimuli_path = folder / "stimuli.csv"
    if not stimuli_path.is_file():
        raise InputError(f"{stimuli_path}: no such file (run 'evalkit study import … --out {folder}')")
    stimuli = pd.read_csv(
        stimuli_path,
        dtype={c: str for c in (cmp.IMAGE, cmp.STIMULUS, cmp.CODEC, cmp.FILE)},
        keep_default_na=False,
        na_values={c: [""] for c in ("level",)},
    )
    stimuli[cmp.LEVEL] = stimuli[cmp.LEVEL].astype(float)
    metrics = args.metrics or [
        c
        for c in stimuli.columns
        if c not in cmp.STIMULUS_COLUMNS
        and pd.api.types.is_numeric_dtype(pd.to_numeric(stimuli[c], errors="coerce"))
        and pd.to_numeric(stimuli[c], errors="coerce").notna().any()
    ]
    raters = None if args.no_screening else screen_comparisons(comparisons, args.not_sure)
    excluded = set() if raters is None else set(raters.loc[raters["excluded"], "rater"])
    if args.exclude:
        listed = pd.read_csv(args.exclude, dtype={"rater": str})
        if "rater" not in listed:
            raise InputError(f"{args.exclude}: needs a 'rater' column")
        excluded |= set(
            listed.loc[listed["excluded"].astype(bool), "rater"] if "excluded" in listed else listed["rater"]
        )
    result = analyze_scale(
        comparisons,
        stimuli,
        metrics,
        excluded=excluded,
        not_sure=args.not_sure,
        prior=args.prior,
        n_boot=args.bootstrap,
        seed=args.seed,
        progress=not args.quiet,
        n_hypotheses=args.hypotheses,
    )
    result.raters = raters
    print(format_scale_report(result))
    written = write_scale_analysis(result, folder / "analysis")
    print(f"\n{len(written)} files → {folder / 'analysis'}")
    return 0
