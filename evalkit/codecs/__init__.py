"""Codecs behind one interface, the zoo of named configurations, and rate matching.

Classical codecs are configured in ``zoo.toml``; learned ones in the top-level ``codecs/``
folder, one file each (see :mod:`.checkpoints`). Besides those names, ``<ladder>-q<N>`` is one
rung of a learned ladder and ``<architecture>@<path>`` any compatible checkpoint file.

>>> from evalkit.codecs import bits_per_pixel, get_codec
>>> from evalkit.datasets import resolve_images
>>> image = resolve_images("samples")[0].load()[:256, :256]   # the astronaut's corner, RGB uint8
>>> codec = get_codec("jpeg")
>>> data = codec.encode(image, 50.0)      # real bitstream bytes
>>> 0.5 < bits_per_pixel(len(data), *image.shape[:2]) < 1.2
True
>>> restored = codec.decode(data)
>>> restored.shape, restored.dtype.name
((256, 256, 3), 'uint8')
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import InputError
from .base import Axis, Codec, CodecError, bits_per_pixel
from .bpg import BPG
from .checkpoints import LearnedSpec, learned_zoo
from .hevc import HEVCIntra
from .jpegxl import JPEGXL
from .pillow import AVIF, HEIC, JPEG, JPEG2000, WebP
from .svtav1 import AVIFSVT

FAMILIES: dict[str, type[Codec]] = {
    c.family: c for c in (JPEG, JPEG2000, WebP, HEVCIntra, HEIC, BPG, AVIF, AVIFSVT, JPEGXL)}

__all__ = ["Axis", "Codec", "CodecError", "CodecInfo", "bits_per_pixel", "codec_table",
           "get_codec", "learned_zoo", "zoo", "FAMILIES"]


@cache
def zoo() -> dict[str, dict]:
    """Named configurations from ``zoo.toml``: name → {"family": ..., options...}."""
    return tomllib.loads(resources.files(__package__).joinpath("zoo.toml").read_text())


def get_codec(name: str, device: str | None = "auto", weights_dir=None) -> Codec:
    """The codec called ``name``, ready to use.

    ``device`` and ``weights_dir`` concern learned codecs only. Raises
    :class:`~evalkit.errors.InputError` for an unknown name and :class:`CodecError` when the codec
    cannot run on this machine (the message says what is missing).
    """
    if name in zoo():
        options = dict(zoo()[name])
        family = FAMILIES[options.pop("family")]
        reason = family.unavailable_reason()
        if reason:
            raise CodecError(f"codec {name!r} is not available: {reason}")
        return family(name, **options)
    return _learned_codec(name, device, weights_dir)


def _learned_codec(name: str, device, weights_dir) -> Codec:
    from .learned import CODEC_CLASSES, LadderCodec, VariableRateCodec

    specs = learned_zoo()
    if name in specs:
        spec = specs[name]
        return CODEC_CLASSES[spec.kind](spec, device=device, weights_dir=weights_dir)
    rung = re.fullmatch(r"(.+)-q(\d+)", name)
    if rung and rung[1] in specs and specs[rung[1]].kind == "ladder":
        return LadderCodec(specs[rung[1]], name, quality=int(rung[2]), device=device,
                           weights_dir=weights_dir)
    realism = re.fullmatch(r"(.+)-beta(\d+(?:\.\d+)?)", name)
    if realism and realism[1] in specs and specs[realism[1]].kind == "variable-rate":
        return VariableRateCodec(specs[realism[1]], name, beta=float(realism[2]), device=device,
                                 weights_dir=weights_dir)
    if "@" in name:
        architecture, path = name.split("@", 1)
        kind = ("variable-rate" if architecture == "variable-rate"
                else "vbr" if architecture.endswith("-vbr") else "ladder")
        spec = LearnedSpec(f"{architecture}@{Path(path).name}", architecture, kind,
                           source=str(path), path=Path(path))
        options = {"quality": 0} if kind == "ladder" else {}
        return CODEC_CLASSES[kind](spec, name, device=device, weights_dir=weights_dir, **options)
    known = ", ".join([*zoo(), *specs])
    raise InputError(f"unknown codec {name!r}; known codecs: {known} (and <ladder>-q<N>, "
                     "<variable-rate>-beta<β>, <architecture>@<checkpoint path>)")


@dataclass(frozen=True)
class CodecInfo:
    name: str
    family: str
    options: dict
    axis: Axis
    version: str | None
    unavailable: str | None


def codec_table(weights_dir=None) -> list[CodecInfo]:
    """Every codec, classical and learned, available or not, with its library version or why
    it cannot run here (for learned codecs: checkpoints that are not cached)."""
    from .learned import CODEC_CLASSES, LearnedCodec

    rows = []
    for name, entry in zoo().items():
        options = {k: v for k, v in entry.items() if k != "family"}
        family = FAMILIES[entry["family"]]
        reason = family.unavailable_reason()
        version = None if reason else family.library_version()
        rows.append(CodecInfo(name, family.family, options, family.axis, version, reason))
    for name, spec in learned_zoo().items():
        codec = CODEC_CLASSES[spec.kind](spec, device="cpu", weights_dir=weights_dir)
        reason = codec.unavailable_here()
        axis = (codec.axis if spec.kind != "variable-rate"
                else Axis("lambda", spec.lambdas[0] / 4, spec.lambdas[-1] * 4, log=True))
        options = {"arch": spec.architecture, "loss": spec.loss}
        if spec.kind == "ladder":
            options["rungs"] = f"{name}-q{min(spec.checkpoints)}…q{max(spec.checkpoints)}"
        rows.append(CodecInfo(name, LearnedCodec.family, options, axis,
                              None if reason else LearnedCodec.library_version(), reason))
    return rows
