"""AVIF coded by SVT-AV1 through ffmpeg, at the finest rate control an AV1 encoder offers here.

Pillow's AVIF (libavif + libaom, :class:`~evalkit.codecs.pillow.AVIF`) maps quality 0–100 onto
the 64 quantisers libaom's API takes (``cq-level``/``min-q``/``max-q`` 0–63, each four of AV1's 256
``base_q_idx`` steps), so neighbouring settings lie about 6 % apart in bpp and a 1 % tolerance is
often missed (``coarse-axis``). SVT-AV1 (3.0 and later) takes its CRF in quarter steps from 0 to
70, one ``base_q_idx`` step each: 281 rungs about 1.5 % apart. ffmpeg is the static build from
the ``imageio-ffmpeg`` wheel (SVT-AV1 4.2 in 0.8.1), else the system's (:mod:`.ffmpeg`).

- 4:2:0 (SVT-AV1 codes the main profile only), BT.601 full range, converted here: libbpg's
  matrix (:func:`.hevc.rgb_to_ycbcr` on the full-resolution image), chroma as the mean of each 2×2
  block (edge pixels repeated for odd sizes), so no scaler guesses a range or a filter; the range
  and matrix are signalled in the AV1 sequence header and the file's ``colr`` box.
- SVT-AV1's still-image mode (``avif=1``, all-intra) with its image-quality tuning (``tune`` 3,
  "IQ", which only that mode allows), written by ffmpeg's AVIF muxer; the file is decoded by
  Pillow's libavif (dav1d), as any AVIF viewer would. ``preset`` 4 of −1…13 (lower is slower).
- Measured on the four demo photos against libavif/libaom at speed 6 (``avif-aom``), BD-rate
  over 0.25–1 bpp: PSNR −4.2 %, MS-SSIM +0.5 %, LPIPS +5.4 % (near parity), in about 0.2 s an
  encode against 0.35 s. SVT-AV1's default tuning (``tune`` 1, PSNR; measured without
  ``avif=1``) gives PSNR −12.9 % but MS-SSIM +16.1 % and LPIPS +23.3 %: a worse anchor for a
  toolkit that judges what people see.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats import check_boxes
from .base import Axis, Codec, CodecError, check_rgb8
from .ffmpeg import FFmpeg, describe, find_ffmpeg
from .hevc import rgb_to_ycbcr, rgb_to_ycbcr_float
from .pillow import pillow_decode

_ENCODER = "libsvtav1"
_MIN_PIXELS = 4  # SVT-AV1 4.2 fails on smaller pictures (1×3 and 3×1 included)
_STEPS = 4  # SVT-AV1's CRF resolution: quarter steps


def _ffmpeg() -> FFmpeg | None:
    """imageio-ffmpeg's first: its SVT-AV1 is pinned and has the quarter-step CRF (Debian 12's 1.4
    takes whole steps only)."""
    return find_ffmpeg(_ENCODER, bundled_first=True)


def yuv420_planes(image: np.ndarray, bits: int = 8) -> bytes:
    """H×W×3 RGB → Y, then Cb and Cr at half resolution (means of 2×2 blocks), as ffmpeg's
    ``yuv420p`` raw frame (chroma sides rounded up); with ``bits`` 10, ``yuv420p10le``, full
    range scaled by (2^bits − 1)/255 about the chroma midpoint (H.273's full-range quantisation)
    from the unrounded 8-bit values."""
    if bits == 8:
        y, cb, cr = rgb_to_ycbcr(image).astype(np.float64)
        dtype = np.uint8
    else:
        scale, middle = (2**bits - 1) / 255, 2 ** (bits - 1)
        y, cb, cr = rgb_to_ycbcr_float(image)
        y, cb, cr = y * scale, (cb - 128) * scale + middle, (cr - 128) * scale + middle
        dtype = np.dtype("<u2")
    height, width = y.shape
    pad = ((0, height % 2), (0, width % 2))

    def level(plane):
        return np.clip(np.rint(plane), 0, 2**bits - 1).astype(dtype).tobytes()

    def half(plane):
        p = np.pad(plane, pad, mode="edge")
        return level((p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4)

    return level(y) + half(cb) + half(cr)


class AVIFSVT(Codec):
    """AVIF by SVT-AV1 at CRF 0–70 in quarter steps; the setting counts quarters (CRF × 4)."""

    family, extension = "avif-svt", "avif"
    stream_check = staticmethod(check_boxes)
    axis = Axis("crf_quarters", 0, 70 * _STEPS, integer=True, increasing=False)

    @classmethod
    def default_options(cls):
        return {"preset": 4, "tune": 3}

    def __init__(self, name=None, **options):
        super().__init__(name, **options)
        if not -1 <= int(self.options["preset"]) <= 13:
            raise InputError(f"option preset={self.options['preset']!r} is not in SVT-AV1's -1…13")

    @classmethod
    def unavailable_reason(cls):
        if _ffmpeg() is None:
            return (
                "no ffmpeg with SVT-AV1 (libsvtav1): neither on PATH nor from imageio-ffmpeg; "
                "pip install imageio-ffmpeg"
            )
        return None

    @classmethod
    def library_version(cls):
        return _version(_ffmpeg())

    def encode(self, image, setting):
        image = check_rgb8(image)
        height, width = image.shape[:2]
        if height * width < _MIN_PIXELS:
            raise CodecError(
                f"{self.name}: SVT-AV1 codes pictures of at least {_MIN_PIXELS} "
                f"pixels, this one is {width}×{height}"
            )
        crf = int(setting) / _STEPS
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "out.avif")  # the AVIF muxer needs a seekable file
            done = subprocess.run(
                [
                    _ffmpeg().path,
                    "-hide_banner",
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "yuv420p",
                    "-s",
                    f"{width}x{height}",
                    "-color_range",
                    "pc",
                    "-colorspace",
                    "smpte170m",
                    "-i",
                    "-",
                    "-c:v",
                    _ENCODER,
                    "-preset",
                    str(int(self.options["preset"])),
                    "-svtav1-params",
                    f"crf={crf:g}:tune={int(self.options['tune'])}:avif=1",
                    "-frames:v",
                    "1",
                    "-f",
                    "avif",
                    str(out),
                ],
                input=yuv420_planes(image),
                capture_output=True,
            )
            errors = [
                line
                for line in done.stderr.decode(errors="replace").splitlines()
                if line.strip() and not line.startswith("Svt[")
            ]  # SVT's own log is chatter
            if done.returncode != 0 or errors or not out.is_file():
                raise CodecError(
                    f"{self.name}: encoding at crf={crf:g} failed: "
                    f"{errors[-1] if errors else f'ffmpeg exited with {done.returncode}'}"
                )
            return out.read_bytes()

    def decode(self, data):
        return pillow_decode(data, self.name)


@cache
def _version(ffmpeg: FFmpeg) -> str:
    """SVT-AV1's version in the program ``ffmpeg``, and that program's."""
    done = subprocess.run(
        [
            ffmpeg.path,
            "-hide_banner",
            "-f",
            "lavfi",
            "-i",
            "color=s=64x64",
            "-frames:v",
            "1",
            "-c:v",
            _ENCODER,
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    svt = re.search(r"SVT-AV1 Encoder Lib (\S+)", done.stderr)
    return f"SVT-AV1 {svt.group(1) if svt else 'unknown'}, {describe(ffmpeg)}"
