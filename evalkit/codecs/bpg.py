"""BPG (Bellard's HEVC-intra format) through the ``bpgenc`` / ``bpgdec`` programs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..formats import check_bpg
from .base import Codec, CodecError, HEVCChroma, check_rgb8, hevc_axis


class BPG(HEVCChroma, Codec):
    """BPG at quantiser QP 0–51 (``bpgenc -q``), x265 backend, 4:4:4 by default as in the
    variable-rate paper's BPG baseline. Needs libbpg's programs on PATH; where they are missing,
    ``hevc-bpg`` is x265 configured the same way, through ffmpeg."""

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
            self._run(
                ["bpgenc", "-q", str(int(setting)), "-f", self.chroma_digits(), "-o", str(dst), str(src)]
            )
            return dst.read_bytes()

    def decode(self, data):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "in.bpg"), Path(tmp, "out.png")
            src.write_bytes(data)
            self._run(["bpgdec", "-o", str(dst), str(src)])
            with Image.open(dst) as im:
                return np.asarray(im.convert("RGB"))
