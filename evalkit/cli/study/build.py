"""``evalkit study build``: the study's images compressed and its trial set written."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    b = sub.add_parser("build", help="compress the images and write the trial set")
    b.add_argument("study", help="path to study.toml")
    b.add_argument(
        "--strict",
        action="store_true",
        help="fail (instead of leaving pairs out) when two sides are not at matched bpp",
    )
    b.add_argument("--workers", type=int, default=None, help="compression processes (default: all cores)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    return b


def run(args, config) -> int:
    import warnings

    from ...study.design import build_study

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = build_study(config, strict=args.strict, progress=not args.quiet, workers=args.workers)
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    if design.active:
        print(
            f"{config.name}: active sampling over {len(design.pairs)} pairs at matched bpp (each assignment "
            f"planned when it is claimed; stop when {config.stop_when}), {len(design.rejected)} pairs left "
            f"out → {config.trials_path}"
        )
        return 0
    trials = [t for a in design.assignments for t in a]
    kinds = {k: sum(t.kind == k for t in trials) for k in ("pair", "sentinel", "repeat")}
    print(
        f"{config.name}: {len(design.assignments)} assignments, {len(trials)} trials "
        f"({kinds['pair']} comparisons, {kinds['sentinel']} sentinels, {kinds['repeat']} repeats), "
        f"{len(design.rejected)} pairs left out → {config.trials_path}"
    )
    return 0
