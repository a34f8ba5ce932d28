"""VVC intra (H.266) by VVenC through ffmpeg's ``libvvenc``, decoded by ffmpeg's own VVC decoder.

Papers since 2021 quote BD-rates against VTM intra, VVC's reference encoder; VVenC is
Fraunhofer HHI's fast encoder of the same standard, and the only VVC encoder an ffmpeg here
carries (the ``imageio-ffmpeg`` wheel's static build; Debian 12's ffmpeg 5.1 has neither it nor a
VVC decoder, so a system ffmpeg is used only when it lists ``libvvenc``, see :mod:`.ffmpeg`).

- All intra (``IntraPeriod=1``, ``GOPSize=1``): one IDR picture, as VTM's all-intra configuration.
- Constant QP 0–63 (at 10 bits), QPA off (``-qpa 0``): tuned for PSNR as VTM's common test
  conditions are and as ``hevc-bpg`` is; VVenC's perceptual QPA moves bits by a luma-activity
  model, which is a different anchor.
- 10-bit 4:2:0 (``yuv420p10le``, the one format libvvenc takes): BT.601 full range, converted
  here from RGB with the matrix the other ffmpeg codecs use (chroma as 2×2 means, see
  :func:`.svtav1.yuv420_planes`), and back here: chroma upsampled by the same centred siting
  (weights 3/4, 1/4, libjpeg's "fancy" upsampling), so no scaler guesses a range or a filter.
- ``preset`` ``fast`` by default: on a Kodak picture VVenC's presets take about 0.7 s (faster),
  3 s (fast), 12 s (medium) and 66 s (slower) of CPU; ``bench/vvc.py`` measures the rate each saves.
- The file: ``EKV1``, one byte saying whether the picture was padded by a column (bit 0) or a
  row (bit 1), the CRC-32 of the stream (4 bytes, big-endian), the stream's length and the
  Annex-B stream (:func:`.hevc.pack`): a VVC decoder, like an HEVC one, conceals a slice cut
  short, and ffmpeg's decodes some flipped bits without a word, so the file carries its own
  check as PNG's chunks do. 4:2:0 VVC codes even sides only (its
  conformance window crops in chroma units), so an odd side is padded by repeating its edge and
  the decoded picture cut back.

Fine rate control: VVenC takes no scaling list and no fractional QP, and its 64 QPs lie about
9 % apart in rate. The setting counts sixteenths of a QP: the nearest QP, with VVenC's λ scaled
by 2^(2f/3) for the remaining fraction f ∈ [−½, ½) (``LambdaModifier``; λ ∝ 2^(QP/3), so half a
QP of setting moves λ by a whole QP's ratio and the rates of neighbouring QPs meet). On Kodak
crops the quarter-QP points between two QPs lie between their rates, at most 4 % apart, and
within 0.05 dB of PSNR of the line through them in log rate (``tests/test_codecs.py``), so 0.5
bpp is met within 1 %.
"""

from __future__ import annotations

import zlib

import numpy as np

from .base import Axis, CodecError, check_rgb8
from .ffmpeg import FFmpegCodec, encoder_version, full_range_input, y4m_picture
from .hevc import pack, unpack_length, ycbcr_to_rgb
from .svtav1 import yuv420_planes

_BITS = 10
_MAX_QP = 63
STEPS = 16  # settings per QP
_MIN_SIDE = 16  # VVenC refuses smaller pictures (8×8 and 10×8 fail)
_PRESETS = ("faster", "fast", "medium", "slow", "slower")
#: First bytes of the container.
MAGIC = b"EKV1"


