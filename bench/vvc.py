"""VVC intra (``vvc``, VVenC) against HEVC intra (``hevc-bpg``) on Kodak, in the same run.

The field reports VVC intra (VTM) about 20–25 % below HEVC intra (HM) in PSNR BD-rate. Here
every image is rate-matched (policy ``closest``, 1 %) at 0.25, 0.5, 0.75 and 1.0 bpp by both
codecs, each matched bitstream decoded, and the BD-rate (RGB PSNR, PCHIP) of ``vvc`` against
``hevc-bpg`` computed per image over the four points, then averaged; beside it the set-level
BD-rate on the mean curves, and each codec's CPU seconds per encode (ffmpeg's, from the
children's rusage). Both are evalkit's configurations: ``vvc`` is 4:2:0 (VVenC codes nothing
else), ``hevc-bpg`` 4:4:4 as BPG, so RGB PSNR counts VVC's chroma subsampling against it.

    EVALKIT_SHARED_DIR=../shared nice .venv/bin/python bench/vvc.py [--images 24] [--preset fast]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import pandas as pd
from hevc_fine_rate import TARGETS, children_cpu, psnr
from kodak import add_kodak_options, kodak_images, spawned_map

from evalkit.codecs import bitstream_bpp, get_codec
from evalkit.codecs.ratematch import RateSearch
from evalkit.codecs.vvc import VVCIntra
from evalkit.report.bjontegaard import bd_rate


def matched(codec, name: str, image: np.ndarray) -> tuple[list[dict], float, int]:
    start, search, rows = children_cpu(), RateSearch(codec, image), []
    for target in TARGETS:
        m = search.match(target)
        data = search.bitstream(m.setting)
        rows.append(
            {
                "codec": codec.name,
                "image": name,
                "target": target,
                "flag": m.flag,
                "bpp": bitstream_bpp(len(data), *image.shape[:2]),
                "psnr": psnr(image, codec.decode(data)),
            }
        )
    return rows, children_cpu() - start, search.fresh_encodes


def measure(job, preset: str) -> dict:
    name, image = job
    vvc, vvc_cpu, vvc_encodes = matched(VVCIntra("vvc", preset=preset), name, image)
    hevc, hevc_cpu, hevc_encodes = matched(get_codec("hevc-bpg"), name, image)
    bd = bd_rate(
        [r["bpp"] for r in hevc], [r["psnr"] for r in hevc], [r["bpp"] for r in vvc], [r["psnr"] for r in vvc]
    )
    return {
        "rows": vvc + hevc,
        "bd": bd.value,
        "cpu": {"vvc": (vvc_cpu, vvc_encodes), "hevc-bpg": (hevc_cpu, hevc_encodes)},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kodak_options(parser)
    parser.add_argument("--preset", default="fast", help="VVenC preset (faster … slower)")
    args = parser.parse_args()
    refs = kodak_images(args)
    start = time.perf_counter()
    results = []
    jobs = [(r.name, r.load()) for r in refs]
    for ref, result in zip(refs, spawned_map(partial(measure, preset=args.preset), jobs, args.workers)):
        print(f"{ref.name}: BD-rate {result['bd']:+.1f} %", flush=True)
        results.append(result)
    rows = pd.DataFrame([row for r in results for row in r["rows"]])
    print(
        f"Kodak: {len(refs)} images × {len(TARGETS)} targets, vvc (VVenC preset {args.preset}) "
        f"and hevc-bpg in {time.perf_counter() - start:.0f} s on {args.workers} workers"
    )
    curves = rows.groupby(["codec", "target"]).agg(
        bpp=("bpp", "mean"), psnr=("psnr", "mean"), flagged=("flag", lambda f: (f != "").sum())
    )
    print(curves.round({"bpp": 4, "psnr": 2}).to_string())
    for codec in ("vvc", "hevc-bpg"):
        cpu = sum(r["cpu"][codec][0] for r in results)
        encodes = sum(r["cpu"][codec][1] for r in results)
        print(f"{codec}: {cpu / encodes:.2f} CPU s per encode ({encodes} encodes)")
    bds = np.array([r["bd"] for r in results])
    hevc, vvc = curves.loc["hevc-bpg"], curves.loc["vvc"]
    overall = bd_rate(hevc["bpp"], hevc["psnr"], vvc["bpp"], vvc["psnr"]).value
    print(
        f"\nBD-rate of vvc against hevc-bpg, RGB PSNR: per image mean {bds.mean():+.1f} % "
        f"(median {np.median(bds):+.1f} %, range {bds.min():+.1f} … {bds.max():+.1f} %), on the "
        f"mean curves {overall:+.1f} %; the field's VTM-vs-HM intra: about −20 to −25 %"
    )


if __name__ == "__main__":
    main()
