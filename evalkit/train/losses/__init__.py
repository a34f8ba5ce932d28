"""Training losses, one small module each, every formula and its paper in the docstring:
rate (:mod:`.rate`), distortions on the metric registry's torch forms and the mask-weighted
form (:mod:`.distortion`), adversarial losses (:mod:`.adversarial`) and the correlation loss
(:mod:`.correlation`)."""
from .adversarial import GAN_LOSSES, hrrgan, ragan, rgan, softplus_gan
from .correlation import correlation_loss, correlation_map, correlation_mask
from .distortion import MSE, MaskWeighted, OneMinus, RecipeTerm, distortion, split_term
from .rate import estimated_bpp

__all__ = ["GAN_LOSSES", "MSE", "MaskWeighted", "OneMinus", "RecipeTerm", "estimated_bpp",
           "correlation_loss", "correlation_map", "correlation_mask", "distortion", "hrrgan",
           "ragan", "rgan", "softplus_gan", "split_term"]
