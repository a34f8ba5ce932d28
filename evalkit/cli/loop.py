"""``evalkit loop``: study → fitted metric → codec trained on it → second study (:mod:`evalkit.loop`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import add_training_options


def add_parser(sub) -> argparse.ArgumentParser:
    lp = sub.add_parser(
        "loop",
        help="study → fitted metric → codec trained on it → second study, in one command",
        description="Run the closed loop an experiment file describes (see studies/loop-demo/"
        "experiment.toml): a study of existing codecs, a combined metric fitted on its "
        "screened judgements, a codec fine-tuned on that metric beside an MSE "
        "baseline, a second study of the two, and a report answering whether people "
        "prefer the metric-trained codec. Each stage is cached in out/loop.json beside "
        "the experiment file; run the command again to resume. With real raters (no "
        "[crowd] table) it stops (exit status 3) where a study needs them.",
    )
    lp.add_argument("experiment", help="EXPERIMENT.toml")
    lp.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="go on with the answers the study has now (real raters)",
    )
    add_training_options(lp, "CPU threads for training (default: all cores)", device=None)
    return lp


def run(args) -> int:
    from ..loop import WaitingForPeople, load_experiment, run_loop

    experiment = load_experiment(args.experiment)  # checked whole before anything starts
    try:
        summary = run_loop(
            experiment,
            resume=args.resume,
            weights_dir=args.weights_dir,
            device=args.device,
            threads=args.threads,
            progress=not args.quiet,
        )
    except WaitingForPeople as waiting:
        print(f"evalkit loop: waiting for people: {waiting}", file=sys.stderr)
        return 3
    print(f"\n{summary['question']}")
    for row in summary["answer"]:
        truth = f"; the crowd's truth {row['truth']:+.2f}" if "truth" in row else ""
        print(
            f"  {row['bpp']:g} bpp: {row['verdict']} (gap {row['gap']:+.2f} JOD "
            f"[{row['ci'][0]:+.2f}, {row['ci'][1]:+.2f}], p = {row['p']:.3f}{truth})"
        )
    fit = summary["fit"]
    print(
        f"fitted metric: held-out 2AFC {fit['score_2afc']:.3f} [{fit['ci'][0]:.3f}, "
        f"{fit['ci'][1]:.3f}] on {fit['judgements']} judgements"
    )
    print(f"report: {Path(summary['report']).resolve()}")
    return 0
