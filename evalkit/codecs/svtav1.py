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

import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats import check_boxes
from .base import Axis, CodecError, check_rgb8
from .ffmpeg import FFmpegCodec, encoder_version, full_range_input
from .hevc import rgb_to_ycbcr, rgb_to_ycbcr_float
from .pillow import pillow_decode

_MIN_PIXELS = 4  # SVT-AV1 4.2 fails on smaller pictures (1×3 and 3×1 included)
_STEPS = 4  # SVT-AV1's CRF resolution: quarter steps


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


class AVIFSVT(FFmpegCodec):
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

    encoder, chatter = "libsvtav1", ("Svt[",)  # SVT's own log
    # imageio-ffmpeg's first: its SVT-AV1 is pinned and has the quarter-step CRF (Debian 12's 1.4
    # takes whole steps only)
    bundled_first = True
    missing = (
        "no ffmpeg with SVT-AV1 (libsvtav1): neither on PATH nor from imageio-ffmpeg; "
        "pip install imageio-ffmpeg"
    )

    @classmethod
    def library_version(cls):
        return encoder_version(cls.ffmpeg(), cls.encoder, r"SVT-AV1 Encoder Lib (\S+)", "SVT-AV1")

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
            return self.run_ffmpeg(
                [
                    *full_range_input("yuv420p", width, height),
                    "-c:v",
                    self.encoder,
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
                yuv420_planes(image),
                f"encoding at crf={crf:g}",
                output=out,
            )

    def decode(self, data):
        return pillow_decode(data, self.name)
