"""Scale hyperprior with a selective detail decoder (paper 002, eq. 1).

Two synthesis transforms read the same latent ŷ: the main decoder G_m reconstructs the whole
image x̂_m, the selective detail decoder G_s outputs an image x̂_s and, on a fourth channel
through a sigmoid, a mask m that picks where its output is used:

    x̂ = x̂_s ⊙ m + x̂_m ⊙ (1 − m)        (paper 002, eq. 1)

The rest — analysis, hyper transforms, entropy models, ``compress``/``decompress`` — is
CompressAI's :class:`~compressai.models.ScaleHyperprior` unchanged, so bitstreams are coded by
CompressAI's range coder. ``forward`` adds ``x_hat_main`` and ``mask`` to CompressAI's output so a
trainer can apply paper 002's eq. 3 (MS-SSIM on x̂_m, ROI-weighted MS-SSIM on x̂). Its checkpoint
records N and M (:class:`~evalkit.models.checkpoint.SelfDescribing`), so the zoo rebuilds it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..scoped import importing_compressai
from .checkpoint import SelfDescribing

with importing_compressai():
    from compressai.layers import GDN
    from compressai.models import ScaleHyperprior
    from compressai.models.utils import deconv


def _synthesis(N: int, M: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(M, N),
        GDN(N, inverse=True),
        deconv(N, N),
        GDN(N, inverse=True),
        deconv(N, N),
        GDN(N, inverse=True),
        deconv(N, out_channels),
    )


class SelectiveDetailSynthesis(nn.Module):
    """G_m and G_s blended by G_s's mask (eq. 1); ``parts`` holds (x̂_m, m) of the last call."""

    def __init__(self, N: int, M: int):
        super().__init__()
        self.main = _synthesis(N, M, 3)
        self.detail = _synthesis(N, M, 4)
        self.parts: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        x_main = self.main(y_hat)
        detail = self.detail(y_hat)
        mask = torch.sigmoid(detail[:, 3:])
        self.parts = (x_main, mask)
        return detail[:, :3] * mask + x_main * (1 - mask)


class SelectiveDetailHyperprior(SelfDescribing, ScaleHyperprior):
    architecture = "selective-detail"

    def __init__(self, N: int = 64, M: int = 96):
        super().__init__(N, M)
        self.config = {"N": N, "M": M}
        self.g_s = SelectiveDetailSynthesis(N, M)

    def forward(self, x: torch.Tensor) -> dict:
        out = super().forward(x)
        out["x_hat_main"], out["mask"] = self.g_s.parts
        return out
