"""Codec families whose encoder and decoder are one pair of ``imagecodecs`` functions.

imagecodecs wraps each library behind ``<name>_encode`` / ``<name>_decode``, a ``<NAME>.available``
flag, a ``<name>_version()`` and one exception class per codec, so a family only says which
library it is and which encode arguments a setting becomes.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from .base import Codec, CodecError, check_rgb8


class ImagecodecsCodec(Codec):
    """A codec whose bitstream is ``imagecodecs.<library>_encode(image, **encode_args(setting))``."""

    library: str  # imagecodecs' lower-case name: "jpegxl", "htj2k", ...
    library_name: str  # what to call the library in a message: "libjxl", "OpenJPH", ...

    @abstractmethod
    def encode_args(self, setting: float) -> dict:
        """Keyword arguments of ``imagecodecs.<library>_encode`` that encode at ``setting``."""

    @classmethod
    def unavailable_reason(cls):
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed: pip install imagecodecs"
        if not getattr(imagecodecs, cls.library.upper()).available:
            return f"this imagecodecs build has no {cls.library_name}"
        return None

    @classmethod
    def library_version(cls):
        import imagecodecs

        return getattr(imagecodecs, f"{cls.library}_version")().replace("-", " ")

    def _error(self):
        import imagecodecs

        return getattr(imagecodecs, f"{self.library.capitalize()}Error")

    def encode(self, image, setting):
        import imagecodecs

        encode = getattr(imagecodecs, f"{self.library}_encode")
        try:
            return bytes(encode(check_rgb8(image), **self.encode_args(setting)))
        except self._error() as exc:
            raise CodecError(f"{self.name}: encoding at {self.axis.name}={setting} failed: {exc}") from exc

    def decode(self, data):
        import imagecodecs

        try:
            image = getattr(imagecodecs, f"{self.library}_decode")(data)
        except (ValueError, RuntimeError) as exc:  # the codec's own error (a RuntimeError) or
            # a plain one: libjxl's "could not determine frame count" on a codestream cut short
            raise CodecError(f"{self.name}: cannot decode bitstream: {exc}") from exc
        if image.ndim != 3 or image.shape[2] != 3:
            raise CodecError(f"{self.name}: the bitstream holds a {image.shape} image, not RGB")
        return np.ascontiguousarray(image, dtype=np.uint8)
