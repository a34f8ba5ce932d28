"""``evalkit compress``: images reconstructed by many codecs at matched bits per pixel."""

from __future__ import annotations

import argparse
import sys

from .options import (
    PRIMARY_CODECS,
    add_cluster_options,
    available_codecs,
    bpp_targets,
    cluster_executor,
    name_list,
)


def add_parser(sub) -> argparse.ArgumentParser:
    c = sub.add_parser(
        "compress",
        help="reconstruct images with many codecs at matched bits per pixel",
        description="Encode every image with every codec at each target bpp (real bitstreams), "
        "write reconstructions, bitstreams and manifest.csv, and print a summary.",
    )
    c.add_argument(
        "--images",
        default="samples",
        help="'samples' (bundled photos), 'kodak', a folder, or one image (default: samples)",
    )
    c.add_argument(
        "--kodak-dir",
        help="folder with kodim01.png … kodim24.png "
        "(default: $EVALKIT_KODAK_DIR, else download into the cache)",
    )
    c.add_argument(
        "--codecs",
        type=name_list,
        default=None,
        help=f"comma-separated codec names (default: every available one of "
        f"{','.join(PRIMARY_CODECS)}; see 'evalkit codecs')",
    )
    c.add_argument(
        "--bpp",
        type=bpp_targets,
        default=[0.25, 0.5, 1.0],
        help="comma-separated target bits per pixel (default: 0.25,0.5,1.0)",
    )
    c.add_argument(
        "--policy",
        choices=("closest", "not-above"),
        default="closest",
        help="closest: nearest achievable rate; not-above: highest rate not above target",
    )
    c.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="relative bpp error at which the search stops (default: 0.01)",
    )
    c.add_argument("--out", default="runs/samples", help="output folder (default: runs/samples)")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    c.add_argument(
        "--device",
        default="auto",
        help="learned codecs: auto (cuda when present), cpu, cuda, cuda:1 … (default: auto)",
    )
    c.add_argument(
        "--weights-dir",
        help="learned codecs: folder with checkpoints "
        "(default: $EVALKIT_WEIGHTS_DIR, then the torch hub cache)",
    )
    add_cluster_options(c, "(image, codec) job")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    return c


def run(args) -> int:
    from ..compress import compress
    from ..datasets import resolve_images
    from ..report.tables import summary_table

    if args.codecs is None:
        args.codecs = available_codecs()
    images = resolve_images(args.images, args.kodak_dir)
    with cluster_executor(args, args.workers) as executor:
        result = compress(
            images,
            args.codecs,
            args.bpp,
            args.out,
            policy=args.policy,
            rtol=args.tolerance,
            progress=not args.quiet,
            device=args.device,
            weights_dir=args.weights_dir,
            executor=executor,
            shard=args.shard,
        )
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    if len(result.manifest):
        print(summary_table(result.manifest).to_string())
    print(
        f"\n{len(result.manifest)} reconstructions, {result.fresh_encodes} new encodes; "
        f"manifest: {args.out}/manifest.csv"
    )
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if result.errors else 0
