"""Which ``ffmpeg`` program the ffmpeg-backed codecs run: the system's, else the one pip installed.

The system ``ffmpeg`` on PATH comes first when it has the encoder asked for (Debian's has
libx265), unless a codec needs what only a recent encoder has (SVT-AV1's quarter-step CRF;
Debian 12 ships SVT-AV1 1.4) and asks for the bundled one first. Where there is none, or it
lacks the encoder, the static build inside the ``imageio-ffmpeg`` wheel is used
(``imageio_ffmpeg.get_ffmpeg_exe``; its 0.8 wheels are built with libx265, libaom, SVT-AV1 and
libjxl; ``$IMAGEIO_FFMPEG_EXE`` names another), so ``pip install evalkit`` alone gives every
classical anchor. The answer is cached per value of PATH and ``$IMAGEIO_FFMPEG_EXE``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from .base import Codec, CodecError


@dataclass(frozen=True)
class FFmpeg:
    path: str
    origin: str  # "system" or "imageio-ffmpeg"


def has_encoder(program: str, encoder: str) -> bool:
    """Whether ``program -encoders`` lists the video encoder ``encoder``."""
    try:
        listed = subprocess.run(
            [program, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return False
    return re.search(rf"^\s*V\S*\s+{re.escape(encoder)}\s", listed, re.MULTILINE) is not None


def bundled_ffmpeg() -> str | None:
    """imageio-ffmpeg's ffmpeg (``$IMAGEIO_FFMPEG_EXE`` if set, else the binary in its wheel), or None."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def find_ffmpeg(encoder: str, bundled_first: bool = False) -> FFmpeg | None:
    """The first of the system ffmpeg and the bundled one (that one first with ``bundled_first``)
    that has ``encoder``; None if neither."""
    return _find(encoder, bundled_first, os.environ.get("PATH", ""), os.environ.get("IMAGEIO_FFMPEG_EXE"))


@cache
def _find(encoder: str, bundled_first: bool, path_env: str, imageio_exe: str | None) -> FFmpeg | None:
    # path_env and imageio_exe are what the answer depends on: the cache's key
    candidates = [(shutil.which("ffmpeg", path=path_env), "system"), (bundled_ffmpeg(), "imageio-ffmpeg")]
    if bundled_first:
        candidates.reverse()
    return next((FFmpeg(p, origin) for p, origin in candidates if p and has_encoder(p, encoder)), None)


@cache
def describe(ffmpeg: FFmpeg) -> str:
    """``ffmpeg <version> (<origin>)``, for codecs' library versions."""
    out = subprocess.run([ffmpeg.path, "-version"], capture_output=True, text=True).stdout
    return f"ffmpeg {out.split()[2] if out else 'unknown'} ({ffmpeg.origin})"


@cache
def encoder_version(
    ffmpeg: FFmpeg, encoder: str, pattern: str, label: str, options: tuple[str, ...] = ()
) -> str:
    """``<label> <version>, ffmpeg <version> (<origin>)``, for codecs' library versions: the
    encoder's version as its own log prints it (``pattern``'s group), read while ``ffmpeg``
    encodes one frame of a flat 64×64 picture with it (``options``: what else the encoder needs
    to run or to print its version) and throws the result away."""
    done = subprocess.run(
        [ffmpeg.path, "-hide_banner", "-f", "lavfi", "-i", "color=s=64x64", "-frames:v", "1"]
        + ["-c:v", encoder, *options, "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    found = re.search(pattern, done.stderr)
    return f"{label} {found.group(1) if found else 'unknown'}, {describe(ffmpeg)}"


def run(
    found: FFmpeg | None,
    args: list[str],
    stdin: bytes,
    name: str,
    what: str,
    unavailable: str,
    chatter: tuple[str, ...] = (),
    output: Path | None = None,
) -> bytes:
    """ffmpeg's output for ``args`` with ``stdin`` piped in — its standard output, or the file
    ``output`` the args write to (for a muxer that seeks, such as AVIF's); a :class:`CodecError`
    naming codec ``name`` and the step (``what``) when no ffmpeg was ``found`` (``unavailable``
    says why), when it fails, prints an error, or writes nothing. Lines starting with ``chatter``
    are an encoder's own log, printed past ffmpeg's log level, and not errors."""
    if found is None:
        raise CodecError(f"{name}: {unavailable}")
    done = subprocess.run(
        [found.path, "-hide_banner", "-nostdin", "-loglevel", "error", *args],
        input=stdin,
        capture_output=True,
    )
    errors = [
        line
        for line in done.stderr.decode(errors="replace").splitlines()
        if line.strip() and not line.startswith(chatter)
    ]
    written = done.stdout if output is None else output.read_bytes() if output.is_file() else b""
    if done.returncode != 0 or errors or not written:
        raise CodecError(
            f"{name}: {what} failed: {errors[-1] if errors else f'ffmpeg exited with {done.returncode}'}"
        )
    return written


def full_range_input(pix_fmt: str, width: int, height: int) -> list[str]:
    """The input options of one raw full-range BT.601 YCbCr picture piped in (what
    :func:`.svtav1.yuv420_planes` writes), tagged so that the encoder signals its range and matrix."""
    picture = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}"]
    return [*picture, "-color_range", "pc", "-colorspace", "smpte170m", "-i", "-"]


def y4m_picture(y4m: bytes) -> tuple[int, int, bytes]:
    """(width, height, samples) of the one picture of a ``yuv4mpegpipe`` output; (0, 0, b"")
    when its header names no size."""
    header, _, frame = y4m.partition(b"\n")
    size = re.search(rb" W(\d+) H(\d+) ", header)
    return (int(size[1]), int(size[2]), frame.partition(b"\n")[2]) if size else (0, 0, b"")


class FFmpegCodec(Codec):
    """A codec family whose encoder ffmpeg runs (x265, VVenC, SVT-AV1): the ffmpeg that has it
    (:func:`find_ffmpeg`), what is missing where none has, and its runs (:func:`run`)."""

    encoder: ClassVar[str]  # ffmpeg's name of the encoder: libx265
    bundled_first: ClassVar[bool] = False  # imageio-ffmpeg's before the system's (see find_ffmpeg)
    missing: ClassVar[str]  # why the codec cannot run where no ffmpeg has the encoder, and what to do
    chatter: ClassVar[tuple[str, ...]] = ()  # the starts of the encoder's own log lines (see run)

    @classmethod
    def ffmpeg(cls) -> FFmpeg | None:
        return find_ffmpeg(cls.encoder, cls.bundled_first)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None if cls.ffmpeg() else cls.missing

    def run_ffmpeg(self, args: list[str], stdin: bytes, what: str, output: Path | None = None) -> bytes:
        """:func:`run` with this codec's ffmpeg, name and encoder chatter."""
        return run(self.ffmpeg(), args, stdin, self.name, what, self.missing, self.chatter, output)
