"""Saliency masks for the mask-weighted losses when the data gives none.

A recipe's ``[train.roi]`` weighs its ``roi:`` terms by one mask per training image (paper 000
§3, paper 002 eq. 3; :mod:`.data` says where masks are read). A folder without its mask
subfolder — BSDS500 has none — gets masks computed by ``train.roi.saliency``:

- ``"spectral-residual"`` — Hou and Zhang, "Saliency Detection: A Spectral Residual Approach"
  (CVPR 2007): the log amplitude spectrum minus its local mean, back to the image plane, on a
  64×64 copy, smoothed; blob-like regions that stand out from their surroundings.
- ``"fine-grained"`` — Montabone and Soto, "Human detection using a mobile platform and novel
  features derived from a visual saliency mechanism" (Image and Vision Computing 2010):
  centre–surround differences of intensity at full resolution; finer, edge-like detail.
- a network's file (``*.pt2``, relative to the recipe's folder): its masks where its weights
  are given, as a program ``torch.export.save`` wrote with dynamic height and width, mapping
  (1, 3, H, W) RGB in [0, 1] to (1, 1, H, W) saliency, which is rescaled to [0, 1].

Both built-ins are OpenCV's (``cv2.saliency`` in ``opencv-contrib-python-headless``) and need no
downloaded weights. Each map is min–max normalised to [0, 1] and written as an 8-bit grey PNG,
so greys weigh in between as given masks do.

The masks are cached beside the data, in the mask subfolder itself, with ``saliency.json``
naming the method (and a network's SHA-256) that made them: a later run with the same method
reads them (computing only those of images added since), another method recomputes them, and a
mask subfolder without that file is data the user gave and is never touched. Where the data
folder cannot be written (a shared, read-only copy), the cache is
``<evalkit cache>/saliency/<hash of the folder's path>/<masks>/`` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import atomic_path, cache_dir
from ..images import load_image

BUILTIN = ("spectral-residual", "fine-grained")
NETWORK_SUFFIXES = (".pt2",)
MARKER = "saliency.json"


def is_network(method: str) -> bool:
    """Whether ``train.roi.saliency`` names a network's file rather than a built-in method."""
    return Path(method).suffix.lower() in NETWORK_SUFFIXES


def opencv_saliency(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """(H, W, 3) uint8 RGB → (H, W) float saliency by one of OpenCV's static methods."""
    try:
        import cv2
    except ImportError as exc:
        raise InputError(
            f"train.roi.saliency = {name!r} needs OpenCV's contrib module: pip "
            "install opencv-contrib-python-headless"
        ) from exc
    create = {
        "spectral-residual": cv2.saliency.StaticSaliencySpectralResidual_create,
        "fine-grained": cv2.saliency.StaticSaliencyFineGrained_create,
    }[name]

    def saliency(image: np.ndarray) -> np.ndarray:
        ok, found = create().computeSaliency(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"OpenCV's {name} saliency failed on a {image.shape} image")
        return np.asarray(found, dtype=np.float32)

    return saliency


def network_saliency(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """(H, W, 3) uint8 RGB → (H, W) float saliency by the exported program in ``path``."""
    import torch

    net = torch.export.load(str(path)).module()

    def saliency(image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            found = net(x)
        if found.shape[-2:] != x.shape[-2:] or found.numel() != x.shape[-1] * x.shape[-2]:
            raise InputError(
                f"saliency network {path} returned shape {tuple(found.shape)} for an "
                f"input of {tuple(x.shape)}; it must return (1, 1, H, W)"
            )
        return found.reshape(x.shape[-2:]).float().numpy()

    return saliency


def method_record(method: str) -> dict:
    """What ``saliency.json`` records of a method: its name, and a network file's SHA-256."""
    if not is_network(method):
        return {"method": method}
    return {"method": "network", "sha256": hashlib.sha256(Path(method).read_bytes()).hexdigest()}


def saliency_function(method: str) -> Callable[[np.ndarray], np.ndarray]:
    if is_network(method):
        return network_saliency(Path(method))
    if method not in BUILTIN:
        raise InputError(
            f"saliency method {method!r} is unknown; choose from "
            f"{', '.join(BUILTIN)} or give a network's file "
            f"({', '.join(NETWORK_SUFFIXES)}, torch.export.save)"
        )
    return opencv_saliency(method)


def to_mask(saliency: np.ndarray) -> np.ndarray:
    """A saliency map min–max normalised to [0, 1], as (H, W) uint8 (0: background, 255: most
    salient); a flat map is all background."""
    saliency = np.nan_to_num(np.asarray(saliency, dtype=np.float64))
    low, span = saliency.min(), saliency.max() - saliency.min()
    if span <= 0:
        return np.zeros(saliency.shape, dtype=np.uint8)
    return np.round((saliency - low) / span * 255).astype(np.uint8)


def cache_root(folder: Path, masks: str) -> Path:
    """Where computed masks of ``folder`` go: its mask subfolder, or, where ``folder`` cannot
    be written (or has no write permission bit), a folder of evalkit's cache named by the
    folder's path."""
    folder = Path(folder).resolve()
    # no write bit at all means read-only even to root, whom os.access lets write anywhere
    if os.access(folder, os.W_OK) and folder.stat().st_mode & 0o222:
        return folder / masks
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return cache_dir() / "saliency" / key / masks


def mask_root(
    folder: Path, masks: str, method: str | None, images: list[Path], progress: bool = False
) -> Path:
    """The folder that holds the masks of ``images`` (files below the training folder
    ``folder``): the masks given with the data if its mask subfolder exists and was not made
    here, else masks computed by ``method`` (see the module docstring), made now where missing.
    Without a method, a folder with no masks is refused."""
    given = Path(folder) / masks
    if given.is_dir() and not (given / MARKER).is_file():
        return given
    if method is None:
        raise InputError(
            f"{folder} has no mask subfolder {masks}/; give one mask per training "
            "image there, or let evalkit compute them: add saliency = "
            "\"spectral-residual\" (or \"fine-grained\") to [train.roi]"
        )
    root = cache_root(folder, masks)
    record = method_record(method)
    marker = root / MARKER
    stale = marker.is_file() and json.loads(marker.read_text()) != record
    missing = [
        image
        for image in images
        if stale or not (root / image.relative_to(folder)).with_suffix(".png").is_file()
    ]
    if missing:
        compute_masks(folder, missing, root, saliency_function(method), progress)
        with atomic_path(marker) as tmp:
            tmp.write_text(json.dumps(record) + "\n")
    return root


def compute_masks(
    folder: Path,
    images: list[Path],
    root: Path,
    saliency: Callable[[np.ndarray], np.ndarray],
    progress: bool = False,
) -> None:
    """Write ``root/<image path relative to folder>.png``, the mask of each of ``images``."""
    from PIL import Image
    from tqdm import tqdm

    for image in tqdm(images, desc=f"saliency masks of {folder}", unit="image", disable=not progress):
        target = (root / image.relative_to(folder)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            Image.fromarray(to_mask(saliency(load_image(image)))).save(tmp, format="PNG")
