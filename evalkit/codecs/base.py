"""The one interface every codec family implements.

Shaped after CompressAI's ``utils/bench/codecs.py``: a small abstract ``Codec`` and families
that differ only in how they call their library. A codec turns an RGB uint8 image into the
bytes of a real, self-contained bitstream and back; nothing is estimated.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import InputError


class CodecError(InputError):
    """An encoder or decoder failed, or a codec cannot be used on this machine."""


@dataclass(frozen=True)
class Axis:
    """The setting a codec is driven by, described so rate matching can search it.

    ``increasing`` says whether bpp grows with the setting; ``integer`` that only whole values
    exist (the reachable rates are then a ladder, not a continuum); ``log`` that bpp is closer to
    linear in log(setting) than in the setting, which makes interpolation converge faster.
    """

    name: str
    lo: float
    hi: float
    integer: bool = False
    increasing: bool = True
    log: bool = False

    def clip(self, value: float) -> float:
        value = min(max(value, self.lo), self.hi)
        return float(round(value)) if self.integer else float(value)

    def to_unit(self, value: float) -> float:
        """Position of ``value`` on [0, 1], oriented so that 1 means more bits (a one-point
        axis, such as a single learned model, is its own top)."""
        if self.lo == self.hi:
            return 1.0
        f = (lambda v: math.log(v)) if self.log else (lambda v: v)
        t = (f(value) - f(self.lo)) / (f(self.hi) - f(self.lo))
        return t if self.increasing else 1.0 - t

    def from_unit(self, t: float) -> float:
        """Inverse of :meth:`to_unit` (not rounded)."""
        t = t if self.increasing else 1.0 - t
        if self.log:
            return math.exp(math.log(self.lo) + t * (math.log(self.hi) - math.log(self.lo)))
        return self.lo + t * (self.hi - self.lo)


def hevc_axis(name: str) -> Axis:
    """An HEVC encoder's quantiser, ``name`` as the encoder calls it: QP 0–51 at 8 bits (H.265
    §7.4.7.1, SliceQpY), which x265's CRF shares; whole steps, fewer bits as it grows."""
    return Axis(name, 0, 51, integer=True, increasing=False)


class HEVCChroma:
    """The ``chroma`` option of the HEVC-intra codecs in a container (BPG, HEIF): 4:4:4 by
    default, as in the variable-rate paper's BPG baseline."""

    CHROMA = ("4:4:4", "4:2:2", "4:2:0")
    choices: ClassVar[dict[str, tuple[object, ...]]] = {"chroma": CHROMA}

    @classmethod
    def default_options(cls):
        return {"chroma": "4:4:4"}

    def chroma_digits(self) -> str:
        """The option as ``bpgenc -f`` and libheif spell it: ``444``."""
        return self.options["chroma"].replace(":", "")


def check_rgb8(image: np.ndarray) -> np.ndarray:
    """Codecs accept exactly what :mod:`evalkit.images` produces: H×W×3 uint8, C-contiguous."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"codecs take RGB uint8 images of shape (H, W, 3), got {image.dtype} {image.shape}; "
            "load images with evalkit.images.load_image"
        )
    return np.ascontiguousarray(image)


class Codec(ABC):
    """A codec configuration: a family (``jpeg``, ``hevc``, ...) plus fixed options.

    Subclasses set ``family``, ``extension``, ``axis`` and ``stream_check``, and implement
    :meth:`encode`, :meth:`decode` and :meth:`library_version`. Options (chroma subsampling,
    speed, ...) are keyword arguments of ``__init__``; :attr:`key` identifies the configuration
    for caching.
    """

    family: str
    extension: str
    axis: Axis
    #: The check that a bitstream is whole (a function of :mod:`evalkit.formats`, or the codec's
    #: own container reader), declared by every codec as ``stream_check = staticmethod(f)``.
    #: Every ``decode`` a codec defines runs it first (see :meth:`__init_subclass__`), since
    #: decoders conceal a stream cut short.
    stream_check: Callable[[bytes], object] | None = None
    #: The values an option may take where they are a few names (an encoder's presets, chroma
    #: formats): option → the allowed values, checked by ``__init__``.
    choices: ClassVar[dict[str, tuple[object, ...]]] = {}

    def __init_subclass__(cls, **kwargs):
        """Wrap the ``decode`` a codec class defines so that :attr:`stream_check` runs first:
        a bitstream that is not whole is a :class:`CodecError` naming the codec, never an image."""
        super().__init_subclass__(**kwargs)
        if "decode" in cls.__dict__:
            cls.decode = _verified(cls.__dict__["decode"])

    def __init__(self, name: str | None = None, **options):
        unknown = set(options) - set(self.default_options())
        if unknown:
            raise InputError(
                f"codec family {self.family!r} has no option(s) {sorted(unknown)}; "
                f"known: {sorted(self.default_options())}"
            )
        self.options = {**self.default_options(), **options}
        for option, allowed in self.choices.items():
            if self.options[option] not in allowed:
                raise InputError(
                    f"option {option}={self.options[option]!r} is not one of {', '.join(map(str, allowed))}"
                )
        self.name = name or self.family
        if self.stream_check is None:
            raise TypeError(
                f"{type(self).__name__} declares no stream_check: say how a whole "
                "bitstream is recognised (evalkit.formats)"
            )

    @classmethod
    def default_options(cls) -> dict:
        return {}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the codec can run here, otherwise what is missing and how to get it."""
        return None

    @classmethod
    @abstractmethod
    def library_version(cls) -> str:
        """The encoding library and its version, e.g. ``libjpeg-turbo 3.1``."""

    @abstractmethod
    def encode(self, image: np.ndarray, setting: float) -> bytes:
        """Encode an RGB uint8 image at ``setting`` (a value on :attr:`axis`) into a bitstream."""

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Decode a bitstream produced by :meth:`encode` into an RGB uint8 image."""

    def prepare(self) -> None:  # noqa: B027
        """Fetch what encoding needs (e.g. network weights) now, so that a missing piece fails
        before any work starts; nothing for codecs that only call a library."""

    def initial_setting(self, target_bpp: float) -> float:
        """Where rate matching starts looking for ``target_bpp``: the middle of the axis."""
        return self.axis.clip(self.axis.from_unit(0.5))

    @property
    def key(self) -> str:
        """Stable identity of this configuration: family, options and library version."""
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.family}[{opts}]@{self.library_version()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.options}>"


def _verified(decode):
    @functools.wraps(decode)
    def verified(self, data: bytes) -> np.ndarray:
        try:
            self.stream_check(bytes(data))
        except InputError as exc:
            raise CodecError(f"{self.name}: not a whole {self.family} bitstream: {exc}") from exc
        return decode(self, data)

    return verified


def bitstream_bpp(n_bytes: int, height: int, width: int) -> float:
    """bpp = 8 × bytes of the whole bitstream (headers included) / pixels of the original."""
    return 8.0 * n_bytes / (height * width)
