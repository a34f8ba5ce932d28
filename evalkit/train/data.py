"""Training and validation images: random crops drawn as a pure function of (seed, step).

The whole global batch of a step — which image, where, flipped or not — comes from a generator
seeded by the seed and the step number, so a run resumed at step s draws exactly the crops the
uninterrupted run drew, and each of several processes (``torchrun``) takes its own slice of the
same global batch. Images are decoded once and kept in memory as uint8.

Masks given with the data (a recipe's ``[train.roi]``, for the mask-weighted losses): each
training folder ``F`` holds a subfolder ``F/<masks>/`` with one mask per image, at the image's
path relative to ``F`` with any image suffix (``DIR/train/a.jpg`` → ``DIR/train/masks/a.png``).
The mask subfolder is not read as images, neither for training nor for validation. A mask is
read like an image (16-bit samples rounded to 8 bits, an alpha channel dropped) and reduced to
its brightest channel, so white or any colour marks the region of interest, black the background
and greys weigh in between (s = value / 255). Every training image needs its mask — black
where nothing is salient — and of the image's size; anything else is refused with the file
named, since a silent default would change what the loss weighs. A step's masks are cut with
the very placements (image, position, flip) of its crops, drawn again from the step's generator.

A recipe's ``downscale`` (d ≥ 1) shrinks the training images and their masks to
round(W/d) × round(H/d) with Pillow's antialiased bicubic filter before any crop: BSDS500's photos
are JPEGs, and shrinking them hides the blocking and ringing that a codec would otherwise learn
to spend bits on (as Ballé et al., "End-to-end optimized image compression", ICLR 2017,
downsampled their ImageNet training photos). Validation keeps the held-out images whole, as
the codec will meet them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..images import load_image
from .saliency import mask_root

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: Path, masks: str | None = None) -> list[Path]:
    """The images below ``folder``, but not those in its mask subfolder ``masks``."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not (masks and p.relative_to(folder).parts[0] == masks)
    )


