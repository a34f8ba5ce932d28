"""Single-scale SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) with exactly the definition of
``pytorch_msssim.ssim(x, y, data_range=255, size_average=False)``: an 11-tap Gaussian window with
σ = 1.5 applied separably without padding, K = (0.01, 0.03), the SSIM map averaged per channel
and then over RGB, not clamped at 0 (``nonnegative_ssim=False``).

It is MS-SSIM's last scale without the clamp, so it reuses :mod:`.msssim`'s window, blur and
SSIM map: the reference's filtered moments are computed once by :meth:`SSIM.prepare` and reused
for each reconstruction. Images are (N, 3, H, W) in [0, 1], scaled to [0, 255] inside;
differentiable in both images.
"""

from __future__ import annotations

import torch

from .base import PairMetric
from .msssim import DATA_RANGE, check_side, moments, ssim_map, window
from .window import SSIM_MIN_SIDE as MIN_SIDE


class SSIM(PairMetric):
    """SSIM of each reconstruction against its reference; ``forward(x, x_hat)`` → (N,)."""

    version = "ssim-pytorch_msssim-v1"

    def prepare(self, reference: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_side(reference, MIN_SIDE, "SSIM (an 11-tap window)")
        return moments(reference * DATA_RANGE, window())

    def score(self, prepared, reconstructions: torch.Tensor) -> torch.Tensor:
        values = ssim_map(prepared, reconstructions * DATA_RANGE, window())
        return values.flatten(2).mean(-1).mean(dim=1)
