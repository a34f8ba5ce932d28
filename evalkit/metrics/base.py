"""The shape every pair metric shares: one torch implementation for the engine and for losses.

A :class:`PairMetric` is a frozen ``torch.nn.Module`` over images as (N, 3, H, W) tensors in
[0, 1]. ``forward(x, x_hat)`` gives one value per image and is differentiable in both images, so
training uses it as it is. The engine calls the same code in two halves — :meth:`prepare` once
per reference, :meth:`score` for each batch of its reconstructions — which is how a reference's
MS-SSIM pyramid or LPIPS features are computed once for all its reconstructions. (torchmetrics
pairs a functional and a stateful form over one implementation in the same spirit.)
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import numpy as np
import torch

from ..errors import InputError


class PairMetric(torch.nn.Module, metaclass=ABCMeta):
    """A full-reference metric: ``forward(x, x_hat) -> (N,)``; networks frozen in eval mode.

    ``version`` names the definition (and weights) for the value cache. ``dtype`` is the floating
    type the engine feeds it (PSNR's reference arithmetic is float64); ``uses_network`` says
    whether reduced precision (autocast) applies.
    """

    version: str = ""
    dtype: torch.dtype = torch.float32
    uses_network: bool = False

    def load(self) -> PairMetric:
        """Load now what the metric would load on first use (a network's weights), so that it
        can then be used from several threads at once. Nothing to load by default."""
        return self

    def prepare(self, reference: torch.Tensor):
        """What :meth:`score` needs of the reference (by default the reference itself)."""
        return reference

    @abstractmethod
    def score(self, prepared, reconstructions: torch.Tensor) -> torch.Tensor:
        """One value per reconstruction (N,), against what :meth:`prepare` made of the reference."""

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return self.score(self.prepare(x), x_hat)

    def train(self, mode: bool = True):
        """Always eval mode: a metric's networks never switch to training behaviour (dropout,
        batch statistics), even inside a model that is being trained."""
        return super().train(False)


def to_tensor(images: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 images (H, W, 3) or (N, H, W, 3) → (N, 3, H, W) in [0, 1] of ``dtype``."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    t = t[None] if t.ndim == 3 else t
    return t.permute(0, 3, 1, 2).to(dtype) / 255.0


def to_rgb8(images: torch.Tensor, what: str) -> np.ndarray:
    """The inverse of :func:`to_tensor` for metrics computed outside torch on 8-bit images:
    (N, 3, H, W) in [0, 1] on the 8-bit grid (values k/255) → (N, H, W, 3) uint8. An
    :class:`~evalkit.errors.InputError` naming ``what`` and the convention for anything else."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"{what} takes RGB images (N, 3, H, W); got shape {tuple(images.shape)}")
    levels = images.detach().to("cpu", torch.float64) * 255
    rounded = levels.round()
    if (
        not torch.isfinite(levels).all()
        or (levels - rounded).abs().max() > 1e-3
        or rounded.min() < 0
        or rounded.max() > 255
    ):
        raise InputError(
            f"{what} is computed on 8-bit images: values k/255 in [0, 1] "
            "(round reconstructions to 8 bits, as a decoder's output is, first)"
        )
    return rounded.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
