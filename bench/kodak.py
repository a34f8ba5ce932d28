"""What the Kodak benchmarks share: where the 24 images are, how many to use, and a pool of
worker processes over them (spawned, so that each worker starts clean of the parent's threads)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

from evalkit.datasets import ImageRef, resolve_images

T = TypeVar("T")
R = TypeVar("R")


def add_kodak_options(parser: argparse.ArgumentParser, images: int = 24) -> None:
    """``--kodak-dir`` ($EVALKIT_KODAK_DIR, else ../shared's copy through $EVALKIT_SHARED_DIR,
    else the cache), ``--images N`` (the first N) and ``--workers`` (default: every core given)."""
    shared = os.environ.get("EVALKIT_SHARED_DIR")
    parser.add_argument(
        "--kodak-dir",
        default=os.environ.get("EVALKIT_KODAK_DIR") or (Path(shared, "data", "kodak") if shared else None),
    )
    parser.add_argument("--images", type=int, default=images, help=f"first N Kodak images (default {images})")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))


def kodak_images(args: argparse.Namespace) -> list[ImageRef]:
    """The first ``--images`` Kodak images of ``--kodak-dir``."""
    return resolve_images("kodak", args.kodak_dir)[: args.images]


def spawned_map(fn: Callable[[T], R], jobs: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` of each job, in order, on ``workers`` spawned processes, handed out one job at a
    time (long and short jobs balance across the workers)."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield from pool.map(fn, jobs, chunksize=1)
