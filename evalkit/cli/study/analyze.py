"""``evalkit study analyze``: rankings, rater screening, agreement ceiling, plots."""

from __future__ import annotations

import argparse

from ..options import name_list


def add_parser(sub) -> argparse.ArgumentParser:
    an = sub.add_parser(
        "analyze",
        help="rank the codecs, screen raters, agreement ceiling, plots",
        description="Analyse a study's stored responses: rater screening (every exclusion "
        "with its reason), preference per pair and bpp, Thurstone (JOD) and "
        "Bradley–Terry rankings with bootstrap CIs over raters and images, "
        "rater agreement and the ceiling it puts on metrics' 2AFC scores — "
        "all with and without the excluded raters. Tables, plots (PNG, SVG) "
        "and judgements.csv (for evalkit fit) go to out/analysis/.",
    )
    an.add_argument("study", help="path to study.toml")
    an.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the study's out/ folder)")
    an.add_argument("--out", help="output folder (default: the study's out/analysis)")
    an.add_argument(
        "--min-sentinel-accuracy", type=float, default=0.8, help="exclude raters below (default 0.8)"
    )
    an.add_argument(
        "--min-repeat-consistency",
        type=float,
        default=None,
        help="exclude raters below this repeat consistency (default: off)",
    )
    an.add_argument(
        "--fast-answer-s",
        type=float,
        default=0.6,
        help="an answer faster than this is implausible (default 0.6)",
    )
    an.add_argument(
        "--max-fast-share",
        type=float,
        default=0.25,
        help="exclude raters with a larger share of implausibly fast answers (default 0.25)",
    )
    an.add_argument("--no-screening", action="store_true", help="exclude nobody")
    an.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000)")
    an.add_argument(
        "--metrics",
        type=name_list,
        default=["psnr"],
        help="metrics scored beside the agreement ceiling, e.g. psnr,ms-ssim,lpips (default psnr; 'none' for none)",
    )
    an.add_argument("--model", help="a fitted combination (evalkit fit --out) to score beside them")
    an.add_argument("--weights-dir", help="local network weights for LPIPS")
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    return an


def run(args, config) -> int:
    from pathlib import Path

    from ...fit.model import CombinationModel
    from ...study.analyze import analyze, format_report, write_analysis
    from ...study.config import database_url, not_sure_rule
    from ...study.database import connect
    from ...study.responses import responses
    from ...study.screening import ScreeningRules

    rules = (
        ScreeningRules(None, None, args.fast_answer_s, None)
        if args.no_screening
        else ScreeningRules(
            args.min_sentinel_accuracy, args.min_repeat_consistency, args.fast_answer_s, args.max_fast_share
        )
    )
    metrics = [] if args.metrics == ["none"] else args.metrics
    model = CombinationModel.load(args.model) if args.model else None
    result = analyze(
        responses(connect(database_url(config, args.database))),
        rules,
        codecs=config.codecs,
        n_boot=args.bootstrap,
        seed=args.seed,
        metrics=metrics,
        model=model,
        root=config.out_dir,
        engine_options={"weights_dir": args.weights_dir},
        progress=not args.quiet,
        not_sure=not_sure_rule(config),
    )
    print(format_report(result))
    out = Path(args.out) if args.out else config.out_dir / "analysis"
    written = write_analysis(result, out)
    print(f"\n{len(written)} files → {out} (judgements.csv there is what 'evalkit fit' reads)")
    return 0
