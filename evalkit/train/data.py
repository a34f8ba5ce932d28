"""Training and validation images: random crops drawn as a pure function of (seed, step).

The whole global batch of a step — which image, where, flipped or not — comes from a generator
seeded by the seed and the step number, so a run resumed at step s draws exactly the crops the
uninterrupted run drew, and each of several processes (``torchrun``) takes its own slice of the
same global batch. Images are decoded once and kept in memory as uint8.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..images import load_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The generator of one step; ``stream`` separates independent draws (crops, λ, β)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


class RandomCrops:
    """patch × patch crops of the images of ``folders``, with random horizontal flips."""

    def __init__(self, folders: list[Path], patch: int, seed: int):
        files = [f for folder in folders for f in image_files(folder)]
        self.images = [torch.from_numpy(np.ascontiguousarray(load_image(f))).permute(2, 0, 1)
                       for f in files]
        self.images = [im for im in self.images if min(im.shape[1:]) >= patch]
        if not self.images:
            raise InputError(f"no training image of at least {patch}×{patch} pixels in "
                             f"{', '.join(map(str, folders))}; give another --data or a smaller "
                             "train.patch")
        self.patch, self.seed = patch, seed

    def batch(self, step: int, size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """This process's share of the step's global batch of ``size`` crops, float in [0, 1]."""
        g = step_generator(self.seed, step)
        which = torch.randint(len(self.images), (size,), generator=g)
        crops = []
        for i in which.tolist():
            image = self.images[i]
            top = int(torch.randint(image.shape[1] - self.patch + 1, (1,), generator=g))
            left = int(torch.randint(image.shape[2] - self.patch + 1, (1,), generator=g))
            crop = image[:, top:top + self.patch, left:left + self.patch]
            crops.append(crop.flip(2) if torch.rand(1, generator=g).item() < 0.5 else crop)
        share = size // world
        return torch.stack(crops[rank * share:(rank + 1) * share]).float().div_(255)


def training_folders(data: Path) -> list[Path]:
    """Every subfolder of ``DIR`` but ``val`` (BSDS500: train and test), which is held out for
    validation."""
    parts = sorted(p for p in Path(data).iterdir() if p.is_dir() and p.name != "val")
    if not parts:
        raise InputError(f"{data} has no training subfolder; put training images in "
                         f"{data}/train and held-out ones in {data}/val")
    return parts


def validation_images(data: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` images of ``DIR/val``, as uint8 arrays."""
    files = image_files(data / "val")[:count]
    if not files:
        raise InputError(f"no validation images in {data / 'val'}; the data folder needs a val/ "
                         "subfolder of held-out images")
    return [load_image(f) for f in files]
