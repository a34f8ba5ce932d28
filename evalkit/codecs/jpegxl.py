"""JPEG XL through libjxl (imagecodecs), driven by the Butteraugli distance."""

from __future__ import annotations

from ..formats import check_jpegxl
from .base import Axis
from .imagecodecs_base import ImagecodecsCodec


class JPEGXL(ImagecodecsCodec):
    """JPEG XL (libjxl, VarDCT). The setting is the distance (0.01 near-lossless … 25 worst), a
    real-valued axis on which bpp falls roughly as a power law; the naked codestream is stored."""

    family, extension = "jpegxl", "jxl"
    library, library_name = "jpegxl", "libjxl"
    stream_check = staticmethod(check_jpegxl)
    axis = Axis("distance", 0.01, 25.0, increasing=False, log=True)

    @classmethod
    def default_options(cls):
        return {"effort": 7}

    def encode_args(self, setting):
        return {"distance": float(setting), "effort": int(self.options["effort"]), "usecontainer": False}
