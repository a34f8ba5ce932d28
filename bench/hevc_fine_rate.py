"""Fine rate control for ``hevc-bpg``: does every Kodak image meet its target, at BPG's quality?

Every image is rate-matched (policy ``closest``, tolerance 1 %) at 0.25, 0.5, 0.75 and 1.0 bpp
twice in the same run: by ``hevc-bpg`` (QP in eighths through a flat scaling list,
``codecs/hevc_fine.py``) and by ``hevc-bpg-qp`` (BPG's integer slice QP, the anchor). Printed:

- the share of points within 1 % for each (targets: ≥ 90 % for ``hevc-bpg``);
- the BD-rate (PSNR, PCHIP) of ``hevc-bpg``'s four matched points against the integer-QP curve
  of the same image — every QP the integer search encoded, decoded — per image, then the mean
  and the range over images (target: within ±1 %: the same encoder at the same quality);
- encodes per target and CPU seconds per encode (ffmpeg's, from the children's rusage).

    EVALKIT_SHARED_DIR=../shared nice .venv/bin/python bench/hevc_fine_rate.py [--images 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
from kodak import add_kodak_options, kodak_images, spawned_map

from evalkit.codecs import bitstream_bpp, get_codec
from evalkit.codecs.ratematch import RateSearch
from evalkit.report.bjontegaard import bd_rate

TARGETS = [0.25, 0.5, 0.75, 1.0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def matched(codec_name: str, name: str, image: np.ndarray) -> tuple[list[dict], RateSearch, float]:
    """Rows for every target (matched, decoded, scored), the search and its CPU seconds."""
    codec, start = get_codec(codec_name), children_cpu()
    search, rows = RateSearch(codec, image), []
    for target in TARGETS:
        m = search.match(target)
        data = search.bitstream(m.setting)
        rows.append(
            {
                "codec": codec_name,
                "image": name,
                "target": target,
                "setting": m.setting,
                "bpp": bitstream_bpp(len(data), *image.shape[:2]),
                "rel_error": m.rel_error,
                "flag": m.flag,
                "encodes": m.encodes,
                "psnr": psnr(image, codec.decode(data)),
            }
        )
    return rows, search, children_cpu() - start


def measure(job) -> dict:
    name, image = job
    fine, _, fine_cpu = matched("hevc-bpg", name, image)
    integer, search, integer_cpu = matched("hevc-bpg-qp", name, image)
    curve = sorted(
        (search.bpp(p), psnr(image, search.codec.decode(search.bitstream(s))))
        for s, p in search.known.items()
    )
    anchor_rate, anchor_psnr = zip(*curve)
    bd = bd_rate(anchor_rate, anchor_psnr, [r["bpp"] for r in fine], [r["psnr"] for r in fine])
    return {
        "rows": fine + integer,
        "bd": bd.value,
        "overlap": bd.overlap,
        "cpu": {"hevc-bpg": fine_cpu, "hevc-bpg-qp": integer_cpu},
        "encodes": {"hevc-bpg": sum(r["encodes"] for r in fine), "hevc-bpg-qp": search.fresh_encodes},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kodak_options(parser)
    args = parser.parse_args()
    refs = kodak_images(args)
    start = time.perf_counter()
    results = []
    for ref, result in zip(refs, spawned_map(measure, [(r.name, r.load()) for r in refs], args.workers)):
        within = [abs(r["rel_error"]) <= 0.01 for r in result["rows"] if r["codec"] == "hevc-bpg"]
        print(
            f"{ref.name}: {sum(within)} of {len(within)} within 1 %, BD-rate {result['bd']:+.2f} %",
            flush=True,
        )
        results.append(result)
    rows = pd.DataFrame([row for r in results for row in r["rows"]])
    rows["within"] = rows["rel_error"].abs() <= 0.01
    print(
        f"Kodak: {len(refs)} images × {len(TARGETS)} targets × 2 codecs in "
        f"{time.perf_counter() - start:.0f} s on {args.workers} workers (nice, shared CPUs)"
    )
    table = rows.groupby(["codec", "target"]).agg(
        within_1pct=("within", "mean"),
        worst_err_pct=("rel_error", lambda e: 100 * e.abs().max()),
        bpp=("bpp", "mean"),
        psnr=("psnr", "mean"),
        encodes=("encodes", "mean"),
    )
    print(table.round({"within_1pct": 3, "worst_err_pct": 2, "bpp": 4, "psnr": 2, "encodes": 2}).to_string())
    for codec, group in rows.groupby("codec"):
        cpu = sum(r["cpu"][codec] for r in results) / sum(r["encodes"][codec] for r in results)
        print(
            f"{codec}: {group['within'].mean():.1%} of {len(group)} points within 1 %, "
            f"{cpu:.2f} CPU s per encode"
        )
    bds = np.array([r["bd"] for r in results])
    share = rows.loc[rows["codec"] == "hevc-bpg", "within"].mean()
    print(
        f"\nhevc-bpg within 1 %: {share:.1%} (target ≥ 90 %) → {'MET' if share >= 0.9 else 'NOT MET'}"
        f"; integer QP (the anchor, same run): {rows.loc[rows['codec'] == 'hevc-bpg-qp', 'within'].mean():.1%}"
    )
    print(
        f"BD-rate of hevc-bpg against integer-QP BPG, PSNR, per image: mean {bds.mean():+.2f} %, "
        f"median {np.median(bds):+.2f} %, range {bds.min():+.2f} … {bds.max():+.2f} % "
        f"(min overlap {min(r['overlap'] for r in results):.0%}; target within ±1 %) → "
        f"{'MET' if abs(bds.mean()) <= 1 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
