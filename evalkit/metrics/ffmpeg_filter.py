"""Full-reference metrics that ffmpeg computes as a two-input filter (``libvmaf``, ``xpsnr``).

The program is the system ``ffmpeg`` on PATH when it has the filter, else the static build in the
``imageio-ffmpeg`` wheel (``imageio_ffmpeg.get_ffmpeg_exe``; ``$IMAGEIO_FFMPEG_EXE`` names
another). Debian 12's ffmpeg 5.1 has neither filter; imageio-ffmpeg 0.8.1's ffmpeg 9.0 has both,
libvmaf with its built-in models. The answer is cached per value of PATH and
``$IMAGEIO_FFMPEG_EXE``.

:func:`run_filter` hands ffmpeg planar 8-bit frames as raw video, the frames of its two inputs
(which image goes first is each filter's convention: libvmaf takes the reconstruction first,
xpsnr the original), and returns the text of the filter's log file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import to_rgb8
from .psnr import Y_WEIGHTS


def has_filter(program: str, name: str) -> bool:
    """Whether ``program -filters`` lists the filter ``name``."""
    try:
        listed = subprocess.run(
            [program, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return False
    return re.search(rf"^\s*\S+\s+{re.escape(name)}\s", listed, re.MULTILINE) is not None


def ffmpeg_with(name: str) -> str:
    """The path of the first of the system ffmpeg and imageio-ffmpeg's that has the filter ``name``;
    an :class:`InputError` saying what to install if neither has it."""
    found = _find(name, os.environ.get("PATH", ""), os.environ.get("IMAGEIO_FFMPEG_EXE"))
    if found is None:
        raise InputError(
            f"no ffmpeg here has the {name} filter (the system's lacks it and so does "
            "imageio-ffmpeg's); pip install imageio-ffmpeg==0.8.1, whose static ffmpeg "
            "has it, or set IMAGEIO_FFMPEG_EXE to an ffmpeg that does"
        )
    return found


def ffmpeg_build(name: str) -> str:
    """The version of the ffmpeg :func:`ffmpeg_with` finds (``n9.0.2-17-g2a571b6068-20260930``):
    part of a metric's cache key, so that another build computes its values afresh."""
    return _build(ffmpeg_with(name))


@cache
def _build(program: str) -> str:
    words = subprocess.run([program, "-version"], capture_output=True, text=True).stdout.split()
    return words[2] if len(words) > 2 else "unknown"


@cache
def _find(name: str, path_env: str, imageio_exe: str | None) -> str | None:
    # path_env and imageio_exe are what the answer depends on: the cache's key
    candidates = [shutil.which("ffmpeg", path=path_env)]
    try:
        import imageio_ffmpeg

        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    return next((p for p in candidates if p and has_filter(p, name)), None)


def run_filter(name: str, options: str, pix_fmt: str, first: np.ndarray, second: np.ndarray) -> str:
    """Run ffmpeg's two-input filter ``name`` (with ``options``, where ``{log}`` stands for the log
    file's path) on the frames ``first`` and ``second``, each (N, planes, H, W) uint8 in
    ``pix_fmt``'s plane order; the log file's text. A failure of ffmpeg is a plain error: the
    inputs were checked before."""
    if first.shape != second.shape or first.dtype != np.uint8 or second.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 of one shape; got {first.shape} {first.dtype} and "
            f"{second.shape} {second.dtype}"
        )
    height, width = first.shape[-2:]
    raw = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}"]
    with tempfile.TemporaryDirectory(prefix="evalkit-ffmpeg-") as folder:
        folder = Path(folder)
        paths = {}
        for role, frames in (("first", first), ("second", second)):
            paths[role] = folder / f"{role}.raw"
            paths[role].write_bytes(np.ascontiguousarray(frames).tobytes())
        log = folder / "log"
        command = [
            ffmpeg_with(name),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            *raw,
            "-i",
            str(paths["first"]),
            *raw,
            "-i",
            str(paths["second"]),
            "-lavfi",
            f"[0:v][1:v]{name}={options.format(log=log)}",
            "-f",
            "null",
            "-",
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not log.is_file():
            raise RuntimeError(
                f"ffmpeg's {name} filter failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
            )
        return log.read_text()


def luma8(images: torch.Tensor, what: str) -> np.ndarray:
    """(N, 3, H, W) 8-bit images in [0, 1] → their BT.601 luma as (N, H, W) uint8:
    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in 0–255 (PSNR-Y's luma,
    :data:`~evalkit.metrics.psnr.Y_WEIGHTS`), rounded to the nearest level (range 16–235)."""
    y = 16 + to_rgb8(images, what).astype(np.float64) @ np.array(Y_WEIGHTS)
    return y.round().astype(np.uint8)
