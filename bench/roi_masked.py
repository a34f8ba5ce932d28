"""Masked-region PSNR of an ROI-trained codec beside the same recipe trained without masks, at
equal bpp.

Codes held-out images (BSDS500 ``val/``) to real bitstreams with each model and prints, per model
and target bpp, the mean bpp (file size), the PSNR of the whole image and the PSNR inside the
saliency mask (weighted by the mask, s ∈ [0, 1]: 10·log10(255² · Σ s / Σ s·(x − x̂)²) over
pixels and channels), with the masks computed as training computed them
(``evalkit/train/saliency.py``). With ``--bpp`` every image is rate matched per target
(:class:`evalkit.codecs.ratematch.RateSearch`, as ``evalkit compress`` does: within 1 % or
flagged), so the models meet at equal bpp; then each model's curve is set against the first
model's: the mean difference in whole and masked PSNR over the targets, and the BD-rate of both
(PCHIP, the report's :mod:`evalkit.report.bjontegaard`). Without ``--bpp`` each model codes at its one setting (single-
rate models) and its bpp is printed beside its PSNR instead.

    .venv/bin/python bench/roi_masked.py --data ../shared/data/bsds500 --images 24 \\
        --bpp 0.25,0.5,0.75,1 plain=variable-rate@runs/plain-ft/plain-fine-tune.pth \\
        roi=variable-rate@runs/roi-ft/roi-fine-tune.pth
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.codecs import get_codec
from evalkit.codecs.base import bitstream_bpp
from evalkit.codecs.ratematch import RateSearch
from evalkit.report.bjontegaard import BDRefusal, bd_rate
from evalkit.train.data import validation_images
from evalkit.train.saliency import saliency_function, to_mask


def masked_psnr(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) of y against x with the squared error weighted by ``mask`` in [0, 1]."""
    weight = np.repeat(mask[..., None].astype(np.float64), 3, axis=2)
    error = (x.astype(np.float64) - y.astype(np.float64)) ** 2
    return 10 * math.log10(255**2 * weight.sum() / (weight * error).sum())


def points(codec_name: str, images: list, masks: list, targets: list[float]) -> pd.DataFrame:
    """One row per (image, target): bpp, whole PSNR, masked PSNR and the rate-match flag."""
    codec = get_codec(codec_name, device="cpu")
    rows = []
    for index, (image, mask) in enumerate(zip(images, masks)):
        if targets:
            search = RateSearch(codec, image)  # one search per image: its encodes serve every target
            matches = [search.match(t, "closest", 0.01) for t in targets]
            results = [
                (m.target_bpp, codec.decode(search.bitstream(m.setting)), m.bpp, m.flag) for m in matches
            ]
        else:
            stream = codec.encode(image, 0)
            bpp = bitstream_bpp(len(stream), *image.shape[:2])
            results = [(math.nan, codec.decode(stream), bpp, "")]
        for target, decoded, bpp, flag in results:
            whole = masked_psnr(image, decoded, np.ones(mask.shape))
            rows.append((index, target, bpp, whole, masked_psnr(image, decoded, mask), flag))
    return pd.DataFrame(rows, columns=["image", "target_bpp", "bpp", "psnr", "masked_psnr", "flag"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "models", nargs="+", help="NAME=CODEC: a codec name or ARCH@FILE; the first is the anchor"
    )
    parser.add_argument("--data", required=True, help="folder with val/ (held-out images)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--bpp", default="", help="comma-separated targets (rate matched per image)")
    parser.add_argument("--saliency", default="spectral-residual")
    args = parser.parse_args()
    targets = [float(t) for t in args.bpp.split(",") if t]
    images = validation_images(Path(args.data), args.images)
    saliency = saliency_function(args.saliency)
    masks = [to_mask(saliency(image)) / 255 for image in images]
    print(
        f"{len(images)} images of {args.data}/val, {args.saliency} masks (mean s {np.mean([m.mean() for m in masks]):.3f})"
    )
    print(f"{'model':>8} {'target':>7} {'bpp':>7} {'PSNR':>7} {'masked PSNR':>12} {'flagged':>8}")
    curves = {}
    for spec in args.models:
        name, _, codec = spec.partition("=")
        frame = points(codec, images, masks, targets)
        means = frame.groupby("target_bpp", dropna=False).agg(
            bpp=("bpp", "mean"),
            psnr=("psnr", "mean"),
            masked_psnr=("masked_psnr", "mean"),
            flagged=("flag", lambda f: int((f != "").sum())),
        )
        for target, row in means.iterrows():
            print(
                f"{name:>8} {target:7.3f} {row.bpp:7.3f} {row.psnr:7.2f} {row.masked_psnr:12.2f} {int(row.flagged):8d}"
            )
        curves[name] = means
    if len(targets) < 2 or len(curves) < 2:
        return
    (anchor_name, anchor), *others = curves.items()
    for name, curve in others:
        for column, label in (("psnr", "whole-image PSNR"), ("masked_psnr", "masked-region PSNR")):
            gap = (curve[column] - anchor[column]).mean()
            try:
                bd = bd_rate(anchor["bpp"], anchor[column], curve["bpp"], curve[column])
                rate = f"BD-rate {bd.value:+.1f} %" + (f" ({bd.warning})" if bd.warning else "")
            except BDRefusal as refusal:
                rate = f"no BD-rate: {refusal}"
            print(
                f"{name} against {anchor_name}, {label}: {gap:+.2f} dB at equal bpp (mean over the targets), {rate}"
            )


if __name__ == "__main__":
    main()
