"""MS-SSIM (Wang, Simoncelli & Bovik 2003) with exactly the definition of ``pytorch_msssim.ms_ssim``:
five scales, an 11-tap Gaussian window with σ = 1.5 applied separably without padding, K = (0.01,
0.03), weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2 average pooling with odd sides
padded, contrast–structure terms clamped at 0, per-channel values averaged over RGB.

The reference's pyramid and its filtered moments (μ_x, E[x²]) depend on the reference alone, so
:class:`MSSSIMReference` computes them once and reuses them for every reconstruction of it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE, WIN_SIGMA, K1, K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0
#: Four halvings must leave more than one window: both sides must exceed (11 − 1) · 2⁴ = 160.
MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(WEIGHTS) - 1) + 1


def _window() -> list[float]:
    """The 11 taps of the normalised Gaussian, computed in float32 as pytorch_msssim does."""
    coords = torch.arange(WIN_SIZE, dtype=torch.float32) - WIN_SIZE // 2
    g = torch.exp(-(coords**2) / (2 * WIN_SIGMA**2))
    return (g / g.sum()).tolist()


def _blur(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable Gaussian without padding, as 11 shifted multiply-adds per direction.

    Same sums, in the same order, as pytorch_msssim's grouped ``conv2d``, but about 4× faster
    on a CPU, where depthwise convolutions are slow."""
    width = x.shape[-1] - len(taps) + 1
    rows = x[..., :width] * taps[0]
    for k in range(1, len(taps)):
        rows.add_(x[..., k:k + width], alpha=taps[k])
    height = rows.shape[-2] - len(taps) + 1
    out = rows[..., :height, :] * taps[0]
    for k in range(1, len(taps)):
        out.add_(rows[..., k:k + height, :], alpha=taps[k])
    return out


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=2, padding=[s % 2 for s in x.shape[2:]])


class MSSSIMReference:
    """One reference image (1, 3, H, W) in [0, 255], ready to score many reconstructions."""

    def __init__(self, reference: torch.Tensor):
        h, w = reference.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"MS-SSIM needs images at least {MIN_SIDE} px on each side "
                             f"(5 scales of an 11-tap window); this one is {w}×{h}")
        self.win = _window()
        self.levels = []
        x = reference
        for level in range(len(WEIGHTS)):
            if level:
                x = _down(x)
            self.levels.append((x, _blur(x, self.win), _blur(x * x, self.win)))

    def score(self, reconstructions: torch.Tensor) -> torch.Tensor:
        """MS-SSIM of each reconstruction (N, 3, H, W) in [0, 255] against the reference: (N,)."""
        c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
        y, terms = reconstructions, []
        for level, (x, mu_x, xx) in enumerate(self.levels):
            if level:
                y = _down(y)
            mu_y, yy, xy = _blur(y, self.win), _blur(y * y, self.win), _blur(x * y, self.win)
            sigma_x, sigma_y, sigma_xy = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
            cs = (2 * sigma_xy + c2) / (sigma_x + sigma_y + c2)
            if level < len(WEIGHTS) - 1:
                terms.append(torch.relu(cs.flatten(2).mean(-1)))
            else:
                ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
                terms.append(torch.relu(ssim.flatten(2).mean(-1)))
        stacked = torch.stack(terms, dim=0)                       # (levels, N, 3)
        weights = stacked.new_tensor(WEIGHTS).view(-1, 1, 1)
        return torch.prod(stacked**weights, dim=0).mean(dim=1)
