"""``evalkit study simulate``: a simulated crowd sent to a running study server."""

from __future__ import annotations

import argparse

from ...errors import InputError


def add_parser(sub) -> argparse.ArgumentParser:
    sm = sub.add_parser(
        "simulate",
        help="send a simulated crowd to a running study server",
        description="Simulated raters over HTTP, making the task page's requests: each has a "
        "latent quality per codec plus noise; some are careless, some fail "
        "sentinels, some abandon halfway. For demos, tests and load tests.",
    )
    sm.add_argument("study", help="path to study.toml (its trials.json tells the crowd which codec is where)")
    sm.add_argument("--url", required=True, help="base URL of the running server, e.g. http://127.0.0.1:8000")
    sm.add_argument(
        "--raters",
        type=int,
        help="how many raters (default: one per assignment; an active "
        "study: enough for its stop_when.judgements)",
    )
    sm.add_argument(
        "--database",
        help="SQLAlchemy URL of the served study's database, where an active "
        "study's trials are (default: SQLite in the study's out/ folder)",
    )
    sm.add_argument(
        "--quality",
        help="latent JOD per codec, e.g. jpeg=0,webp=0.8 (default: the study's "
        "codecs 0.7 JOD apart, in the order of study.toml)",
    )
    sm.add_argument("--careless", type=float, default=0.1, help="share of careless raters (default 0.1)")
    sm.add_argument(
        "--inverted",
        type=float,
        default=0.05,
        help="share of raters who misread the task and fail sentinels (default 0.05)",
    )
    sm.add_argument("--abandons", type=float, default=0.1, help="share who stop halfway (default 0.1)")
    sm.add_argument("--concurrency", type=int, default=4, help="raters working at once (default 4)")
    sm.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        help="wait this fraction of each simulated response time (default 0: answer at once)",
    )
    sm.add_argument("--no-images", action="store_true", help="do not download the trial images")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    return sm


def run(args, config) -> int:
    import requests

    from ...study.config import database_url
    from ...study.crowd import Crowd, CrowdModel
    from ...study.database import connect
    from ...study.design import Design
    from ...study.simulate import simulate_crowd, write_rater_kinds

    design = Design.load(config.trials_path)
    crowd = Crowd(
        CrowdModel(
            _quality(args, config),
            careless=args.careless,
            inverted=args.inverted,
            abandons=args.abandons,
            seed=args.seed,
        )
    )
    raters = args.raters or len(design.assignments)
    if design.active and not args.raters:
        if config.budget_assignments is None:
            raise InputError(
                "an active study without stop_when.judgements: say how many raters with --raters"
            )
        # Twice what the budget needs: screened-out raters' answers do not count, and once the
        # study is complete the rest are turned away.
        raters = 2 * config.budget_assignments
    try:
        summary = simulate_crowd(
            design,
            config,
            args.url,
            crowd,
            raters,
            concurrency=args.concurrency,
            load_images=not args.no_images,
            time_scale=args.time_scale,
            progress=not args.quiet,
            engine=connect(database_url(config, args.database)) if design.active else None,
        )
    except requests.ConnectionError:
        raise InputError(
            f"cannot reach {args.url}: is the study served there ('evalkit study serve')?"
        ) from None
    print(summary.describe())
    print(f"each simulated rater's kind → {write_rater_kinds(summary, config)}")
    return 0


def _quality(args, config) -> dict[str, float]:
    """``--quality codec=JOD,…``, every codec of the study given; by default evenly spaced."""
    from ...study.crowd import evenly_spaced_quality

    if not args.quality:
        return evenly_spaced_quality(config.codecs)
    try:
        quality = {k.strip(): float(v) for k, v in (item.split("=") for item in args.quality.split(","))}
    except ValueError:
        raise InputError(f"--quality {args.quality!r}: write codec=JOD pairs, e.g. jpeg=0,webp=0.8") from None
    missing = sorted(set(config.codecs) - set(quality))
    if missing:
        raise InputError(f"--quality gives no value for {', '.join(missing)}")
    return quality
