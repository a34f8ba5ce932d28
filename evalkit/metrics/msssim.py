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


def _window(device, dtype) -> torch.Tensor:
    coords = torch.arange(WIN_SIZE, dtype=dtype, device=device) - WIN_SIZE // 2
    g = torch.exp(-(coords**2) / (2 * WIN_SIGMA**2))
    return (g / g.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    x = F.conv2d(x, win, groups=3)
    return F.conv2d(x, win.transpose(2, 3), groups=3)


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=2, padding=[s % 2 for s in x.shape[2:]])


class MSSSIMReference:
    """One reference image (1, 3, H, W) in [0, 255], ready to score many reconstructions."""

    def __init__(self, reference: torch.Tensor):
        h, w = reference.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"MS-SSIM needs images at least {MIN_SIDE} px on each side "
                             f"(5 scales of an 11-tap window); this one is {w}×{h}")
        self.win = _window(reference.device, reference.dtype)
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
