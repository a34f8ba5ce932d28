"""One image compressed at a target bpp, in one call: the bytes, what they decode to, and how
close the rate came.

What ``evalkit compress`` does per (image, codec, target), without a run folder or a cache:
rate matching (:class:`~evalkit.codecs.ratematch.RateSearch`) picks the codec's setting, the
bitstream at that setting is the result, and its decode the reconstruction.

>>> from evalkit.codecs.one_image import compress_image
>>> from evalkit.datasets import resolve_images
>>> image = resolve_images("samples")[0].load()[:256, :256]
>>> result = compress_image(image, "jpeg", 0.5)
>>> abs(result.bpp / 0.5 - 1) <= 0.01, result.flag, result.reconstruction.shape
(True, '', (256, 256, 3))
>>> result.bpp == 8 * len(result.bitstream) / (256 * 256)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from ..images import load_image
from .base import Codec
from .ratematch import FLAG_MEANINGS, POLICIES, Policy, RateSearch


@dataclass(frozen=True)
class Compressed:
    codec: str
    target_bpp: float
    bitstream: bytes  # the whole bitstream, headers included
    reconstruction: npt.NDArray[np.uint8]  # its decode, RGB uint8 (H, W, 3)
    bpp: float  # 8 × len(bitstream) / (H × W)
    setting: float  # the codec's own parameter (JPEG quality, HEVC CRF, …)
    flag: str  # "" when the target was met; else why not (FLAG_MEANINGS)

    @property
    def flag_meaning(self) -> str:
        return FLAG_MEANINGS.get(self.flag, "") if self.flag else ""


def compress_image(
    image: npt.NDArray[np.uint8] | str | Path,
    codec: str | Codec,
    bpp: float,
    *,
    policy: Policy = "closest",
    rtol: float = 0.01,
    device: str = "cpu",
    weights_dir: str | Path | None = None,
) -> Compressed:
    """``image`` (RGB uint8 (H, W, 3), or an image file) through ``codec`` (a name of
    ``evalkit codecs`` or a :class:`Codec`) at the setting whose real bitstream comes closest to
    ``bpp`` (``policy="not-above"``: the closest at or under it), within ``rtol``, else flagged."""
    from . import get_codec

    pixels = load_image(image) if isinstance(image, (str, Path)) else image
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 3
        or pixels.shape[2] != 3
    ):
        shape = getattr(pixels, "shape", None)
        raise InputError(
            f"codecs take 8-bit RGB images: a uint8 array (H, W, 3) or an image file, "
            f"got {type(pixels).__name__} {getattr(pixels, 'dtype', '')} {shape or ''}; "
            "for floats in [0, 1] use evalkit.images.to_rgb8(x)"
        )
    if policy not in POLICIES:
        raise InputError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    codec = get_codec(codec, device, weights_dir) if isinstance(codec, str) else codec
    search = RateSearch(codec, np.ascontiguousarray(pixels))
    match = search.match(bpp, policy, rtol)
    data = search.bitstream(match.setting)
    return Compressed(codec.name, bpp, data, codec.decode(data), match.bpp, match.setting, match.flag)
