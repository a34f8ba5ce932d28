"""High-Throughput JPEG 2000 (ITU-T T.814 | ISO/IEC 15444-15): encoded by OpenJPH (imagecodecs),
decoded by OpenJPEG (Pillow).

HTJ2K replaces JPEG 2000's EBCOT block coder with a faster, non-embedded one, so it has no
post-compression rate control: the rate is set by the base quantisation step of the
irreversible 9/7 wavelet (OpenJPH's ``qstep``), and rate matching searches that.

The decoder is a second, independent implementation. OpenJPH 0.26's own decoder, as imagecodecs
exposes it, wraps samples that fall outside 0–255 instead of clamping them (on skimage's
astronaut at qstep 0.002, 0.07 % of the pixels come back off by up to 255, PSNR 41.4 dB where
OpenJPEG gives 57.1 dB); OpenJPEG ≥ 2.5 decodes HT codestreams and clamps.
"""

from __future__ import annotations

from PIL import features

from ..formats import check_j2k_codestream
from .base import Axis
from .imagecodecs_base import ImagecodecsCodec
from .pillow import pillow_decode


class HTJ2K(ImagecodecsCodec):
    """HTJ2K, irreversible path, a bare J2K codestream. The setting is the quantisation step
    (0.001 ≈ 15 bpp … 1 ≈ 0.05 bpp on photos; OpenJPH saturates above 1), real-valued, with
    bpp close to a power law in it."""

    family, extension = "htj2k", "j2c"
    library, library_name = "htj2k", "OpenJPH"
    stream_check = staticmethod(check_j2k_codestream)
    axis = Axis("qstep", 0.001, 1.0, increasing=False, log=True)

    @classmethod
    def unavailable_reason(cls):
        decoder = features.version_codec("jpg_2000")
        if decoder is None or tuple(map(int, decoder.split(".")[:2])) < (2, 5):
            return f"decoding HTJ2K needs Pillow built with OpenJPEG ≥ 2.5 (this one has {decoder})"
        return super().unavailable_reason()

    @classmethod
    def library_version(cls):
        return f"{super().library_version()}, OpenJPEG {features.version_codec('jpg_2000')}"

    def encode_args(self, setting):
        return {"level": float(setting)}

    def decode(self, data):
        return pillow_decode(data, self.name)
