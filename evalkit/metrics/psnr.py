"""PSNR on RGB and on BT.601 luma, peak 255 on 8-bit images (peak 1 on [0, 1] tensors).

RGB: 10·log10(peak² / MSE) over all three channels, in float64. Fed 8-bit images (as the engine
does) it equals ``skimage.metrics.peak_signal_noise_ratio(data_range=255)``. Y: the BT.601 luma of
``skimage.color.rgb2ycbcr`` (range 16–235, not rounded), peak 255 — the convention of most
compression and SR papers; the +16 offset cancels in the difference. Identical images give +inf.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import PairMetric, to_tensor

#: BT.601 RGB→Y for 8-bit values, as in skimage.color.rgb2ycbcr: Y = 16 + (65.481 R + 128.553 G
#: + 24.966 B) / 255.
Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def _psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(mse)


class PSNR(PairMetric):
    """PSNR (dB) over RGB; ``forward(x, x_hat)`` → (N,)."""

    version = "psnr-rgb-255-v1"
    dtype = torch.float64

    def score(self, reference, reconstructions):
        diff = reconstructions.double() - reference.double()
        return _psnr_from_mse(diff.square().flatten(1).mean(1))


class PSNRY(PairMetric):
    """PSNR (dB) on BT.601 luma; ``forward(x, x_hat)`` → (N,)."""

    version = "psnr-y-bt601-255-v1"
    dtype = torch.float64

    def score(self, reference, reconstructions):
        weights = torch.tensor(Y_WEIGHTS, dtype=torch.float64, device=reference.device).view(1, 3, 1, 1)
        diff = ((reconstructions.double() - reference.double()) * weights).sum(1)
        return _psnr_from_mse(diff.square().flatten(1).mean(1))


def _on_images(metric: PairMetric, reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    value = metric(to_tensor(reference, torch.float64), to_tensor(reconstruction, torch.float64)).numpy()
    return value if reference.ndim == 4 else value[0]


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """PSNR (dB) of uint8 RGB images (H, W, 3) or (N, H, W, 3): one value per image."""
    return _on_images(PSNR(), reference, reconstruction)


def psnr_y(reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """PSNR (dB) on BT.601 luma of uint8 RGB images (H, W, 3) or (N, H, W, 3)."""
    return _on_images(PSNRY(), reference, reconstruction)
