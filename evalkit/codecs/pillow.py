"""Codecs reached through Pillow: JPEG, WebP, JPEG 2000, AVIF, and HEIC (HEVC-intra in HEIF).

They share one round trip (array → ``Image.save`` → bytes → ``Image.open``) and differ only in
the ``save`` arguments, the way CompressAI's ``PillowCodec`` family does.
"""

from __future__ import annotations

import io
import math
from abc import abstractmethod

import numpy as np
from PIL import Image, features

from ..formats import check_boxes, check_j2k_codestream, check_jpeg, check_riff_webp
from .base import Axis, Codec, CodecError, HEVCChroma, check_rgb8, hevc_axis

_SUBSAMPLING = ("4:4:4", "4:2:0")


class PillowCodec(Codec):
    """A codec whose encoder is ``Image.save(format=..., **save_args(setting))``."""

    pillow_format: str

    @abstractmethod
    def save_args(self, setting: float) -> dict:
        """Keyword arguments of ``Image.save`` that encode at ``setting``."""

    def encode(self, image: np.ndarray, setting: float) -> bytes:
        buf, image = io.BytesIO(), check_rgb8(image)
        try:
            Image.fromarray(image, "RGB").save(buf, self.pillow_format, **self.save_args(setting))
        except (OSError, ValueError) as exc:
            raise CodecError(f"{self.name}: encoding at {self.axis.name}={setting} failed: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return pillow_decode(data, self.name)


def pillow_decode(data: bytes, name: str) -> np.ndarray:
    """The RGB image in a file Pillow reads; :class:`CodecError` naming codec ``name`` if it cannot."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return np.asarray(im.convert("RGB") if im.mode != "RGB" else im)
    except (
        OSError,
        ValueError,
        SyntaxError,
        RuntimeError,  # RuntimeError: libavif's
        Image.DecompressionBombError,
    ) as exc:  # a damaged size field: billions of pixels
        raise CodecError(f"{name}: cannot decode bitstream: {exc}") from exc


# ITU-T T.81 Annex K tables (luminance, chrominance) in natural row-major order: the base
# tables libjpeg scales by its quality factor.
_ANNEX_K_LUMA = [
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
]
_ANNEX_K_CHROMA = [
    17,
    18,
    24,
    47,
    99,
    99,
    99,
    99,
    18,
    21,
    26,
    66,
    99,
    99,
    99,
    99,
    24,
    26,
    56,
    99,
    99,
    99,
    99,
    99,
    47,
    66,
    99,
    99,
    99,
    99,
    99,
    99,
] + [99] * 32


def jpeg_qtables(quality: float) -> list[list[int]]:
    """libjpeg's ``jpeg_quality_scaling`` + ``jpeg_add_quant_table`` with a real-valued quality.

    At integer qualities the tables equal libjpeg's (baseline-clamped to 1..255, and libjpeg's
    integer division below 50 kept); in between they move a few entries at a time, which gives
    JPEG a much finer rate axis than 100 steps while staying monotone.
    """
    scale = math.floor(5000.0 / quality) if quality < 50 else 200.0 - 2.0 * quality
    return [
        [int(min(max((q * scale + 50.0) // 100.0, 1), 255)) for q in base]
        for base in (_ANNEX_K_LUMA, _ANNEX_K_CHROMA)
    ]


class JPEG(PillowCodec):
    """Baseline JPEG (libjpeg-turbo) with optimised Huffman tables; quality 1–100, real-valued."""

    family, extension, pillow_format = "jpeg", "jpg", "JPEG"
    stream_check = staticmethod(check_jpeg)
    axis = Axis("quality", 1.0, 100.0)

    choices = {"subsampling": _SUBSAMPLING}

    @classmethod
    def default_options(cls):
        return {"subsampling": "4:2:0"}

    @classmethod
    def library_version(cls):
        return f"libjpeg-turbo {features.version('libjpeg_turbo')}"

    def save_args(self, setting):
        return {
            "qtables": jpeg_qtables(setting),
            "optimize": True,
            "subsampling": 0 if self.options["subsampling"] == "4:4:4" else 2,
        }


class WebP(PillowCodec):
    """Lossy WebP (libwebp, VP8). ``lossless=False`` is explicit and the bitstream is checked for
    a ``VP8 `` chunk, so a setting can never silently fall back to the lossless VP8L format."""

    family, extension, pillow_format = "webp", "webp", "WEBP"
    stream_check = staticmethod(check_riff_webp)
    axis = Axis("quality", 0.0, 100.0)

    @classmethod
    def default_options(cls):
        return {"method": 6}

    @classmethod
    def library_version(cls):
        return f"libwebp {features.version('webp')}"

    def save_args(self, setting):
        return {
            "quality": float(setting),
            "lossless": False,
            "method": int(self.options["method"]),
            "exact": False,
        }

    def encode(self, image, setting):
        data = super().encode(image, setting)
        if data[12:16] != b"VP8 ":
            raise CodecError(f"webp: encoder produced a {data[12:16]!r} chunk, not lossy VP8")
        return data


class JPEG2000(PillowCodec):
    """JPEG 2000 (OpenJPEG) codestream, irreversible 9/7 wavelet with the colour transform.

    The setting is OpenJPEG's rate target in bpp (passed as a compression ratio over 24-bit RGB),
    not a quality level or a PSNR target; the real size differs slightly, so matching still checks.
    Pillow's defaults (reversible 5/3, no MCT) are for lossless coding and are overridden.
    """

    family, extension, pillow_format = "jpeg2000", "j2k", "JPEG2000"
    stream_check = staticmethod(check_j2k_codestream)
    axis = Axis("rate", 0.01, 12.0, log=True)

    @classmethod
    def library_version(cls):
        return f"OpenJPEG {features.version('jpg_2000')}"

    def initial_setting(self, target_bpp):
        return self.axis.clip(target_bpp)  # the setting is a rate: start at the target

    def save_args(self, setting):
        return {
            "quality_mode": "rates",
            "quality_layers": [24.0 / setting],
            "irreversible": True,
            "mct": 1,
            "no_jp2": True,
        }


class AVIF(PillowCodec):
    """AVIF (libavif with the aom AV1 encoder). Quality 0–100 maps onto AV1's 64 quantisers, so
    reachable rates form a ladder. ``speed`` 6 (aom's 0 is the slowest) keeps Kodak practical."""

    family, extension, pillow_format = "avif", "avif", "AVIF"
    stream_check = staticmethod(check_boxes)
    axis = Axis("quality", 0, 100, integer=True)

    choices = {"subsampling": _SUBSAMPLING}

    @classmethod
    def default_options(cls):
        return {"speed": 6, "subsampling": "4:2:0"}

    @classmethod
    def unavailable_reason(cls):
        if not features.check("avif"):
            return "this Pillow has no AVIF support: pip install 'pillow>=11.3'"
        from PIL import _avif

        if not _avif.encoder_codec_available("aom"):
            return "Pillow's libavif was built without the aom encoder"
        return None

    @classmethod
    def library_version(cls):
        from PIL import _avif

        return f"libavif {features.version('avif')} ({_avif.codec_versions()})"

    def save_args(self, setting):
        return {
            "quality": int(setting),
            "speed": int(self.options["speed"]),
            "codec": "aom",
            "subsampling": self.options["subsampling"],
        }


class HEIC(HEVCChroma, PillowCodec):
    """HEVC-intra in a HEIF container (libheif + x265 through pillow-heif), driven by x265's CRF:
    what phones produce. libheif's x265 defaults stay (preset ``slow``, tune ``ssim``, which
    under CRF means adaptive quantisation on, TU depth 2), and the HEIF boxes cost a few hundred
    bytes. On Kodak it trails BPG by 0.7–0.8 dB (``bench/hevc_bpg.py --fixed``): compare learned
    codecs against ``hevc-bpg``.
    A single intra frame gets one integer QP, so the 0–51 CRF ladder is as fine as it gets.
    """

    family, extension, pillow_format = "heic", "heic", "HEIF"
    stream_check = staticmethod(check_boxes)
    axis = hevc_axis("crf")

    @classmethod
    def unavailable_reason(cls):
        try:
            import pillow_heif
        except ImportError:
            return "pillow-heif is not installed: pip install pillow-heif"
        if "x265" not in pillow_heif.libheif_info().get("encoders", {}):
            return "this libheif has no x265 encoder"
        return None

    def __init__(self, name=None, **options):
        super().__init__(name, **options)
        import pillow_heif

        pillow_heif.register_heif_opener()  # lets Image.save/open speak HEIF

    @classmethod
    def library_version(cls):
        import pillow_heif

        info = pillow_heif.libheif_info()
        return f"libheif {info['libheif']} ({info['encoders'].get('x265', 'no x265')})"

    def save_args(self, setting):
        return {
            "chroma": int(self.chroma_digits()),
            "enc_params": {"x265:crf": str(int(setting))},
            "save_nclx_profile": False,
        }
