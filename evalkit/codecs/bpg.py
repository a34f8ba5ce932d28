"""BPG (Bellard's HEVC-intra format) through the ``bpgenc`` / ``bpgdec`` programs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..formats import check_bpg, with_bpg_length
from .base import Codec, CodecError, HEVCChroma, check_rgb8, hevc_axis


class BPG(HEVCChroma, Codec):
    """BPG at quantiser QP 0–51 (``bpgenc -q``), x265 backend, 4:4:4 by default as in the
    variable-rate paper's BPG baseline. Needs libbpg's programs on PATH; where they are missing,
    ``hevc-bpg`` is x265 configured the same way, through ffmpeg.

    The bitstream is ``bpgenc``'s file with its header's picture_data_length filled in
    (:func:`~evalkit.formats.with_bpg_length`: 1–4 bytes more, under 0.0001 bpp on a Kodak
    image), so that a cut file is refused rather than decoded in part."""

    family, extension = "bpg", "bpg"
    stream_check = staticmethod(check_bpg)
    axis = hevc_axis("qp")

    @classmethod
    def unavailable_reason(cls):
        missing = [p for p in ("bpgenc", "bpgdec") if shutil.which(p) is None]
        if missing:
            return (
                f"{' and '.join(missing)} not on PATH: build libbpg (bellard.org/bpg) and add "
                "its programs to PATH, or use 'hevc-bpg' (x265 configured as bpgenc does)"
            )
        return None

    @classmethod
    def library_version(cls):
        out = subprocess.run(["bpgenc", "-h"], capture_output=True, text=True)
        found = re.search(r"version\s+([\w.]+)", out.stdout + out.stderr)
        return f"bpgenc {found.group(1) if found else 'unknown'}"

    @staticmethod
    def _run(args: list[str]) -> None:
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise CodecError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def encode(self, image, setting):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "in.png"), Path(tmp, "out.bpg")
            Image.fromarray(check_rgb8(image)).save(src)
            try:
                self._run(
                    ["bpgenc", "-q", str(int(setting)), "-f", self.chroma_digits(), "-o", str(dst), str(src)]
                )
            except CodecError as error:
                if min(image.shape[:2]) >= 64:
                    raise
                raise CodecError(
                    f"{error}; x265 (3.5 at least) encodes no picture smaller than one CTU, "
                    f"64 × 64 at bpgenc's preset, and this one is {image.shape[1]} × {image.shape[0]}"
                ) from None
            return with_bpg_length(dst.read_bytes())

    def decode(self, data):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "in.bpg"), Path(tmp, "out.png")
            src.write_bytes(data)
            self._run(["bpgdec", "-o", str(dst), str(src)])
            with Image.open(dst) as im:
                return np.asarray(im.convert("RGB"))
