"""``evalkit merge``: the outputs of shards (``--shard K/N``) joined into one run folder."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    mg = sub.add_parser(
        "merge",
        help="join the outputs of shards (--shard K/N) into one run folder",
        description="Join run folders of 'evalkit compress' (with their metrics.csv, if measured) "
        "and metrics tables of 'evalkit metrics --shard' into one run folder: files "
        "linked or copied, manifests and metrics tables joined, FID/KID computed "
        "from the joined features (never averaged over shards). Refuses incomplete, "
        "repeated or mismatched shards.",
    )
    mg.add_argument(
        "runs", nargs="+", metavar="RUN", help="run folders and/or metrics tables (metrics-shard-K-of-N.csv)"
    )
    mg.add_argument("--out", required=True, help="the joined run folder")
    return mg


def run(args) -> int:
    from ..merge import merge_runs

    result = merge_runs(args.runs, args.out)
    if result.manifest is not None:
        print(f"{len(result.manifest)} manifest rows, {result.files} files → {args.out}/manifest.csv")
    if result.pairs is not None:
        print(f"{len(result.pairs)} measured pairs → {args.out}/metrics.csv")
    if result.sets is not None:
        print(
            f"\n{result.sets.round(4).to_string(index=False)}\n\n"
            f"set-level metrics of the joined features → {args.out}/metrics_sets.csv"
        )
    return 0