def vvc_nal_type(unit: bytes) -> int:
    """H.266 nal_unit_type (§7.4.2.2: 15 SPS, 16 PPS, 7–10 IRAP slices); -1 for a short unit."""
    return unit[1] >> 3 if len(unit) > 1 else -1


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """A half-resolution chroma plane → ``height`` × ``width``, centred siting (the inverse
    siting of 2×2 means): each output sample is 3/4 of its own and 1/4 of the next sample
    along each axis, edges repeated."""
    p = np.pad(plane.astype(np.float64), 1, mode="edge")
    rows = np.empty((2 * plane.shape[0], p.shape[1]))
    rows[0::2], rows[1::2] = 0.75 * p[1:-1] + 0.25 * p[:-2], 0.75 * p[1:-1] + 0.25 * p[2:]
    out = np.empty((rows.shape[0], 2 * plane.shape[1]))
    out[:, 0::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, :-2]
    out[:, 1::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    return out[:height, :width]


def qp_and_lambda(setting: int) -> tuple[int, float]:
    """(QP, VVenC's ``LambdaModifier``) of the setting ``setting`` (sixteenths of a QP): the nearest
    QP, and λ scaled by 2^(2·f/3) for the remaining fraction f ∈ [−½, ½) of a QP (λ ∝ 2^(QP/3):
    a full QP's λ over half a QP, so the rates of neighbouring QPs meet)."""
    qp = min((int(setting) + STEPS // 2) // STEPS, _MAX_QP)
    fraction = int(setting) / STEPS - qp
    return qp, 2 ** (2 * fraction / 3)


def unpack_vvc(data: bytes, name: str = "vvc") -> tuple[bytes, int]:
    """The VVC stream inside a file :meth:`VVCIntra.encode` wrote and the code of the padding it
    added, checked for truncation (the length) and damage (the CRC-32: ffmpeg's decoder accepts a
    stream with a flipped slice bit)."""
    header = data[len(MAGIC) : len(MAGIC) + 5] if data.startswith(MAGIC) else b""
    stream = unpack_length(data, name, MAGIC + header, "VVC-intra")
    padding, crc = header[0], int.from_bytes(header[1:], "big")
    if padding > 3 or zlib.crc32(stream) != crc:
        raise CodecError(f"{name}: the file's checksum does not match its VVC data: it is damaged")
    return stream, padding


class VVCIntra(FFmpegCodec):
    """VVC intra by VVenC, QP 0–63 in sixteenths (10-bit 4:2:0, QPA off): see the module docstring."""

    family, extension = "vvc", "vvc"
    stream_check = staticmethod(unpack_vvc)
    axis = Axis("qp_16ths", 0, _MAX_QP * STEPS, integer=True, increasing=False)
    choices = {"preset": _PRESETS}

    @classmethod
    def default_options(cls):
        return {"preset": "fast"}

    encoder = "libvvenc"
    chatter = ("Configuration warning", "vvenc [")  # VVenC's own log, printed past ffmpeg's level
    missing = (
        "no ffmpeg with libvvenc (VVenC): neither on PATH nor from imageio-ffmpeg; "
        "pip install imageio-ffmpeg (0.8 and later ship it)"
    )

    @classmethod
    def library_version(cls):
        return encoder_version(
            cls.ffmpeg(),
            cls.encoder,
            r"libvvenc version: (\S+)",
            "VVenC",
            ("-pix_fmt", f"yuv420p{_BITS}le", "-preset", "faster"),
        )

    def encode(self, image, setting):
        image = check_rgb8(image)
        height, width = image.shape[:2]
        if min(height, width) < _MIN_SIDE:
            raise CodecError(
                f"{self.name}: VVenC codes pictures of at least {_MIN_SIDE}×{_MIN_SIDE} "
                f"pixels, this one is {width}×{height}"
            )
        qp, modifier = qp_and_lambda(int(setting))
        padding = (width % 2) | (height % 2) << 1
        image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        height, width = image.shape[:2]
        stream = self.run_ffmpeg(
            [
                *full_range_input(f"yuv420p{_BITS}le", width, height),
                "-c:v",
                self.encoder,
                "-preset",
                self.options["preset"],
                "-qp",
                str(qp),
                "-qpa",
                "0",
                "-vvenc-params",
                f"IntraPeriod=1:GOPSize=1:LambdaModifier={modifier:.6f}",
                "-frames:v",
                "1",
                "-f",
                "vvc",
                "-",
            ],
            yuv420_planes(image, _BITS),
            f"encoding at {self.axis.name}={int(setting)}",
        )
        return pack(stream, MAGIC + bytes([padding]) + zlib.crc32(stream).to_bytes(4, "big"))

    def decode(self, data):
        stream, padding = unpack_vvc(data, self.name)
        y4m = self.run_ffmpeg(
            [
                "-err_detect",
                "explode",
                "-xerror",
                "-c:v",
                "vvc",
                "-f",
                "vvc",
                "-i",
                "-",
                "-frames:v",
                "1",
                "-f",
                "yuv4mpegpipe",
                "-pix_fmt",
                "yuv420p10le",
                "-strict",
                "-1",
                "-",
            ],
            stream,
            "decoding",
        )
        width, height, samples = y4m_picture(y4m)
        planes = np.frombuffer(samples, np.dtype("<u2"))
        chroma = ((height + 1) // 2, (width + 1) // 2)
        if not planes.size or planes.size != height * width + 2 * chroma[0] * chroma[1]:
            raise CodecError(f"{self.name}: the decoder returned no whole 4:2:0 picture")
        luma, cb, cr = np.split(planes, [height * width, height * width + chroma[0] * chroma[1]])
        scale, middle = 255 / (2**_BITS - 1), 2 ** (_BITS - 1)
        ycc = np.stack(
            [
                luma.reshape(height, width) * scale,
                (upsample_chroma(cb.reshape(chroma), height, width) - middle) * scale + 128,
                (upsample_chroma(cr.reshape(chroma), height, width) - middle) * scale + 128,
            ]
        )
        return ycbcr_to_rgb(ycc[:, : height - (padding >> 1), : width - (padding & 1)])
