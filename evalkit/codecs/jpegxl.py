"""JPEG XL through libjxl (imagecodecs), driven by the Butteraugli distance."""
from __future__ import annotations

import numpy as np

from .base import Axis, Codec, CodecError, check_rgb8


class JPEGXL(Codec):
    """JPEG XL (libjxl, VarDCT). The setting is the distance (0.01 near-lossless … 25 worst), a
    real-valued axis on which bpp falls roughly as a power law; the naked codestream is stored."""

    family, extension = "jpegxl", "jxl"
    axis = Axis("distance", 0.01, 25.0, increasing=False, log=True)

    @classmethod
    def default_options(cls):
        return {"effort": 7}

    @classmethod
    def unavailable_reason(cls):
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed: pip install imagecodecs"
        if not imagecodecs.JPEGXL.available:
            return "this imagecodecs build has no libjxl"
        return None

    @classmethod
    def library_version(cls):
        import imagecodecs
        return imagecodecs.jpegxl_version().replace("-", " ")

    def encode(self, image, setting):
        import imagecodecs
        try:
            return bytes(imagecodecs.jpegxl_encode(
                check_rgb8(image), distance=float(setting), effort=int(self.options["effort"]),
                usecontainer=False))
        except imagecodecs.JpegxlError as exc:
            raise CodecError(f"{self.name}: encoding at distance={setting} failed: {exc}") from exc

    def decode(self, data):
        import imagecodecs
        try:
            image = imagecodecs.jpegxl_decode(data)
        except imagecodecs.JpegxlError as exc:
            raise CodecError(f"{self.name}: cannot decode bitstream: {exc}") from exc
        return np.ascontiguousarray(image, dtype=np.uint8)
