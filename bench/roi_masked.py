"""Masked-region PSNR of an ROI-trained codec beside the same recipe trained without masks.

Codes held-out images (BSDS500 ``val/``) to real bitstreams with each model and prints, per model,
the mean bpp (file size), the PSNR of the whole image and the PSNR inside the saliency mask
(weighted by the mask, s ∈ [0, 1]: 10·log10(1 / (Σ s·(x − x̂)² / Σ s)) over pixels and channels),
with the masks computed as training computed them (``evalkit/train/saliency.py``). The ROI model
(``codecs/ek-selective-detail-roi.toml``) should buy masked-region PSNR at equal bpp; both are
single-rate models, so their bpp is printed beside it rather than matched.

    .venv/bin/python bench/roi_masked.py --data ../shared/data/bsds500 --images 8 \\
        roi=runs/roi/ek-selective-detail-roi.pth plain=runs/plain/ek-selective-detail-plain.pth
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from evalkit.codecs import get_codec
from evalkit.codecs.base import bitstream_bpp
from evalkit.train.data import validation_images
from evalkit.train.saliency import saliency_function, to_mask


def masked_psnr(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) of y against x with the squared error weighted by ``mask`` in [0, 1]."""
    weight = np.repeat(mask[..., None].astype(np.float64), 3, axis=2)
    error = (x.astype(np.float64) - y.astype(np.float64)) ** 2
    return 10 * math.log10(255**2 * weight.sum() / (weight * error).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=FILE of a selective-detail model")
    parser.add_argument("--data", required=True, help="folder with val/ (held-out images)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--saliency", default="spectral-residual")
    args = parser.parse_args()
    images = validation_images(Path(args.data), args.images)
    saliency = saliency_function(args.saliency)
    masks = [to_mask(saliency(image)) / 255 for image in images]
    print(f"{len(images)} images of {args.data}/val, {args.saliency} masks")
    print(f"{'model':>8} {'bpp':>7} {'PSNR':>7} {'masked PSNR':>12}")
    for spec in args.models:
        name, _, file = spec.partition("=")
        codec = get_codec(f"selective-detail@{file}", device="cpu")
        bpp, whole, masked = [], [], []
        for image, mask in zip(images, masks):
            stream = codec.encode(image, 0)
            decoded = codec.decode(stream)
            bpp.append(bitstream_bpp(len(stream), *image.shape[:2]))
            whole.append(masked_psnr(image, decoded, np.ones(mask.shape)))
            masked.append(masked_psnr(image, decoded, mask))
        print(f"{name:>8} {np.mean(bpp):7.3f} {np.mean(whole):7.2f} {np.mean(masked):12.2f}")


if __name__ == "__main__":
    main()
