"""The shipped learned model against the classical codecs on Kodak, at per-image matched bpp.

Reads run folders that ``evalkit compress`` and ``evalkit metrics`` (psnr, ms-ssim) wrote —
e.g. one with the classical codecs and one per version of the model, the same targets in each —
and prints the mean bpp, PSNR and MS-SSIM per codec and target, then the BD-rate of every codec
against JPEG (the report's :func:`~evalkit.report.tables.bd_table`: PCHIP over the shared range).
A ``NAME=FOLDER`` argument renames that folder's learned codec (a zoo name ``ek-…`` or a file,
``ARCH@PATH``), so two versions of one model can stand side by side. Target for the shipped model: PSNR BD-rate against JPEG ≤ 0 over 0.25–1 bpp.

    evalkit compress --images kodak --codecs jpeg,webp,jpeg2000,hevc-bpg --bpp 0.25,0.375,0.5,0.75,1 --out runs/kodak
    evalkit compress --images kodak --codecs ek-variable-rate-mse --bpp 0.25,0.375,0.5,0.75,1 --out runs/kodak-ek
    evalkit metrics --manifest runs/kodak/manifest.csv --metrics psnr,ms-ssim   (and for runs/kodak-ek)
    .venv/bin/python bench/shipped_model.py runs/kodak runs/kodak-ek [ek-old=runs/kodak-ek-old]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from evalkit.report.tables import bd_table, rd_curves


def read(argument: str) -> pd.DataFrame:
    name, _, folder = argument.rpartition("=")
    pairs = pd.read_csv(Path(folder) / "metrics.csv")
    if name:
        learned = [c for c in pairs["codec"].unique() if c.startswith("ek-") or "@" in c]
        pairs["codec"] = pairs["codec"].replace({c: name for c in learned})
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders with metrics.csv, or NAME=FOLDER")
    parser.add_argument("--anchor", default="jpeg")
    args = parser.parse_args()
    pairs = pd.concat([read(a) for a in args.runs], ignore_index=True)
    table = pairs.groupby(["codec", "target_bpp"])[["bpp", "psnr", "ms_ssim"]].mean()
    print(table.round({"bpp": 3, "psnr": 2, "ms_ssim": 4}).unstack("target_bpp").to_string())
    bd = bd_table({c: f for c, f in rd_curves(pairs, None).items() if c in ("psnr", "ms_ssim")}, args.anchor)
    shown = bd.pivot(index="codec", columns="metric", values="bd_rate").round(1)
    print(f"\nBD-rate against {args.anchor} (%; negative: fewer bits at equal quality)")
    print(shown.to_string())
    for row in bd[bd["bd_rate_refused"] != ""].itertuples():
        print(f"  {row.codec} {row.metric}: {row.bd_rate_refused}")


if __name__ == "__main__":
    main()
