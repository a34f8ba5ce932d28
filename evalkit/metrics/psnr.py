"""PSNR on RGB and on BT.601 luma, peak 255, from 8-bit images.

RGB: 10·log10(255² / MSE) over all three channels, on the uint8 values (so the
reconstruction is already rounded to 8 bits). Y: the BT.601 luma of ``skimage.color.rgb2ycbcr``
(range 16–235, not rounded), peak 255 — the convention of most compression and SR papers.
Identical images give +inf.
"""
from __future__ import annotations

import numpy as np

#: BT.601 RGB→Y for 8-bit values, as in skimage.color.rgb2ycbcr: Y = 16 + (65.481 R + 128.553 G
#: + 24.966 B) / 255.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def _psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """PSNR (dB) of uint8 RGB images; ``(..., H, W, 3)`` arrays give one value per image."""
    diff = reference.astype(np.float64) - reconstruction.astype(np.float64)
    return _psnr_from_mse(np.mean(diff * diff, axis=(-3, -2, -1)))


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma (16–235) of uint8 RGB, float64."""
    return 16.0 + image.astype(np.float64) @ Y_WEIGHTS


def psnr_y(reference: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """PSNR (dB) on BT.601 luma, peak 255."""
    diff = luma(reference) - luma(reconstruction)
    return _psnr_from_mse(np.mean(diff * diff, axis=(-2, -1)))
