"""Training losses, one small module each, every formula and its paper in the docstring:
rate (:mod:`.rate`), distortions on the metric registry's torch forms and the mask-weighted
form (:mod:`.distortion`), the recipe's term names (:mod:`.terms`), adversarial losses
(:mod:`.adversarial`) and the correlation loss (:mod:`.correlation`)."""

from .adversarial import GAN_LOSSES, hrrgan, ragan, rgan, softplus_gan
from .correlation import correlation_loss, correlation_map, correlation_mask
from .distortion import DISTORTIONS, MSE, MaskWeighted, OneMinus, RecipeTerm, distortion
from .rate import estimated_bpp
from .terms import LossTerm, combined_model

__all__ = [
    "DISTORTIONS",
    "GAN_LOSSES",
    "MSE",
    "LossTerm",
    "MaskWeighted",
    "OneMinus",
    "RecipeTerm",
    "combined_model",
    "correlation_loss",
    "correlation_map",
    "correlation_mask",
    "distortion",
    "estimated_bpp",
    "hrrgan",
    "ragan",
    "rgan",
    "softplus_gan",
]
