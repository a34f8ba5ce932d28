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

from .base import CodecError


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


def run(
    found: FFmpeg | None,
    args: list[str],
    stdin: bytes,
    name: str,
    what: str,
    unavailable: str,
    chatter: tuple[str, ...] = (),
) -> bytes:
    """ffmpeg's output for ``args`` with ``stdin`` piped in; a :class:`CodecError` naming codec
    ``name`` and the step (``what``) when no ffmpeg was ``found`` (``unavailable`` says why), when
    it fails, prints an error, or writes nothing. Lines starting with ``chatter`` are an encoder's
    own log, printed past ffmpeg's log level, and not errors."""
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
    if done.returncode != 0 or errors or not done.stdout:
        raise CodecError(
            f"{name}: {what} failed: {errors[-1] if errors else f'ffmpeg exited with {done.returncode}'}"
        )
    return done.stdout
