"""HEVC-intra configured as BPG configures x265, through ``ffmpeg`` (libx265 + its decoder): the
system's (Debian's has libx265), else the static build the ``imageio-ffmpeg`` wheel ships
(:mod:`.ffmpeg`).

Papers compare learned codecs against BPG (Bellard's HEVC-intra format). What makes BPG strong is
not its file format but how ``bpgenc`` drives x265 (libbpg's ``x265_glue.c``, default ``-m 7``):
constant QP, preset ``veryslow``, tune ``ssim``, one intra frame, 4:4:4 YCbCr from a full-range
BT.601 transform (``bpgenc.c``: ``convert_init``/``rgb24_to_ycc``). This codec does the same, so
learned codecs meet the baseline everyone quotes. On Kodak (``bench/hevc_bpg.py --fixed``, the
anchor's protocol) it lies 0.08, 0.04 and 0.00 dB below CompressAI's BPG curve at 0.25, 0.5 and
1.0 bpp, where ``heic`` (HEIF, libheif's CRF defaults) lies 0.72, 0.73 and 0.79 dB below:

- constant QP, not CRF: under CRF x265 runs adaptive quantisation (aq-mode 2 by default, and
  libheif's tune ``ssim``), moving bits towards flat areas, which costs PSNR; under constant QP
  x265 switches AQ off. ``ipratio=1`` makes the setting the slice QP itself (x265 lowers an I
  frame's QP by 6·log2(ipratio) ≈ 3 otherwise): a relabelling, the reachable rates do not change.
- ``aq-mode=0``, ``psy-rd=0``, ``psy-rdoq=0``: tuned for PSNR, as BPG's tune ``ssim`` is under CQP;
  written out so the configuration does not depend on what a preset or tune implies.
- preset ``veryslow`` (BPG's default compression level 7): a wider mode and partition search.
- 4:4:4, 8 bit, BT.601 full range, done here in numpy with libbpg's coefficients; the decoded
  planes come back raw and are converted here as well, so no scaler guesses a range.
- the file: ``EKH1``, the length of the rest (1–4 bytes), and the HEVC Annex-B stream with 3-byte
  start codes: VPS, SPS (with a 3-byte VUI that says "full-range BT.601", so any HEVC player shows
  it right), PPS, slice; x265's info SEI and VUI timing are off. About 80 bytes besides the slice
  data, against ~30 for BPG's compacted header and ~360 for HEIF's boxes. The length is needed:
  an HEVC decoder conceals a slice cut short without a word.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from .base import CodecError, check_rgb8, hevc_axis
from .ffmpeg import FFmpegCodec, encoder_version, y4m_picture

# Full-range BT.601 (Kr = 0.299, Kb = 0.114), the matrix bpgenc uses by default.
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB
_RGB_TO_YCC = np.array(
    [
        [_KR, _KG, _KB],
        [-0.5 * _KR / (1 - _KB), -0.5 * _KG / (1 - _KB), 0.5],
        [0.5, -0.5 * _KG / (1 - _KR), -0.5 * _KB / (1 - _KR)],
    ]
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])

_MIN_SIDE = 16  # x265 refuses smaller pictures
_PRESETS = ("medium", "slow", "slower", "veryslow", "placebo")
_START = b"\x00\x00\x01"
#: First bytes of the container (see :func:`pack`).
MAGIC = b"EKH1"


def rgb_to_ycbcr_float(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W float64 planes Y, Cb, Cr on the 8-bit scale (BT.601 full range),
    not rounded: the start of every bit depth."""
    return (image.astype(np.float64) @ _RGB_TO_YCC.T + _CHROMA_OFFSET).transpose(2, 0, 1)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → 3×H×W uint8 planes Y, Cb, Cr (BT.601 full range, rounded)."""
    return np.clip(np.rint(rgb_to_ycbcr_float(image)), 0, 255).astype(np.uint8)


def ycbcr_to_rgb(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`: 3×H×W planes on the 8-bit scale (uint8, or float from a
    deeper picture) → H×W×3 uint8 RGB."""
    rgb = (planes.transpose(1, 2, 0).astype(np.float64) - _CHROMA_OFFSET) @ _YCC_TO_RGB.T
    return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def annexb_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B stream, start codes removed (trailing zeros belong to none)."""
    if not data.startswith((_START, b"\x00" + _START)):
        return []
    return [unit.rstrip(b"\x00") for unit in re.split(b"\x00\x00\x01", data)[1:]]


def nal_type(unit: bytes) -> int:
    """H.265 nal_unit_type (32 VPS, 33 SPS, 34 PPS, < 32 slices); -1 for an empty unit."""
    return (unit[0] >> 1) & 0x3F if unit else -1


class HEVCIntra(FFmpegCodec):
    """HEVC-intra at slice QP 0–51 (x265 via ffmpeg), configured as BPG configures x265.

    The integer QP is the only rate control a single intra frame has, so reachable rates form a
    ladder (a step of about 10 % in bpp per QP); rate matching reports ``coarse-axis`` between
    rungs. See the module docstring for every choice and ``bench/hevc_bpg.py`` for its effect.
    """

    family, extension = "hevc", "hevc"
    stream_check = staticmethod(lambda data: unpack(data, "EKH1 container"))
    axis = hevc_axis("qp")
    choices = {"preset": _PRESETS}

    @classmethod
    def default_options(cls):
        return {"preset": "veryslow"}

    encoder = "libx265"
    missing = (
        "no ffmpeg with libx265: neither on PATH nor from imageio-ffmpeg; "
        "pip install imageio-ffmpeg, or apt-get install ffmpeg (Debian's has libx265)"
    )

    @classmethod
    def library_version(cls):
        return encoder_version(
            cls.ffmpeg(),
            cls.encoder,
            r"HEVC encoder version (\S+)",
            "x265",
            ("-x265-params", "log-level=info"),
        )

    def x265_params(self, setting: float, folder: Path) -> str:
        """The ``-x265-params`` of this configuration at ``setting`` (here the slice QP; a
        subclass may write files it names into ``folder``, which lives as long as the encode)."""
        return self.bpg_params(int(setting))

    @staticmethod
    def bpg_params(qp: int) -> str:
        """BPG's x265 configuration at slice QP ``qp``."""
        return ":".join(
            [
                f"qp={int(qp)}",
                "ipratio=1",
                "keyint=1",
                "aq-mode=0",
                "psy-rd=0",
                "psy-rdoq=0",
                "range=full",
                "colormatrix=smpte170m",  # signalled in the SPS (VUI), 3 bytes
                "info=0",
                "vui-timing-info=0",
                "vui-hrd-info=0",
                "log-level=error",
            ]
        )

    def encode(self, image, setting):
        image = check_rgb8(image)
        height, width = image.shape[:2]
        if min(height, width) < _MIN_SIDE:
            raise CodecError(
                f"{self.name}: x265 codes pictures of at least {_MIN_SIDE}×{_MIN_SIDE} "
                f"pixels, this one is {width}×{height}"
            )
        with tempfile.TemporaryDirectory() as folder:
            stream = self.run_ffmpeg(
                [
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "yuv444p",
                    "-s",
                    f"{width}x{height}",
                    "-i",
                    "-",
                    "-c:v",
                    "libx265",
                    "-preset",
                    self.options["preset"],
                    "-x265-params",
                    self.x265_params(setting, Path(folder)),
                    "-f",
                    "hevc",
                    "-",
                ],
                rgb_to_ycbcr(image).tobytes(),
                f"encoding at {self.axis.name}={setting:g}",
            )
        return pack(b"".join(_START + unit for unit in annexb_units(stream)))

    def decode(self, data):
        stream = unpack(data, self.name)
        y4m = self.run_ffmpeg(
            [
                "-err_detect",
                "explode",
                "-xerror",
                "-f",
                "hevc",
                "-i",
                "-",
                "-frames:v",
                "1",
                "-f",
                "yuv4mpegpipe",
                "-pix_fmt",
                "yuv444p",
                "-",
            ],
            stream,
            "decoding",
        )
        width, height, planes = y4m_picture(y4m)
        if not planes or len(planes) != 3 * width * height:
            raise CodecError(f"{self.name}: the decoder returned no whole 4:4:4 picture")
        return ycbcr_to_rgb(np.frombuffer(planes, np.uint8).reshape(3, height, width))


