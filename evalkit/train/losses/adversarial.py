"""Adversarial losses on discriminator logits (PatchGAN: one logit per patch).

Convention: a positive logit means "real" in every loss here. ``real`` are the logits of the
originals x, ``fake`` those of the reconstructions x̂; each function returns the discriminator's
loss and the generator's loss (scalars, averaged over batch and patches). softplus(a) =
log(1 + eᵃ) = −log σ(−a).

- :func:`softplus_gan` — paper 002 eq. 4, L = E[log(1 + e^{−D(x)})] + E[log(1 + e^{−r·D(x̂)})],
  r = −1 for the discriminator and r = 1 for the generator (the paper's D with its sign
  flipped to the convention above; the non-saturating GAN of Goodfellow et al. 2014).
- :func:`ragan` — relativistic average GAN (Jolicoeur-Martineau 2019; paper 003):
  L_D = −log σ(D(x) − E[D(x̂)]) − log(1 − σ(D(x̂) − E[D(x)])),
  L_G = −log σ(D(x̂) − E[D(x)]) − log(1 − σ(D(x) − E[D(x̂)])).
- :func:`rgan` — relativistic GAN on aligned pairs (paper 003):
  L_D = −log σ(D(x) − D(x̂)), L_G = −log σ(D(x̂) − D(x)).
- :func:`hrrgan` — higher-rate relativistic GAN (paper 003): the discriminator is RGAN's; the
  generator's reconstruction at rate q is compared not with the original but with its own
  reconstruction x̂⁺ at a higher rate, held fixed by a stop-gradient:
  L_G = −log σ(D(x̂) − sg(D(x̂⁺))). A low-rate output is then asked to be as realistic as what
  the model already achieves with more bits, not as the original — which avoids over-penalising
  realism at low rates (the slide's motivation). The slides' OCR text gives the name, the
  motivation and the sg operator but not the equation; this formula is our reading of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softplus_gan(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()  # r = −1
    g_loss = F.softplus(-real).mean() + F.softplus(-fake).mean()  # r = +1
    return d_loss, g_loss


def ragan(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    real_rel, fake_rel = real - fake.mean(), fake - real.mean()
    d_loss = F.softplus(-real_rel).mean() + F.softplus(fake_rel).mean()
    g_loss = F.softplus(-fake_rel).mean() + F.softplus(real_rel).mean()
    return d_loss, g_loss


def rgan(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return F.softplus(-(real - fake)).mean(), F.softplus(-(fake - real)).mean()


def hrrgan(
    real: torch.Tensor, fake: torch.Tensor, fake_higher_rate: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    d_loss = F.softplus(-(real - fake)).mean()
    g_loss = F.softplus(-(fake - fake_higher_rate.detach())).mean()
    return d_loss, g_loss


GAN_LOSSES = {"softplus": softplus_gan, "ragan": ragan, "rgan": rgan, "hrrgan": hrrgan}
