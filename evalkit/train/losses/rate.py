"""Rate: the bits the entropy model spends, per pixel.

R = Σ −log₂ p(ŷ|ẑ) − log₂ p(ẑ), divided by the pixels of the image (Ballé et al., "Variational
image compression with a scale hyperprior", ICLR 2018; the first term of every loss in papers
002 eq. 5, 003 and 004). The likelihoods are what CompressAI's entropy models return in training
mode (additive uniform noise), so this is the differentiable estimate of the real bitstream; the
bits are counted where the learned codec counts them
(:func:`evalkit.codecs.learned.estimated_bits`). The bpp of a real bitstream is
:func:`evalkit.codecs.bitstream_bpp`.
"""

from __future__ import annotations

import torch

from ...codecs.learned import estimated_bits


def estimated_bpp(likelihoods: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
    """(N,) bits per pixel of each image estimated from its latents' likelihoods."""
    return estimated_bits(likelihoods) / pixels
