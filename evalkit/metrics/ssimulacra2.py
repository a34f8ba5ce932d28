"""SSIMULACRA 2.1 (Sneyers 2022–2023, Cloudinary): the ``ssimulacra2`` tool of libjxl and of
cloudinary/ssimulacra2, computed as that C++ tool computes it.

sRGB → linear → XYB (rescaled, B − Y), six scales halved in linear RGB; per scale and channel an
SSIM map (without the double gamma), a ringing/blocking and a blurring edge map, each pooled by
its 1- and 4-norms; the 108 tuned weights with the 2.1 polynomial and power. 100 for identical
images, lower is worse (about 70: high quality, 90: visually lossless, per the tool's README),
negative for very strong distortion.

The colour transforms, the 2×2 downsampling, the error maps, the pooling and the weights are the
``ssimulacra2`` package's (PyPI, a NumPy port). Two parts of that package differ from the C++
tool, and are done here as the tool does them:

- the blur is libjxl's recursive Gaussian (``CreateRecursiveGaussian(1.5)``, Charalampidis 2016:
  three second-order recursions of truncated cosines, zero outside the image in both directions;
  the package uses a sampled Gaussian that mirrors at the left and right edges). Truncated
  cosines make the recursion a finite kernel (9 taps), which :func:`blur` applies directly: the
  recursion itself is kept (:func:`_recursive_blur`) to derive it and to test it;
- the scale loop checks the size *before* halving: a scale whose short side is 8–15 px is still
  halved and the 4–7 px one scored (the package stops, and its weights then fall on the wrong
  terms).

With the package as it is, a 128 × 200 Kodak crop scores up to 33 points away from the tool; done
so, every Kodak pair and crop measured is within 0.3 of it (the tool computes in float32, this in
float64): see ``docs/metrics.md`` and ``tests/test_metrics_vmaf_ssimulacra2.py``, whose values come
from the tool built from cloudinary/ssimulacra2 81feacf (neither Debian 12 nor PyPI ships it).

Not differentiable (NumPy): measured and fitted, never trained on.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from scipy.ndimage import correlate1d
from scipy.signal import lfilter
from ssimulacra2 import ssimulacra2 as port

from .base import PairMetric, to_rgb8
from .msssim import check_side
from .window import SSIMULACRA2_MIN_SIDE as MIN_SIDE

#: The tool needs one scale of at least 8 px a side.
SIGMA = 1.5


@cache
def recursive_gaussian(sigma: float = SIGMA) -> tuple[int, np.ndarray, np.ndarray]:
    """libjxl's ``CreateRecursiveGaussian``: the radius N and, per term k = 1, 3, 5, the input
    gain n2 and the feedback d1 of y[n] = n2 (x[n − N − 1] + x[n + N − 1]) − d1 y[n − 1] − y[n − 2]
    (Charalampidis 2016, eqs. 33–57)."""
    radius = float(round(3.2795 * sigma + 0.2546))
    omega = np.pi / (2 * radius) * np.array([1.0, 3.0, 5.0])
    p = np.array([1.0, -1.0, 1.0]) / np.tan(0.5 * omega)
    r = np.array([1.0, -1.0, 1.0]) * p * p / np.sin(omega)
    rho = np.exp(-0.5 * sigma * sigma * omega * omega) / radius
    d13, d35, d51 = p[0] * r[1] - r[0] * p[1], p[1] * r[2] - r[1] * p[2], p[2] * r[0] - r[2] * p[0]
    zeta15, zeta35 = d35 / d13, d51 / d13
    beta = np.linalg.solve(
        np.array([p, r, [zeta15, zeta35, 1.0]]),
        [1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]],
    )
    return int(radius), -beta * np.cos(omega * (radius + 1.0)), -2.0 * np.cos(omega)


def _recursive_blur(x: np.ndarray, axis: int) -> np.ndarray:
    """libjxl's ``FastGaussian1D`` along ``axis``: from n = −N + 1 with zero state, zero outside."""
    n, gains, feedbacks = recursive_gaussian()
    length = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2 * n, n - 1)
    padded = np.pad(x, pad)
    summed = np.take(padded, range(0, length + n - 1), axis) + np.take(
        padded, range(2 * n, length + 3 * n - 1), axis
    )
    out = sum(lfilter([gain], [1.0, d1, 1.0], summed, axis=axis) for gain, d1 in zip(gains, feedbacks))
    return np.take(out, range(n - 1, length + n - 1), axis)


@cache
def kernel() -> np.ndarray:
    """The recursion's impulse response: truncated cosines, so a finite, symmetric kernel (9 taps
    for σ = 1.5; the ±N taps are cos(π/2 ·k) = 0). Zero outside the image, the recursion is this
    kernel's correlation, which :func:`blur` applies directly (about 5× faster)."""
    n = recursive_gaussian()[0]
    impulse = np.zeros(4 * n + 1)
    impulse[2 * n] = 1.0
    response = _recursive_blur(impulse, 0)
    return response[n + 1 : 3 * n]


def blur(x: np.ndarray) -> np.ndarray:
    """libjxl's ``FastGaussian`` of (H, W, C): the recursive Gaussian along rows, then columns."""
    taps = kernel()
    return correlate1d(correlate1d(x, taps, axis=1, mode="constant"), taps, axis=0, mode="constant")


def ssimulacra2(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA 2.1 of two uint8 RGB images (H, W, 3), as ``ComputeSSIMULACRA2`` computes it."""
    linear = [port.srgb_to_linear(x) for x in (reference, distorted)]
    scores = port.Msssim()
    for scale in range(port.kNumScales):
        if min(linear[0].shape[:2]) < 8:
            break
        if scale:
            linear = [port.downsample(x, 2, 2) for x in linear]
        a, b = (port.make_positive_xyb(port.linear_rgb_to_xyb(x)) for x in linear)
        mu_a, mu_b = blur(a), blur(b)
        level = port.MsssimScale()
        level.avg_ssim = port.ssim_map(mu_a, mu_b, blur(a * a), blur(b * b), blur(a * b))
        level.avg_edgediff = port.edge_diff_map(a, mu_a, b, mu_b)
        scores.scales.append(level)
    return float(scores.score())


class SSIMULACRA2(PairMetric):
    """SSIMULACRA 2.1 of each reconstruction against its reference; ``forward(x, x_hat)`` → (N,),
    x one reference or one per reconstruction."""

    version = "ssimulacra2.1-libjxl-recursive-gaussian-v1"
    dtype = torch.float64

    def prepare(self, reference: torch.Tensor) -> np.ndarray:
        check_side(reference, MIN_SIDE, "SSIMULACRA2")
        return to_rgb8(reference, "SSIMULACRA2")

    def score(self, prepared: np.ndarray, reconstructions: torch.Tensor) -> torch.Tensor:
        distorted = to_rgb8(reconstructions, "SSIMULACRA2")
        if distorted.shape[1:] != prepared.shape[1:] or len(prepared) not in (1, len(distorted)):
            raise ValueError(
                f"{len(distorted)} reconstructions of {distorted.shape[1:3]} against "
                f"{len(prepared)} references of {prepared.shape[1:3]}"
            )
        references = np.broadcast_to(prepared, distorted.shape)
        values = [ssimulacra2(a, b) for a, b in zip(references, distorted)]
        return torch.tensor(values, dtype=torch.float64, device=reconstructions.device)
