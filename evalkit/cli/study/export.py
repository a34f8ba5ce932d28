"""``evalkit study export``: judgements, raw responses, rater quality and assignments as CSV."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    ex = sub.add_parser(
        "export",
        help="write judgements (for evalkit fit), raw responses, rater quality "
        "and assignments (leases, completion codes)",
    )
    ex.add_argument("study", help="path to study.toml")
    ex.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the study's out/ folder)")
    ex.add_argument(
        "--min-sentinel-accuracy",
        type=float,
        default=None,
        help="leave out raters below this sentinel accuracy",
    )
    ex.add_argument(
        "--min-median-server-s",
        type=float,
        default=None,
        help="leave out raters whose median answer time, as the server measured it, is below this",
    )
    return ex


def run(args, config) -> int:
    from ...study import responses
    from ...study.config import database_url, not_sure_rule
    from ...study.database import connect

    engine = connect(database_url(config, args.database))
    files = {
        "judgements.csv": responses.judgement_table(
            engine,
            min_sentinel_accuracy=args.min_sentinel_accuracy,
            min_median_server_s=args.min_median_server_s,
            not_sure=not_sure_rule(config),
        ),
        "responses.csv": responses.responses(engine),
        "quality.csv": responses.rater_quality(engine),
        "assignments.csv": responses.progress(engine, config.judgements_per_pair)[1],
    }
    for name, table in files.items():
        table.to_csv(config.out_dir / name, index=False)
        print(f"{len(table):6d} rows → {config.out_dir / name}")
    return 0
