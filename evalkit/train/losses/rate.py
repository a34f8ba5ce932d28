"""Rate: the bits the entropy model spends, per pixel.

R = Σ −log₂ p(ŷ|ẑ) − log₂ p(ẑ), divided by the pixels of the image (Ballé et al., "Variational
image compression with a scale hyperprior", ICLR 2018; the first term of every loss in papers
002 eq. 5, 003 and 004). The likelihoods are what CompressAI's entropy models return in training
mode (additive uniform noise), so this is the differentiable estimate of the real bitstream.
"""
from __future__ import annotations

import math

import torch


def bits_per_pixel(likelihoods: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
    """(N,) bits per pixel of each image from its latents' likelihoods."""
    bits = sum(-torch.log(l.float().clamp_min(1e-9)).flatten(1).sum(1) for l in likelihoods.values())
    return bits / (math.log(2) * pixels)
