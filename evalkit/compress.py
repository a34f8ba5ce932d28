"""``evalkit compress``: every image × codec × target bpp, from real bitstreams.

Work is split into one job per (image, codec) — the targets of a job share their encodes — and
spread over processes; a job whose every encode and reconstruction is cached finishes in this
process first (starting the worker processes, each importing torch, costs seconds). Every
probe's size is cached by content hash (image pixels, codec configuration and library version,
setting) and every chosen bitstream is kept, so re-running re-encodes nothing and an interrupted
run resumes where it stopped. The manifest is rewritten after each finished job.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .codecs import get_codec
from .errors import InputError
from .codecs.ratematch import CacheMiss, Probe, RateSearch
from .datasets import ImageRef
from .images import ImageReadError, save_png
from .files import atomic_path, cache_dir, image_hash, text_hash, write_bytes, write_json

MANIFEST_COLUMNS = [
    "image", "reference", "codec", "target_bpp", "bpp", "bytes", "setting", "reconstruction",
    "bitstream", "encode_s", "decode_s", "encodes", "policy", "flag", "rel_error", "setting_name",
    "codec_version", "height", "width", "source", "image_sha"]


@dataclass(frozen=True)
class Job:
    image: str
    pixels: np.ndarray
    image_sha: str
    source: str
    codec: str
    targets: tuple[float, ...]
    policy: str
    rtol: float
    out_dir: Path
    cache: Path
    previous: dict = field(default_factory=dict)   # target → manifest row of an earlier run
    device: str = "auto"                           # for learned codecs
    weights_dir: str | None = None                 # for learned codecs


@dataclass
class JobResult:
    job: Job
    rows: list[dict]
    fresh_encodes: int = 0
    error: str | None = None


@dataclass
class CompressResult:
    manifest: pd.DataFrame
    errors: list[str]       # images skipped, (image, codec) jobs that failed
    warnings: list[str]     # conversions made on the way to RGB 8-bit
    fresh_encodes: int      # encodes this run made (0 when everything came from the cache)


def target_label(target: float) -> str:
    return f"{target:g}bpp"


def folder_name(codec: str) -> str:
    """A codec name as one folder name: ``variable-rate@runs/m.pth`` → ``variable-rate@runs_m.pth``."""
    return re.sub(r"[^\w.@+-]", "_", codec)


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def run_job(job: Job, cache_only: bool = False) -> JobResult:
    """Match every target of one (image, codec), write bitstreams and reconstructions. With
    ``cache_only``, raise :class:`CacheMiss` where an encode or a decode would be needed."""
    try:
        codec = get_codec(job.codec, job.device, job.weights_dir)
        codec_dir = job.cache / "encodes" / folder_name(job.codec) / text_hash(codec.key) / job.image_sha
        probes_file = codec_dir / "probes.json"
        known = {}
        if probes_file.is_file():
            known = {float(s): Probe(float(s), n, t)
                     for s, (n, t) in json.loads(probes_file.read_text()).items()}
        search = RateSearch(codec, job.pixels, known, cache_only=cache_only)
        search.on_probe = lambda _: write_json(
            probes_file, {repr(p.setting): [p.n_bytes, p.encode_s] for p in search.stored.values()})
        rows = [_match_one(job, codec, search, target, codec_dir) for target in job.targets]
        return JobResult(job, rows, search.fresh_encodes)
    except CacheMiss:
        raise
    except Exception as exc:  # one failing codec or image must not stop the others
        return JobResult(job, [], 0, f"{job.image} × {job.codec}: {type(exc).__name__}: {exc}")


def _match_one(job: Job, codec, search: RateSearch, target: float, codec_dir: Path) -> dict:
    m = search.match(target, job.policy, job.rtol)
    cached = codec_dir / f"{m.setting!r}.{codec.extension}"
    data = cached.read_bytes() if cached.is_file() else search.bitstream(m.setting)
    if len(data) != m.n_bytes:
        raise RuntimeError(f"{codec.name} is not deterministic: {len(data)} bytes now, "
                           f"{m.n_bytes} when probed at {codec.axis.name}={m.setting}")
    if not cached.is_file():
        write_bytes(cached, data)

    stem = f"{job.image}_{target_label(target)}"
    bitstream = job.out_dir / "bitstreams" / folder_name(job.codec) / f"{stem}.{codec.extension}"
    recon = job.out_dir / "reconstructions" / folder_name(job.codec) / f"{stem}.png"
    if not (bitstream.is_file() and bitstream.read_bytes() == data):
        write_bytes(bitstream, data)
    before = job.previous.get(target, {})
    reusable = (recon.is_file() and before.get("image_sha") == job.image_sha
                and before.get("codec_version") == codec.library_version()
                and before.get("setting") == m.setting and before.get("bytes") == m.n_bytes)
    if reusable:
        decode_s = float(before["decode_s"])
    elif search.cache_only:
        raise CacheMiss(f"{codec.name}: {recon} must be decoded again")
    else:
        start = time.perf_counter()
        decoded = codec.decode(bitstream.read_bytes())   # always through the bytes on disk
        decode_s = time.perf_counter() - start
        if decoded.shape != job.pixels.shape:
            raise RuntimeError(f"{codec.name} decoded {decoded.shape}, original is {job.pixels.shape}")
        save_png(decoded, recon)
    h, w = job.pixels.shape[:2]
    return {
        "image": job.image, "reference": _relative(job.out_dir / "references" / f"{job.image}.png",
                                                   job.out_dir),
        "codec": job.codec, "target_bpp": target, "bpp": m.bpp, "bytes": m.n_bytes,
        "setting": m.setting, "reconstruction": _relative(recon, job.out_dir),
        "bitstream": _relative(bitstream, job.out_dir), "encode_s": m.encode_s,
        "decode_s": decode_s, "encodes": m.encodes, "policy": m.policy, "flag": m.flag,
        "rel_error": m.rel_error, "setting_name": codec.axis.name,
        "codec_version": codec.library_version(), "height": h, "width": w,
        "source": job.source, "image_sha": job.image_sha}


def compress(images: list[ImageRef], codecs: list[str], targets: list[float], out_dir: str | Path,
             policy: str = "closest", rtol: float = 0.01, workers: int | None = None,
             progress: bool = True, device: str = "auto",
             weights_dir: str | None = None) -> CompressResult:
    """Reconstruct ``images`` with each codec at each target bpp; write ``out_dir/manifest.csv``.

    Unknown or unavailable codecs (for learned ones: checkpoints that cannot be found or
    fetched) and non-positive targets raise before any work starts; an unreadable image or a
    failing codec is reported in ``errors`` and the rest still runs. ``device`` (auto, cpu,
    cuda) and ``weights_dir`` concern learned codecs.
    """
    for t in targets:
        if not (t > 0 and math.isfinite(t)):
            raise InputError(f"target bpp must be positive, got {t}")
    for name in codecs:
        get_codec(name, device, weights_dir).prepare()
    out_dir = Path(out_dir).resolve()
    manifest_path = out_dir / "manifest.csv"
    previous = _previous_rows(manifest_path, policy)
    errors, notes, jobs = [], [], []
    for ref in images:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pixels = ref.load()
            notes.extend(str(w.message) for w in caught)
        except ImageReadError as exc:
            errors.append(f"{ref.name}: skipped: {exc}")
            continue
        reference = out_dir / "references" / f"{ref.name}.png"
        sha = image_hash(pixels)
        save_png(pixels, reference)
        for codec in codecs:
            jobs.append(Job(ref.name, pixels, sha, ref.source, codec, tuple(targets), policy, rtol,
                            out_dir, cache_dir(), {t: previous.get((ref.name, codec, t), {})
                                                   for t in targets}, device, weights_dir))
    rows, fresh = [], 0
    workers = max(1, min(workers or len(os.sched_getaffinity(0)), len(jobs) or 1))
    bar = tqdm(total=len(jobs), desc="compress", unit="job", disable=not progress)
    for result in _run_all(jobs, workers):
        bar.update()
        fresh += result.fresh_encodes
        if result.error:
            errors.append(result.error)
            bar.write(f"error: {result.error}")
        rows.extend(result.rows)
        _write_manifest(rows, manifest_path)
    bar.close()
    return CompressResult(_write_manifest(rows, manifest_path), errors, notes, fresh)


def _run_all(jobs: list[Job], workers: int):
    """Results of ``jobs``: the cached ones from this process, then the rest from ``workers``."""
    todo = []
    for job in jobs:
        try:
            yield run_job(job, cache_only=True)
        except CacheMiss:
            todo.append(job)
    jobs = todo
    if not jobs:
        return
    if workers == 1:
        yield from map(run_job, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _previous_rows(manifest_path: Path, policy: str) -> dict:
    if not manifest_path.is_file():
        return {}
    # round_trip: a setting read back equals the one written, so reusable points are recognised
    old = pd.read_csv(manifest_path, keep_default_na=False, float_precision="round_trip")
    if not set(MANIFEST_COLUMNS) <= set(old.columns):
        return {}
    old = old[old["policy"] == policy]
    return {(r["image"], r["codec"], float(r["target_bpp"])): r for r in old.to_dict("records")}


def _write_manifest(rows: list[dict], path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    frame = frame.sort_values(["image", "codec", "target_bpp"], kind="stable").reset_index(drop=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
