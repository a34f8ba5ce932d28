"""``evalkit import``: reconstructions made by other tools, as a run folder."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    i = sub.add_parser(
        "import",
        help="bring reconstructions made by another tool into a run folder",
        description="Write a run folder (manifest.csv, references/, <codec>/<point>/) that "
        "'evalkit metrics' and 'evalkit report' take like one of 'evalkit compress': "
        "the originals in one folder, the reconstructions in another with one "
        "subfolder per rate point (<point>/<image>.png), and the rate from the "
        "bitstreams (same layout, any extension) or from a table image,point,bpp.",
    )
    i.add_argument("--codec", required=True, help="the name the codec gets in tables and figures")
    i.add_argument("--originals", required=True, help="folder of the original images")
    i.add_argument("--reconstructions", required=True, help="folder with one subfolder per rate point")
    rate = i.add_mutually_exclusive_group(required=True)
    rate.add_argument("--bitstreams", help="folder of the bitstreams, laid out as --reconstructions")
    rate.add_argument("--bpp", help="CSV with columns image, point, bpp")
    i.add_argument("--out", required=True, help="run folder to write")
    return i


def run(args) -> int:
    from ..external import import_reconstructions
    from ..metrics import read_table

    manifest = import_reconstructions(
        args.originals,
        args.reconstructions,
        args.codec,
        args.out,
        bitstreams=args.bitstreams,
        bpp=read_table(args.bpp) if args.bpp else None,
    )
    points = manifest.groupby("setting_name")["bpp"].mean()
    print(
        f"{args.codec}: {manifest['image'].nunique()} images × {len(points)} points "
        f"({', '.join(f'{p} {b:.3f} bpp' for p, b in points.items())}) in {args.out}/manifest.csv"
    )
    return 0
