"""Conditional PatchGAN discriminator for adversarial codec training (paper 003; HiFiC's
conditioning, Mentzer et al. 2020).

It scores overlapping patches of an image (one logit per patch, Isola et al. 2017), conditioned
on the decoded latent ŷ — reduced to 12 channels by a 1×1 convolution and upsampled to the image
(nearest) — and on the quality or realism level ℓ ∈ {0, …, levels − 1} (β or the rate, binned)
through one of paper 003's head layouts:

- ``"shared"`` — one backbone and one head for every level; ℓ enters as a learned embedding map
  concatenated to the input.
- ``"independent"`` — a whole discriminator (backbone and head) per level.
- ``"hybrid"`` — one backbone shared by every level, a head per level ("hybrid-head").
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

HEADS = ("shared", "independent", "hybrid")


def _backbone(in_channels: int, width: int) -> nn.Sequential:
    layers, channels = [], in_channels
    for out in (width, 2 * width, 4 * width):
        layers += [
            nn.utils.spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
        ]
        channels = out
    return nn.Sequential(*layers)


def _head(width: int) -> nn.Conv2d:
    return nn.Conv2d(4 * width, 1, 3, padding=1)


class ConditionalPatchDiscriminator(nn.Module):
    def __init__(
        self,
        latent_channels: int,
        heads: str = "hybrid",
        levels: int = 4,
        width: int = 64,
        latent_features: int = 12,
    ):
        super().__init__()
        if heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, got {heads!r}")
        self.heads, self.levels = heads, levels
        self.latent = nn.Conv2d(latent_channels, latent_features, 1)
        in_channels = 3 + latent_features + (1 if heads == "shared" else 0)
        count = levels if heads == "independent" else 1
        self.backbones = nn.ModuleList(_backbone(in_channels, width) for _ in range(count))
        self.out = nn.ModuleList(_head(width) for _ in range(1 if heads == "shared" else levels))
        if heads == "shared":
            self.embedding = nn.Embedding(levels, 1)

    def forward(self, image: torch.Tensor, latent: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """(N, 1, H/8, W/8) logits; ``level`` (N,) integers in [0, levels)."""
        level = level.long().clamp(0, self.levels - 1)
        features = [image, F.interpolate(self.latent(latent), size=image.shape[-2:], mode="nearest")]
        if self.heads == "shared":
            features.append(self.embedding(level)[:, :, None, None].expand(-1, 1, *image.shape[-2:]))
        x = torch.cat(features, 1)
        if self.heads == "shared":
            return self.out[0](self.backbones[0](x))
        if self.heads == "hybrid":
            shared = self.backbones[0](x)
            logits = torch.stack([head(shared) for head in self.out], 1)
        else:
            logits = torch.stack([head(body(x)) for body, head in zip(self.backbones, self.out)], 1)
        return logits[torch.arange(len(level), device=level.device), level]