def pack(stream: bytes, magic: bytes = MAGIC) -> bytes:
    """The container: ``magic`` (:data:`MAGIC` for HEVC), the stream's length (7-bit groups,
    big-endian, as BPG writes its lengths), the Annex-B stream. The length is what lets a
    truncated file be told apart: an HEVC or VVC decoder conceals a slice cut short without a word."""
    length, groups = len(stream), []
    while True:
        groups.append(length & 0x7F)
        length >>= 7
        if not length:
            break
    prefix = bytes(g | 0x80 for g in reversed(groups[1:])) + bytes([groups[0]])
    return magic + prefix + stream


def unpack(data: bytes, name: str = "hevc") -> bytes:
    """The Annex-B stream inside a container written by :func:`pack`, checked for truncation
    and for HEVC's parameter sets."""
    stream = unpack_length(data, name, MAGIC, "HEVC-intra")
    units = annexb_units(stream)
    if [nal_type(u) for u in units[:3]] != [32, 33, 34] or len(units) < 4:
        raise CodecError(f"{name}: expected VPS, SPS, PPS and a slice in the HEVC data")
    return stream


def unpack_length(data: bytes, name: str, magic: bytes, what: str) -> bytes:
    """The stream inside a container written by :func:`pack` with ``magic``, checked for
    truncation (``what`` names the format in the message)."""
    if not data.startswith(magic):
        raise CodecError(f"{name}: not an evalkit {what} file (no {magic!r} header)")
    length, pos = 0, len(magic)
    for pos in range(len(magic), min(len(data), len(magic) + 5)):
        length = (length << 7) | (data[pos] & 0x7F)
        if not data[pos] & 0x80:
            break
    else:
        raise CodecError(f"{name}: the header is truncated")
    stream = data[pos + 1 :]
    if len(stream) != length:
        raise CodecError(
            f"{name}: the header announces {length} bytes of {what} data, the "
            f"file holds {len(stream)}: it is truncated or damaged"
        )
    return stream
