"""XPSNR (Helmrich, Siekmann, Becker, Bosse, Marpe & Wiegand 2020, "XPSNR: a low-complexity
extension of the perceptually weighted peak signal-to-noise ratio for high-resolution video
quality assessment", ICASSP) on the luma of still images, computed by ffmpeg's ``xpsnr`` filter
(the authors' own code, Fraunhofer HHI).

XPSNR weights each block's squared error by the inverse of the original's local activity: a
spatial high-pass (with 2× downsampling above HD) plus, for video, a temporal difference to the
previous original frame. A still image has no previous frame, but the filter's first frame
differences against a zeroed buffer (a black frame), which would add the picture's own level to
every block's activity. So each reconstruction is scored as a frame that follows its own
original: the reference is the first frame of both inputs, and every later frame's temporal
activity is 0 — the still-image weighting. The filter takes the original as its *first*
input (its "main"), the reconstruction as the second. BT.601 luma as PSNR-Y's, 8-bit (gray8);
identical images give +inf, as PSNR does. Four decimals, as the filter's stats file writes them.

Not differentiable: measured and fitted, never trained on.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from .base import PairMetric
from .ffmpeg_filter import ffmpeg_build, luma8, run_filter

#: Defined on any size; on pictures under 2025 px (45 × 45) the filter's blocks would be under
#: 4 px and it gives plain PSNR-Y, as its authors' code does.
MIN_SIDE = 1


class XPSNR(PairMetric):
    """XPSNR (dB) on luma of each reconstruction against its reference; ``forward(x, x_hat)`` →
    (N,), x one reference or one per reconstruction."""

    dtype = torch.float64

    def __init__(self):
        super().__init__()
        self.version = f"xpsnr-ffmpeg-{ffmpeg_build('xpsnr')}-still-bt601-luma8-v1"

    def prepare(self, reference: torch.Tensor) -> np.ndarray:
        return luma8(reference, "XPSNR")

    def score(self, prepared: np.ndarray, reconstructions: torch.Tensor) -> torch.Tensor:
        distorted = luma8(reconstructions, "XPSNR")
        if distorted.shape[1:] != prepared.shape[1:] or len(prepared) not in (1, len(distorted)):
            raise ValueError(
                f"{len(distorted)} reconstructions of {distorted.shape[1:]} against "
                f"{len(prepared)} references of {prepared.shape[1:]}"
            )
        if len(prepared) == 1:
            values = _still_xpsnr(prepared[0], distorted)
        else:
            values = [
                v for original, one in zip(prepared, distorted) for v in _still_xpsnr(original, one[None])
            ]
        return torch.tensor(values, dtype=torch.float64, device=reconstructions.device)


def _still_xpsnr(original: np.ndarray, reconstructions: np.ndarray) -> list[float]:
    """XPSNR of each (H, W) luma reconstruction against one original, in one ffmpeg call: the
    first input is the original M + 1 times, the second the original and then the reconstructions,
    so every scored frame follows an identical original (temporal activity 0)."""
    first = np.broadcast_to(original, (len(reconstructions) + 1, *original.shape))[:, None]
    second = np.concatenate([original[None], reconstructions])[:, None]
    log = run_filter("xpsnr", "stats_file={log}", "gray", np.ascontiguousarray(first), second)
    found = dict(re.findall(r"^n:\s*(\d+)\s+XPSNR y:\s*(\S+)", log, re.MULTILINE))
    values = [found.get(str(k + 2)) for k in range(len(reconstructions))]
    if None in values:
        raise RuntimeError(f"ffmpeg's stats file lacks frames of {len(reconstructions) + 1}:\n{log}")
    return [math.inf if v == "inf" else float(v) for v in values]
