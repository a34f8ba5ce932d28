"""Distortion terms, each ``d(x, x̂) -> (N,)`` on (N, 3, H, W) images in [0, 1], lower is better.

Every perceptual term is the metric registry's torch form (:func:`evalkit.metrics.pair_metric`),
so a model is trained on exactly the number the engine reports:

- ``mse`` — mean squared error, scaled by 255² as CompressAI's loss λ·255²·MSE + R.
- every metric the registry marks ``trainable``, as its torch form where lower is better and
  1 − it where higher is: ``ms-ssim`` — 1 − MS-SSIM (Wang et al. 2003; paper 002 eq. 3, first
  term); ``lpips`` — LPIPS (Zhang et al. 2018; paper 003's L_P).
- ``combined:MODEL.json`` — −q of a combination fitted with ``evalkit fit``
  (:class:`evalkit.fit.CombinedLoss`).

:class:`MaskWeighted` weights any of them by a saliency or ROI mask s ∈ [0, 1] given with the
data: d_s = w_s·d(x⊙s, x̂⊙s) + w_b·d(x⊙(1−s), x̂⊙(1−s)) (paper 000, §3: the salient and
non-salient components scored separately and combined with more weight on the salient one).
Paper 002's weighted MS-SSIM (eq. 3, second term) is this with d = 1 − MS-SSIM and w_b = 0.

A recipe names each term ``[main:][roi:]NAME`` (parsed by :class:`~.terms.LossTerm`, computed by
:class:`RecipeTerm`): ``roi:`` weights it by the
mask, ``main:`` scores the selective-detail model's main decoder output x̂_m instead of the
blended x̂. Paper 002 eq. 3, L_d = E[1 − MS-SSIM(x, x̂_m)] + λ_p·E[1 − wMS-SSIM(x, x̂, t_a)], is
``{ "main:ms-ssim" = 1, "roi:ms-ssim" = λ_p }`` with the background weight 0.
"""

from __future__ import annotations

import torch

from ...errors import InputError
from ...fit import CombinedLoss
from ...metrics import pair_metric
from ...metrics.registry import TRAINABLE_METRICS, metric
from .terms import COMBINED, LossTerm, combined_model


class MSE(torch.nn.Module):
    """255²·mean((x − x̂)²) per image (CompressAI's scale, so λ keeps its published meaning)."""

    def forward(self, x, x_hat):
        return 255.0**2 * (x - x_hat).pow(2).flatten(1).mean(1)


class OneMinus(torch.nn.Module):
    """1 − m(x, x̂) for a quality metric m where higher is better (MS-SSIM)."""

    def __init__(self, metric: torch.nn.Module):
        super().__init__()
        self.metric = metric

    def forward(self, x, x_hat):
        return 1.0 - self.metric(x, x_hat)


class PerImageCombined(torch.nn.Module):
    """−q(x, x̂) of a fitted combination, one value per image."""

    def __init__(self, loss: CombinedLoss):
        super().__init__()
        self.loss = loss

    def forward(self, x, x_hat):
        return torch.stack([self.loss(x[i : i + 1], x_hat[i : i + 1]) for i in range(len(x))])


class MaskWeighted(torch.nn.Module):
    """w_s·d(x⊙s, x̂⊙s) + w_b·d(x⊙(1−s), x̂⊙(1−s)) (paper 000 §3; paper 002 eq. 3 with w_b = 0)."""

    def __init__(
        self, distortion: torch.nn.Module, salient_weight: float = 1.0, background_weight: float = 0.5
    ):
        super().__init__()
        self.distortion = distortion
        self.salient_weight = salient_weight
        self.background_weight = background_weight

    def forward(self, x, x_hat, mask):
        s = mask.to(x.dtype)
        loss = self.salient_weight * self.distortion(x * s, x_hat * s)
        if self.background_weight:
            loss = loss + self.background_weight * self.distortion(x * (1 - s), x_hat * (1 - s))
        return loss


#: What a recipe may train on besides ``combined:MODEL.json``.
DISTORTIONS = ("mse", *TRAINABLE_METRICS)


def distortion(name: str, weights_dir=None) -> torch.nn.Module:
    """The distortion term called ``name`` (see the module docstring): a trainable metric of the
    registry as a loss is its torch form, or 1 − it where higher is better."""
    model = combined_model(name)
    if model is not None:
        return PerImageCombined(CombinedLoss.from_model(model, weights_dir))
    if name == "mse":
        return MSE()
    if name not in TRAINABLE_METRICS:
        raise InputError(
            f"unknown distortion {name!r}; choose {', '.join(DISTORTIONS)} or {COMBINED}MODEL.json"
        )
    form = pair_metric(name, weights_dir)
    return OneMinus(form) if metric(name).higher_is_better else form


class RecipeTerm(torch.nn.Module):
    """One recipe term ``[main:][roi:]NAME`` on a model's output dict, (N,) per image."""

    def __init__(
        self, name: str, salient_weight: float = 1.0, background_weight: float = 0.5, weights_dir=None
    ):
        super().__init__()
        term = LossTerm.parse(name)
        self.masked = term.masked
        self.output = "x_hat_main" if term.main else "x_hat"
        self.distortion = distortion(term.distortion, weights_dir)
        if self.masked:
            self.distortion = MaskWeighted(self.distortion, salient_weight, background_weight)

    def forward(self, x, out: dict, mask=None):
        x_hat = out[self.output].float()
        return self.distortion(x, x_hat, mask) if self.masked else self.distortion(x, x_hat)
