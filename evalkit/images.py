"""Reading images into the one form every stage uses: RGB, 8 bits per channel, H×W×3 uint8.

Grayscale is expanded to three equal channels. Alpha is dropped and 16-bit or floating-point
samples are rounded to 8 bits, each with a :class:`ImageConversionWarning` saying what was done.
An unreadable, truncated or damaged file raises :class:`ImageReadError` naming the file: each
format's framing is checked first (:mod:`evalkit.formats`), since decoders conceal a cut.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import InputError
from .files import atomic_path
from .formats import IncompleteStream, check_bmp, check_jpeg, check_png, check_riff_webp

#: File types read from a folder, the imagecodecs decoder for each, and the check that the file is
#: whole (None for TIFF: libtiff itself refuses a strip or tile cut short).
DECODERS = {
    ".png": ("png", check_png),
    ".jpg": ("jpeg8", check_jpeg),
    ".jpeg": ("jpeg8", check_jpeg),
    ".bmp": ("bmp", check_bmp),
    ".tif": ("tiff", None),
    ".tiff": ("tiff", None),
    ".webp": ("webp", check_riff_webp),
}


class ImageReadError(InputError):
    """A file that is not a readable image; the message names the file and the cause."""


class ImageConversionWarning(UserWarning):
    """An image was changed on the way to RGB 8-bit (alpha dropped, bit depth reduced)."""


def load_image(path: str | Path) -> npt.NDArray[np.uint8]:
    """Read ``path`` as RGB uint8 (H, W, 3). PNG, JPEG, BMP, TIFF and WebP are supported."""
    import imagecodecs

    path = Path(path)
    decoder, check = DECODERS.get(path.suffix.lower(), (None, None))
    if decoder is None:
        raise ImageReadError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(sorted(DECODERS))}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file: {exc.strerror}") from exc
    try:
        if check is not None:
            check(data)
    except IncompleteStream as exc:
        raise ImageReadError(f"{path}: not a whole {path.suffix[1:].upper()} image: {exc}") from exc
    try:
        pixels = imagecodecs.imread(data, codec=decoder)
    except (ValueError, RuntimeError) as exc:  # imagecodecs: ValueError for data it cannot
        # parse, one RuntimeError subclass per codec (PngError, JpegError, …) for corrupt data
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageReadError(
            f"{path}: not a readable {path.suffix[1:].upper()} image (truncated or corrupt?): {cause}"
        ) from exc
    return to_rgb8(pixels, str(path))


def to_rgb8(pixels: npt.NDArray[Any], name: str = "image") -> npt.NDArray[np.uint8]:
    """Convert an array (H×W, H×W×1..4; uint8, uint16 or float in [0, 1]) to RGB uint8."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or 0 in pixels.shape:
        raise ImageReadError(f"{name}: expected an H×W image with 1–4 channels, got shape {pixels.shape}")
    if pixels.shape[2] in (2, 4):
        warnings.warn(
            f"{name}: alpha channel dropped (codecs are compared on RGB)",
            ImageConversionWarning,
            stacklevel=2,
        )
        pixels = pixels[:, :, :-1]
    if pixels.dtype == np.uint16:
        warnings.warn(
            f"{name}: 16-bit samples rounded to 8 bits (v/257)", ImageConversionWarning, stacklevel=2
        )
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(pixels.dtype, np.floating):
        warnings.warn(
            f"{name}: floating-point samples clipped to [0, 1] and rounded to 8 bits",
            ImageConversionWarning,
            stacklevel=2,
        )
        pixels = np.round(np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise ImageReadError(f"{name}: unsupported sample type {pixels.dtype}")
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def save_png(pixels: npt.NDArray[np.uint8], path: str | Path) -> None:
    """Write an RGB uint8 image as PNG, atomically (a crash never leaves half a file)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(pixels, "RGB").save(tmp, "PNG")
