"""Correlation loss (paper 004): push a hyperprior's normalised latents toward spatial
independence, which is what an autoregressive context model would otherwise exploit.

With n = (ŷ − μ)/σ the latent normalised by the hyperprior's mean and scale, the k×k correlation
map holds, for each offset i of a k×k window around a position m,

    Corr_Map[i] = E[n_m · n_{m+i}]        (mean over images, channels and positions m),

Masked_Map = Corr_Map ⊙ Mask, and L_corr = ‖Masked_Map‖². The mask limits the loss to the
neighbours a context model would read — ``"causal"``: the positions before the centre in raster
order (the k×k masked convolution of Minnen et al. 2018); ``"all"``: every offset but the centre,
whose value is the autocorrelation E[n²] and is not a dependence between positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def correlation_map(normalised: torch.Tensor, k: int = 5) -> torch.Tensor:
    """(k, k) map of E[n_m · n_{m+i}] over offsets i in a k×k window (zero padding outside)."""
    n, c, h, w = normalised.shape
    r = k // 2
    padded = F.pad(normalised, (r, r, r, r))
    rows = []
    for dy in range(k):
        rows.append(
            torch.stack([(normalised * padded[:, :, dy : dy + h, dx : dx + w]).mean() for dx in range(k)])
        )
    return torch.stack(rows)


def correlation_mask(k: int = 5, kind: str = "causal") -> torch.Tensor:
    """1 where the loss looks, 0 elsewhere (see the module docstring)."""
    mask = torch.ones(k, k)
    if kind == "causal":
        mask.view(-1)[k * k // 2 :] = 0
    elif kind == "all":
        mask[k // 2, k // 2] = 0
    else:
        raise ValueError(f"mask must be 'causal' or 'all', got {kind!r}")
    return mask


def correlation_loss(
    y_hat: torch.Tensor, means: torch.Tensor, scales: torch.Tensor, k: int = 5, mask: str = "causal"
) -> torch.Tensor:
    """‖Corr_Map((ŷ − μ)/σ) ⊙ Mask‖² (paper 004)."""
    normalised = (y_hat - means) / scales.clamp_min(0.11)  # CompressAI's lower bound on σ
    return (correlation_map(normalised, k) * correlation_mask(k, mask).to(y_hat)).pow(2).sum()
