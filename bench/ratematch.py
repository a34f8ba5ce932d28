"""Rate-matching benchmark: Kodak × six codecs × four targets.

Prints, per codec, the wall time and encodes per matched point of evalkit's search next to the
anchor measured in the same run — a plain linear scan of the codec's quality values (every
integer on integer axes, 100 evenly spaced values on real-valued ones) that keeps the closest —
and their ratio. Targets: ≤ 8 encodes per matched point on average, ≥ 3× faster than the scan.

    .venv/bin/python bench/ratematch.py --kodak-dir ../shared/data/kodak [--images 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from kodak import add_kodak_options, kodak_images, spawned_map

from evalkit.codecs import bitstream_bpp, get_codec
from evalkit.codecs.ratematch import RateSearch

CODECS = ["jpeg", "jpeg2000", "webp", "hevc-bpg", "avif", "jpegxl"]
TARGETS = [0.23, 0.37, 0.67, 1.0]


def matched(args):
    """evalkit: one search per (image, codec), its encodes shared by the four targets."""
    codec_name, image = args
    search = RateSearch(get_codec(codec_name), image)
    errors = [abs(search.match(t).rel_error) for t in TARGETS]
    return codec_name, search.fresh_encodes, errors


def scanned(args):
    """The anchor: encode at every scan value, keep the closest rate for each target."""
    codec_name, image = args
    codec = get_codec(codec_name)
    axis = codec.axis
    grid = (
        np.arange(axis.lo, axis.hi + 1)
        if axis.integer
        else [axis.from_unit(t) for t in np.linspace(0, 1, 100)]
    )
    rates = [bitstream_bpp(len(codec.encode(image, s)), *image.shape[:2]) for s in grid]
    errors = [min(abs(r / t - 1) for r in rates) for t in TARGETS]
    return codec_name, len(grid), errors


def run(fn, jobs, workers):
    start = time.perf_counter()
    # one codec's jobs at a time would starve a core at the end; interleave them instead
    results = list(spawned_map(fn, jobs, workers))
    wall = time.perf_counter() - start
    frame = pd.DataFrame(
        [(c, n, e) for c, n, errs in results for e in errs], columns=["codec", "encodes", "abs_err"]
    )
    return wall, frame, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kodak_options(parser)
    args = parser.parse_args()
    images = [ref.load() for ref in kodak_images(args)]
    jobs = [(c, im) for im in images for c in CODECS]
    points = len(images) * len(TARGETS)

    rows = []
    for label, fn in (("evalkit", matched), ("scan", scanned)):
        wall, frame, results = run(fn, jobs, args.workers)
        per_codec = {}
        for c, n, _ in results:
            per_codec.setdefault(c, 0)
            per_codec[c] += n
        err = frame.groupby("codec")["abs_err"]
        for c in CODECS:
            rows.append(
                {
                    "method": label,
                    "codec": c,
                    "encodes_per_point": per_codec[c] / points,
                    "mean_err_pct": 100 * err.mean()[c],
                    "max_err_pct": 100 * err.max()[c],
                }
            )
        rows.append(
            {
                "method": label,
                "codec": "ALL",
                "wall_s": wall,
                "encodes_per_point": sum(per_codec.values()) / (points * len(CODECS)),
                "mean_err_pct": 100 * frame["abs_err"].mean(),
                "max_err_pct": 100 * frame["abs_err"].max(),
            }
        )
    table = pd.DataFrame(rows).set_index(["codec", "method"]).sort_index()
    print(
        f"Kodak: {len(images)} images × {len(CODECS)} codecs × {len(TARGETS)} targets, {args.workers} workers"
    )
    print(table.round(2).to_string())
    ours, scan = table.loc[("ALL", "evalkit")], table.loc[("ALL", "scan")]
    print(
        f"\nencodes per matched point: {ours.encodes_per_point:.2f} (target ≤ 8); "
        f"scan: {scan.encodes_per_point:.2f}"
    )
    print(
        f"wall time: evalkit {ours.wall_s:.1f} s, scan {scan.wall_s:.1f} s → "
        f"{scan.wall_s / ours.wall_s:.1f}× faster (target ≥ 3×)"
    )


if __name__ == "__main__":
    main()
