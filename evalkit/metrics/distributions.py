"""FID and KID of two sets of images in one call (clean-fid's ``compute_fid(dir1, dir2)``).

Each set is a folder (every image file in it, read as RGB 8-bit) or images as arrays or tensors
under the input contract of :mod:`.contract` (a batch (N, …) or a list of images, which may
differ in size; ``data_range`` / ``convention`` as for the pair metrics). The features are the
engine's (pytorch-fid's pool3, :meth:`~evalkit.metrics.MetricEngine.features`) and the distances
the registry's, so a set measured here equals the same set measured by ``evalkit metrics``.
With ``patch_size``, the distance is over the 256-px patches of :func:`~evalkit.metrics.fid.patches`
(grid plus half-shifted grid) instead of whole images. The result carries its sample count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..images import load_image
from .base import to_tensor
from .contract import checked_images
from .registry import metric

#: File extensions read from a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


@dataclass(frozen=True)
class SetScore:
    name: str
    value: float
    samples: int  # the distorted set's samples (images, or patches)
    reference_samples: int

    def __float__(self) -> float:
        return self.value


def _images(images, role: str, data_range, convention) -> list:
    """A set as a list of (1, 3, H, W) tensors in [0, 1]."""
    if isinstance(images, (str, Path)):
        folder = Path(images)
        files = (
            sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if folder.is_dir()
            else []
        )
        if not files:
            raise InputError(f"{role}: {folder} is not a folder of images ({', '.join(IMAGE_SUFFIXES)})")
        return [to_tensor(load_image(p)) for p in files]
    batch = images if isinstance(images, (list, tuple)) else [images]
    out = []
    for image in batch:
        tensor, _, _ = checked_images(image, role, data_range, convention)
        out.extend(tensor.float().split(1))
    return out


def set_metric(
    name: str,
    *,
    reference,
    distorted,
    patch_size: int | None = None,
    data_range: float | None = None,
    convention: str | None = None,
    weights_dir=None,
    device: str | None = None,
) -> SetScore:
    """The set-level metric ``name`` (``fid``, ``kid``) of the ``distorted`` set against the
    ``reference`` set (see the module docstring for what a set may be)."""
    from .engine import MetricEngine

    entry = metric(name, "set")
    mode = "patch" if patch_size else "image"
    engine = MetricEngine(
        [entry.name], device=device, weights_dir=weights_dir, cache=False, patch_size=patch_size or 256
    )
    sets = []
    for role, images in (("reference", reference), ("distorted", distorted)):
        features = engine.features(_images(images, role, data_range, convention), mode)
        sets.append(np.concatenate(features) if features else np.zeros((0, 2048), np.float32))
    if min(len(f) for f in sets) < 2:
        raise InputError(
            f"{name} needs at least 2 samples in each set; got {len(sets[0])} and "
            f"{len(sets[1])}{' (images smaller than a patch give none)' if patch_size else ''}"
        )
    return SetScore(entry.name, float(entry.compute(*sets)), len(sets[1]), len(sets[0]))


def fid(*, reference, distorted, **options) -> SetScore:
    """FID of two sets (pytorch-fid's Fréchet distance on pool3 features); see :func:`set_metric`."""
    return set_metric("fid", reference=reference, distorted=distorted, **options)


def kid(*, reference, distorted, **options) -> SetScore:
    """KID of two sets (unbiased MMD², cubic kernel); see :func:`set_metric`."""
    return set_metric("kid", reference=reference, distorted=distorted, **options)
