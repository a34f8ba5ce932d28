"""Codecs behind one interface, the zoo of named configurations, and rate matching.

>>> from evalkit.codecs import get_codec
>>> codec = get_codec("jpeg")
>>> data = codec.encode(image, 50.0)      # real bitstream bytes
>>> restored = codec.decode(data)
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import InputError
from .base import Axis, Codec, CodecError, bits_per_pixel
from .bpg import BPG
from .hevc import HEVCIntra
from .jpegxl import JPEGXL
from .pillow import AVIF, HEIC, JPEG, JPEG2000, WebP

FAMILIES: dict[str, type[Codec]] = {
    c.family: c for c in (JPEG, JPEG2000, WebP, HEVCIntra, HEIC, BPG, AVIF, JPEGXL)}

__all__ = ["Axis", "Codec", "CodecError", "CodecInfo", "bits_per_pixel", "codec_table",
           "get_codec", "zoo", "FAMILIES"]


@cache
def zoo() -> dict[str, dict]:
    """Named configurations from ``zoo.toml``: name → {"family": ..., options...}."""
    return tomllib.loads(resources.files(__package__).joinpath("zoo.toml").read_text())


def get_codec(name: str) -> Codec:
    """The codec configuration called ``name`` in the zoo, ready to use.

    Raises :class:`~evalkit.errors.InputError` for an unknown name and :class:`CodecError` when the codec cannot run
    on this machine (the message says what is missing).
    """
    if name not in zoo():
        raise InputError(f"unknown codec {name!r}; known codecs: {', '.join(zoo())}")
    options = dict(zoo()[name])
    family = FAMILIES[options.pop("family")]
    reason = family.unavailable_reason()
    if reason:
        raise CodecError(f"codec {name!r} is not available: {reason}")
    return family(name, **options)


@dataclass(frozen=True)
class CodecInfo:
    name: str
    family: str
    options: dict
    axis: Axis
    version: str | None
    unavailable: str | None


def codec_table() -> list[CodecInfo]:
    """Every zoo entry, available or not, with its library version or why it cannot run."""
    rows = []
    for name, entry in zoo().items():
        options = {k: v for k, v in entry.items() if k != "family"}
        family = FAMILIES[entry["family"]]
        reason = family.unavailable_reason()
        version = None if reason else family.library_version()
        rows.append(CodecInfo(name, family.family, options, family.axis, version, reason))
    return rows
