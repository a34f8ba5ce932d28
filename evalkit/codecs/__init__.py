"""Codecs behind one interface, their named configurations, and rate matching.

Classical codecs are configured in ``configurations.toml``; learned ones in the top-level ``codecs/``
folder, one file each (see :mod:`.checkpoints`), each of an architecture :mod:`.architectures`
describes. Besides those names, ``<ladder>-q<N>`` is one rung of a learned ladder,
``<variable-rate>-beta<β>`` a realism and ``<architecture>@<path>`` any compatible checkpoint
file (parsed in :mod:`.learned_names`).

>>> from evalkit.codecs import bitstream_bpp, get_codec
>>> from evalkit.datasets import resolve_images
>>> image = resolve_images("samples")[0].load()[:256, :256]   # the astronaut's corner, RGB uint8
>>> codec = get_codec("jpeg")
>>> data = codec.encode(image, 50.0)      # real bitstream bytes
>>> 0.5 < bitstream_bpp(len(data), *image.shape[:2]) < 1.2
True
>>> restored = codec.decode(data)
>>> restored.shape, restored.dtype.name
((256, 256, 3), 'uint8')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import Axis, Codec, CodecError, bitstream_bpp
from .bpg import BPG
from .checkpoints import LearnedSpec, learned_zoo
from .hevc import HEVCIntra
from .hevc_fine import HEVCIntraFine
from .htj2k import HTJ2K
from .jpegxl import JPEGXL
from .learned_names import FORMS, LearnedName, rung_name
from .pillow import AVIF, HEIC, JPEG, JPEG2000, WebP
from .svtav1 import AVIFSVT
from .vvc import VVCIntra

FAMILIES: dict[str, type[Codec]] = {
    c.family: c
    for c in (
        JPEG,
        JPEG2000,
        WebP,
        HEVCIntra,
        HEVCIntraFine,
        HEIC,
        BPG,
        AVIF,
        AVIFSVT,
        JPEGXL,
        HTJ2K,
        VVCIntra,
    )
}

__all__ = [
    "FAMILIES",
    "Axis",
    "Codec",
    "CodecError",
    "CodecInfo",
    "bitstream_bpp",
    "codec_table",
    "configurations",
    "get_codec",
    "learned_zoo",
]


@cache
def configurations() -> dict[str, dict[str, Any]]:
    """Named configurations from ``configurations.toml``: name → {"family": ..., options...}."""
    return tomllib.loads(resources.files(__package__).joinpath("configurations.toml").read_text())


def get_codec(name: str, device: str | None = "auto", weights_dir: str | Path | None = None) -> Codec:
    """The codec called ``name``, ready to use.

    ``device`` and ``weights_dir`` concern learned codecs only. Raises
    :class:`~evalkit.errors.InputError` for an unknown name and :class:`CodecError` when the codec
    cannot run on this machine (the message says what is missing).
    """
    if name in configurations():
        options = dict(configurations()[name])
        family = FAMILIES[options.pop("family")]
        reason = family.unavailable_reason()
        if reason:
            raise CodecError(f"codec {name!r} is not available: {reason}")
        return family(name, **options)
    return _learned_codec(name, device, weights_dir)


def _learned_codec(name: str, device: str | None, weights_dir: str | Path | None) -> Codec:
    from .learned import CODEC_CLASSES

    parsed = LearnedName.parse(name, learned_zoo())
    if parsed is None:
        known = ", ".join([*configurations(), *learned_zoo()])
        raise InputError(f"unknown codec {name!r}; known codecs: {known} (and {FORMS})")
    return CODEC_CLASSES[parsed.spec.kind](
        parsed.spec, parsed.name, device=device, weights_dir=weights_dir, **parsed.options
    )


#: What a row of :func:`codec_table` can be: runs here, a learned codec whose checkpoints download
#: from their public URL on first use, a zoo recipe not trained yet (no checkpoint anywhere), or
#: a codec that cannot run here (``unavailable`` says why).
STATUSES = ("ready", "downloads", "untrained", "unavailable")


@dataclass(frozen=True)
class CodecInfo:
    name: str
    family: str
    options: dict[str, Any]
    axis: Axis
    version: str | None
    unavailable: str | None
    status: str = "ready"


def codec_table(weights_dir: str | Path | None = None) -> list[CodecInfo]:
    """Every codec, classical and learned, available or not, with its library version or why
    it cannot run here (for learned codecs: checkpoints that are not cached)."""
    from .learned import CODEC_CLASSES, LearnedCodec, lambda_axis

    rows = []
    for name, entry in configurations().items():
        options = {k: v for k, v in entry.items() if k != "family"}
        family = FAMILIES[entry["family"]]
        reason = family.unavailable_reason()
        version = None if reason else family.library_version()
        rows.append(
            CodecInfo(
                name,
                family.family,
                options,
                family.axis,
                version,
                reason,
                "unavailable" if reason else "ready",
            )
        )
    for name, spec in learned_zoo().items():
        codec = CODEC_CLASSES[spec.kind](spec, device="cpu", weights_dir=weights_dir)
        reason = codec.unavailable_here()
        axis = (
            codec.axis
            if spec.kind != "variable-rate"  # without reading the checkpoint
            else lambda_axis(spec.lambdas[0], spec.lambdas[-1])
        )
        options = {"arch": spec.architecture, "loss": spec.loss}
        if spec.kind == "ladder" and spec.checkpoints:
            options["rungs"] = f"{rung_name(name, min(spec.checkpoints))}…q{max(spec.checkpoints)}"
        rows.append(
            CodecInfo(
                name,
                LearnedCodec.family,
                options,
                axis,
                None if reason else LearnedCodec.library_version(),
                reason,
                _learned_status(spec, reason, weights_dir),
            )
        )
    return rows


def _learned_status(spec: LearnedSpec, reason: str | None, weights_dir: str | Path | None) -> str:
    from .checkpoints import missing_checkpoints

    if reason is None:
        return "ready"
    missing = missing_checkpoints(spec, weights_dir)
    if all(c.url for c in missing):
        return "downloads"
    return "untrained" if "evalkit train" in spec.recipe else "unavailable"