def mask_file(image: Path, folder: Path, root: Path) -> Path:
    """The mask of ``image`` (a file below the training folder ``folder``) in the mask folder
    ``root`` (``folder/<masks>``, or where computed masks are cached: :mod:`.saliency`)."""
    stem = root / image.relative_to(folder).with_suffix("")
    found = sorted(
        p
        for p in (stem.parent.iterdir() if stem.parent.is_dir() else ())
        if p.stem == stem.name and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if len(found) != 1:
        raise InputError(
            f"{image}: {'no mask' if not found else 'several masks'} "
            f"{stem}.* ({', '.join(p.name for p in found) or 'none found'}); "
            f"[train.roi] needs exactly one mask per training image (black where "
            f"nothing is salient), or remove [train.roi] from the recipe"
        )
    return found[0]


def read_image(path: Path, downscale: float = 1.0) -> np.ndarray:
    """(H, W, 3) uint8 pixels of ``path``, shrunk by ``downscale`` (see the module docstring)."""
    pixels = load_image(path)
    if downscale == 1:
        return pixels
    from PIL import Image

    height, width = pixels.shape[:2]
    size = (max(1, round(width / downscale)), max(1, round(height / downscale)))
    return np.array(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def load_mask(path: Path, image: torch.Tensor, downscale: float = 1.0) -> torch.Tensor:
    """(1, H, W) uint8 mask from ``path``, shrunk as its image was: the brightest channel, of
    ``image``'s size."""
    mask = torch.from_numpy(np.ascontiguousarray(read_image(path, downscale).max(axis=2)))[None]
    if mask.shape[1:] != image.shape[1:]:
        raise InputError(
            f"{path}: mask is {mask.shape[2]}×{mask.shape[1]} pixels but its image is "
            f"{image.shape[2]}×{image.shape[1]}; a mask must have its image's size"
        )
    return mask


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The generator of one step; ``stream`` separates independent draws (crops, λ, β)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


class RandomCrops:
    """patch × patch crops of the images of ``folders``, with random horizontal flips; with
    ``masks`` (a subfolder name, see the module docstring), the same crops of their masks —
    computed by the ``saliency`` method where a folder has none (:mod:`.saliency`);
    ``downscale``: the images (and masks) shrunk by that factor first."""

    def __init__(
        self,
        folders: list[Path],
        patch: int,
        seed: int,
        masks: str | None = None,
        downscale: float = 1.0,
        saliency: str | None = None,
        progress: bool = False,
    ):
        files = {folder: image_files(folder, masks) for folder in folders}
        roots = (
            {folder: mask_root(folder, masks, saliency, found, progress) for folder, found in files.items()}
            if masks
            else {}
        )
        self.images, self.masks = [], []
        for file, folder in [(f, folder) for folder, found in files.items() for f in found]:
            image = torch.from_numpy(np.ascontiguousarray(read_image(file, downscale))).permute(2, 0, 1)
            if min(image.shape[1:]) >= patch:
                self.images.append(image)
                if masks:
                    self.masks.append(load_mask(mask_file(file, folder, roots[folder]), image, downscale))
        if not self.images:
            raise InputError(
                f"no training image of at least {patch}×{patch} pixels in "
                f"{', '.join(map(str, folders))}; give another --data or a smaller "
                "train.patch"
            )
        self.patch, self.seed = patch, seed

    def placements(self, step: int, size: int) -> list[tuple[int, int, int, bool]]:
        """(image, top, left, flipped) of each crop of the step's global batch."""
        g = step_generator(self.seed, step)
        which = torch.randint(len(self.images), (size,), generator=g)
        drawn = []
        for i in which.tolist():
            height, width = self.images[i].shape[1:]
            top = int(torch.randint(height - self.patch + 1, (1,), generator=g))
            left = int(torch.randint(width - self.patch + 1, (1,), generator=g))
            drawn.append((i, top, left, torch.rand(1, generator=g).item() < 0.5))
        return drawn

    def _cut(self, sources: list[torch.Tensor], step: int, size: int, rank: int, world: int) -> torch.Tensor:
        share = size // world
        crops = []
        for i, top, left, flipped in self.placements(step, size)[rank * share : (rank + 1) * share]:
            crop = sources[i][:, top : top + self.patch, left : left + self.patch]
            crops.append(crop.flip(2) if flipped else crop)
        return torch.stack(crops).float().div_(255)

    def batch(self, step: int, size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """This process's share of the step's global batch of ``size`` crops, float in [0, 1]."""
        return self._cut(self.images, step, size, rank, world)

    def mask_batch(self, step: int, size: int, rank: int = 0, world: int = 1) -> torch.Tensor:
        """The masks of :meth:`batch`'s crops, (n, 1, patch, patch) in [0, 1]."""
        if not self.masks:
            raise ValueError("these crops were loaded without masks")
        return self._cut(self.masks, step, size, rank, world)


def training_folders(data: Path) -> list[Path]:
    """Every subfolder of ``DIR`` but ``val`` (BSDS500: train and test), which is held out for
    validation."""
    if not Path(data).is_dir():
        raise InputError(f"{data}: no such data folder; give one with train/ (and val/) subfolders of images")
    parts = sorted(p for p in Path(data).iterdir() if p.is_dir() and p.name != "val")
    if not parts:
        raise InputError(
            f"{data} has no training subfolder; put training images in "
            f"{data}/train and held-out ones in {data}/val"
        )
    return parts


def validation_images(data: Path, count: int, masks: str | None = None) -> list[np.ndarray]:
    """The first ``count`` images of ``DIR/val`` (not its mask subfolder), as uint8 arrays."""
    files = image_files(data / "val", masks)[:count]
    if not files:
        raise InputError(
            f"no validation images in {data / 'val'}; the data folder needs a val/ "
            "subfolder of held-out images"
        )
    return [load_image(f) for f in files]
