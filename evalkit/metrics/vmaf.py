"""VMAF (Li, Aaron, Katsavounidis, Moorthy & Manohara 2016, "Toward a practical perceptual video
quality metric", Netflix) computed by libvmaf itself, through ffmpeg's ``libvmaf`` filter, with a
named built-in model: ``vmaf_v0.6.1`` (the default model) or ``vmaf_v0.6.1neg`` (VMAF NEG, "no
enhancement gain", the variant the JPEG AIC-4 anchor table reports).

On the luma of the 8-bit images: libvmaf's features (VIF, ADM, motion) read the Y plane only, so
each image's BT.601 luma (PSNR-Y's, rounded to 8 bits: :func:`.ffmpeg_filter.luma8`) is handed to
libvmaf as 8-bit yuv444p with neutral chroma. A still image has no motion: every reconstruction
of a reference is one frame against that reference, so the motion feature is 0, as for the first
frame of a video (an identical image scores 97.43 with ``vmaf_v0.6.1``, not 100). The score is
libvmaf's, clipped to [0, 100] as its models are; six decimals, as its JSON log writes them.

Not differentiable (libvmaf runs outside torch): it is measured and fitted, never trained on.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from .base import PairMetric
from .ffmpeg_filter import ffmpeg_build, luma8, run_filter
from .msssim import check_side
from .window import VMAF_MIN_SIDE as MIN_SIDE

#: libvmaf crashes on images under 17 px a side (its VIF filter has 17 taps); measured, ffmpeg 9.0.
MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg")


class VMAF(PairMetric):
    """VMAF of each reconstruction against its reference with libvmaf's built-in ``model``;
    ``forward(x, x_hat)`` → (N,), x one reference or one per reconstruction."""

    dtype = torch.float64

    def __init__(self, model: str = "vmaf_v0.6.1"):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        self.model = model
        self.version = f"{model}-libvmaf-ffmpeg-{ffmpeg_build('libvmaf')}-bt601-luma8-v1"

    def prepare(self, reference: torch.Tensor) -> np.ndarray:
        check_side(reference, MIN_SIDE, "VMAF (libvmaf)")
        return luma8(reference, "VMAF")

    def score(self, prepared: np.ndarray, reconstructions: torch.Tensor) -> torch.Tensor:
        main = luma8(reconstructions, "VMAF")
        if main.shape[1:] != prepared.shape[1:] or len(prepared) not in (1, len(main)):
            raise ValueError(
                f"{len(main)} reconstructions of {main.shape[1:]} against "
                f"{len(prepared)} references of {prepared.shape[1:]}"
            )
        reference = np.broadcast_to(prepared, main.shape)  # libvmaf: distorted first
        log = run_filter(
            "libvmaf",
            f"model=version={self.model}:log_fmt=json:log_path={{log}}",
            "yuv444p",
            _yuv444(main),
            _yuv444(reference),
        )
        frames = sorted(json.loads(log)["frames"], key=lambda f: f["frameNum"])
        if len(frames) != len(main):
            raise RuntimeError(f"libvmaf scored {len(frames)} frames of {len(main)}")
        values = [f["metrics"]["vmaf"] for f in frames]
        return torch.tensor(values, dtype=torch.float64, device=reconstructions.device)


def _yuv444(luma: np.ndarray) -> np.ndarray:
    """(N, H, W) luma → (N, 3, H, W) yuv444p frames with neutral chroma (128)."""
    frames = np.full((len(luma), 3, *luma.shape[1:]), 128, np.uint8)
    frames[:, 0] = luma
    return frames
