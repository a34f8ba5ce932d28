"""``evalkit compress``: every image × codec × target bpp, from real bitstreams.

Work is split into one job per (image, codec) — the targets of a job share their encodes, so a
job is the unit whose result does not depend on where it runs. A job whose every encode and
reconstruction is cached finishes in this process first (starting worker processes, each
importing torch, costs seconds); the rest go to an executor (:mod:`evalkit.executors`): this
machine's processes, or a Dask cluster. A job names the reference PNG in the run folder rather
than carrying its pixels, so a worker needs only the package and the run folder. Every probe's
size is cached by content hash (image pixels, codec configuration and library version, setting)
in the cache of the process that encodes, and every chosen bitstream is kept, so re-running
re-encodes nothing and an interrupted run resumes where it stopped. The manifest is rewritten
after each finished job. ``shard`` takes every N-th job for job arrays (:mod:`evalkit.shards`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .codecs import get_codec
from .codecs.checkpoints import added_zoo_folders, zoo_with
from .codecs.ratematch import CacheMiss, Probe, RateSearch
from .datasets import ImageRef
from .errors import InputError
from .executors import Failure, LocalExecutor
from .files import (
    atomic_path,
    cache_dir,
    check_columns,
    image_hash,
    read_csv_table,
    text_hash,
    write_bytes,
    write_json,
)
from .images import ImageReadError, load_image, save_png
from .shards import Shard, plan_hash, write_record

#: The shard record of a sharded run, in its run folder.
SHARD_RECORD = "shard.json"


@dataclass(frozen=True)
class ManifestRow:
    """One (image, codec, target bpp) of a run: a row of ``manifest.csv``, columns in this order.
    Paths are relative to the run folder; bpp, bytes, setting, encodes, flag and rel_error are
    the rate search's (:class:`~evalkit.codecs.ratematch.Match`)."""

    image: str
    reference: str
    codec: str
    target_bpp: float
    bpp: float
    bytes: int
    setting: float
    reconstruction: str
    bitstream: str
    encode_s: float
    decode_s: float
    encodes: int
    policy: str
    flag: str
    rel_error: float
    setting_name: str
    codec_version: str
    height: int
    width: int
    source: str
    image_sha: str


MANIFEST_COLUMNS = [f.name for f in fields(ManifestRow)]


@dataclass(frozen=True)
class Job:
    image: str
    reference: Path  # the original as a PNG in the run folder (RGB, 8 bit)
    image_sha: str  # content hash of its pixels, checked when the job loads it
    source: str
    codec: str
    targets: tuple[float, ...]
    policy: str
    rtol: float
    out_dir: Path
    previous: dict = field(default_factory=dict)  # target → manifest row of an earlier run
    device: str = "auto"  # for learned codecs
    weights_dir: str | None = None  # for learned codecs
    zoo: tuple[str, ...] = ()  # zoo folders added where it was planned (zoo_with)


@dataclass
class JobResult:
    job: Job
    rows: list[dict]
    fresh_encodes: int = 0


@dataclass
class CompressResult:
    manifest: pd.DataFrame
    errors: list[str]  # images skipped, (image, codec) jobs that failed
    warnings: list[str]  # conversions made on the way to RGB 8-bit
    fresh_encodes: int  # encodes this run made (0 when everything came from the cache)


def target_label(target: float) -> str:
    return f"{target:g}bpp"


def folder_name(codec: str) -> str:
    """A codec name as one folder name: ``variable-rate@runs/m.pth`` → ``variable-rate@runs_m.pth``."""
    return re.sub(r"[^\w.@+-]", "_", codec)


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


@lru_cache(maxsize=2)
def _reference_pixels(path: Path, sha: str) -> np.ndarray:
    """The pixels of a job's reference, kept for the next job of the same image in this process."""
    pixels = load_image(path)
    if image_hash(pixels) != sha:
        raise InputError(
            f"{path} changed while the run was going on (its pixels no longer hash to "
            f"{sha}): was another run writing to this folder? Run compress again"
        )
    return pixels


def _digest_file(cached: Path) -> Path:
    return cached.with_name(cached.name + ".sha256")


def _cached_bitstream(cached: Path, n_bytes: int) -> bytes | None:
    """The encode cache's bitstream at one setting, or None when it is missing, cut short or no
    longer hashes to the SHA-256 stored beside it when it was written. The length alone proves
    nothing: a flipped bit in JPEG, JPEG 2000, WebP or HEVC data keeps the size and can decode to
    another valid image, which would then be measured."""
    digest = _digest_file(cached)
    if not (cached.is_file() and digest.is_file()):
        return None
    data = cached.read_bytes()
    if len(data) != n_bytes or hashlib.sha256(data).hexdigest() != digest.read_text().strip():
        return None
    return data


def run_job(job: Job, cache_only: bool = False) -> JobResult:
    """Match every target of one (image, codec), write bitstreams and reconstructions. With
    ``cache_only``, raise :class:`CacheMiss` where an encode or a decode would be needed."""
    pixels = _reference_pixels(job.reference, job.image_sha)
    added = [f for f in job.zoo if f not in added_zoo_folders()]  # in a spawned worker: all
    with zoo_with(*added):
        codec = get_codec(job.codec, job.device, job.weights_dir)
    codec_dir = cache_dir() / "encodes" / folder_name(job.codec) / text_hash(codec.key) / job.image_sha
    probes_file = codec_dir / "probes.json"
    known = {}
    if probes_file.is_file():
        known = {float(s): Probe(float(s), n, t) for s, (n, t) in json.loads(probes_file.read_text()).items()}
    search = RateSearch(codec, pixels, known, cache_only=cache_only)
    search.on_probe = lambda _: write_json(
        probes_file, {repr(p.setting): [p.n_bytes, p.encode_s] for p in search.stored.values()}
    )
    rows = [_match_one(job, codec, search, pixels, target, codec_dir) for target in job.targets]
    return JobResult(job, rows, search.fresh_encodes)


def _match_one(
    job: Job, codec, search: RateSearch, pixels: np.ndarray, target: float, codec_dir: Path
) -> dict:
    m = search.match(target, job.policy, job.rtol)
    cached = codec_dir / f"{m.setting!r}.{codec.extension}"
    data = _cached_bitstream(cached, m.n_bytes)
    if data is None:  # not cached, or cut short or altered there: encode it again
        data = search.bitstream(m.setting)
    if len(data) != m.n_bytes:
        raise RuntimeError(
            f"{codec.name} is not deterministic: {len(data)} bytes now, "
            f"{m.n_bytes} when probed at {codec.axis.name}={m.setting}"
        )
    if _cached_bitstream(cached, m.n_bytes) != data:
        write_bytes(cached, data)  # the bytes first: a digest never vouches for bytes not yet there
        write_bytes(_digest_file(cached), hashlib.sha256(data).hexdigest().encode())

    stem = f"{job.image}_{target_label(target)}"
    bitstream = job.out_dir / "bitstreams" / folder_name(job.codec) / f"{stem}.{codec.extension}"
    recon = job.out_dir / "reconstructions" / folder_name(job.codec) / f"{stem}.png"
    if not (bitstream.is_file() and bitstream.read_bytes() == data):
        write_bytes(bitstream, data)
    before = job.previous.get(target, {})
    reusable = (
        recon.is_file()
        and before.get("image_sha") == job.image_sha
        and before.get("codec_version") == codec.library_version()
        and before.get("setting") == m.setting
        and before.get("bytes") == m.n_bytes
    )
    if reusable:
        decode_s = float(before["decode_s"])
    elif search.cache_only:
        raise CacheMiss(f"{codec.name}: {recon} must be decoded again")
    else:
        start = time.perf_counter()
        decoded = codec.decode(bitstream.read_bytes())  # always through the bytes on disk
        decode_s = time.perf_counter() - start
        if decoded.shape != pixels.shape:
            raise RuntimeError(f"{codec.name} decoded {decoded.shape}, original is {pixels.shape}")
        save_png(decoded, recon)
    h, w = pixels.shape[:2]
    return asdict(
        ManifestRow(
            image=job.image,
            reference=_relative(job.out_dir / "references" / f"{job.image}.png", job.out_dir),
            codec=job.codec,
            target_bpp=target,
            bpp=m.bpp,
            bytes=m.n_bytes,
            setting=m.setting,
            reconstruction=_relative(recon, job.out_dir),
            bitstream=_relative(bitstream, job.out_dir),
            encode_s=m.encode_s,
            decode_s=decode_s,
            encodes=m.encodes,
            policy=m.policy,
            flag=m.flag,
            rel_error=m.rel_error,
            setting_name=codec.axis.name,
            codec_version=codec.library_version(),
            height=h,
            width=w,
            source=job.source,
            image_sha=job.image_sha,
        )
    )


def compress(
    images: list[ImageRef],
    codecs: list[str],
    targets: list[float],
    out_dir: str | Path,
    policy: str = "closest",
    rtol: float = 0.01,
    workers: int | None = None,
    progress: bool = True,
    device: str = "auto",
    weights_dir: str | None = None,
    executor=None,
    shard: Shard | None = None,
) -> CompressResult:
    """Reconstruct ``images`` with each codec at each target bpp; write ``out_dir/manifest.csv``.

    Unknown or unavailable codecs (for learned ones: checkpoints that cannot be found or
    fetched) and non-positive targets raise before any work starts; an unreadable image or a
    failing job (on any worker: a codec missing there, say) is reported in ``errors`` and the
    rest still runs. ``device`` (auto, cpu, cuda) and ``weights_dir`` concern learned codecs.
    ``executor`` runs the jobs (default: :class:`~evalkit.executors.LocalExecutor` with
    ``workers`` processes); ``shard`` keeps every N-th (image, codec) job and writes the shard
    record ``shard.json`` that ``evalkit merge`` reads.
    """
    for t in targets:
        if not (t > 0 and math.isfinite(t)):
            raise InputError(f"target bpp must be positive, got {t}")
    for name in codecs:
        get_codec(name, device, weights_dir).prepare()
    out_dir = Path(out_dir).resolve()
    manifest_path = out_dir / "manifest.csv"
    previous = _previous_rows(manifest_path, policy)
    planned = [(ref, codec) for ref in images for codec in codecs]
    if shard is not None:
        plan = plan_hash([[[r.name, r.source, c] for r, c in planned], targets, policy, rtol])
        planned = shard.take(planned)
        write_record(
            out_dir / SHARD_RECORD,
            "compress",
            shard,
            plan,
            [[r.name, c, t] for r, c in planned for t in targets],
        )
    else:  # the whole plan: this folder is no longer a shard
        (out_dir / SHARD_RECORD).unlink(missing_ok=True)
    errors, notes, jobs = [], [], []
    for ref in dict.fromkeys(ref for ref, _ in planned):
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
        for codec in (c for r, c in planned if r is ref):
            jobs.append(
                Job(
                    ref.name,
                    reference,
                    sha,
                    ref.source,
                    codec,
                    tuple(targets),
                    policy,
                    rtol,
                    out_dir,
                    {t: previous.get((ref.name, codec, t), {}) for t in targets},
                    device,
                    weights_dir,
                    added_zoo_folders(),
                )
            )
    executor = executor or LocalExecutor(workers)
    rows, fresh = [], 0
    bar = tqdm(total=len(jobs), desc="compress", unit="job", disable=not progress)
    for job, outcome in _cached_first(jobs, executor):
        bar.update()
        if isinstance(outcome, Failure):
            errors.append(f"{job.image} × {job.codec}: {outcome}")
            bar.write(f"error: {errors[-1]}")
            continue
        fresh += outcome.fresh_encodes
        rows.extend(outcome.rows)
        write_manifest(rows, manifest_path)
    bar.close()
    return CompressResult(write_manifest(rows, manifest_path), errors, notes, fresh)


def _cached_first(jobs: list[Job], executor):
    """(job, outcome) for every job: those answered from the cache in this process first, then
    the rest from ``executor``. A job that cannot run from the cache — an encode or decode
    needed (:class:`CacheMiss`), or its input refused here (:class:`InputError`: an unreadable
    reference, a codec missing here) — goes to the executor, which runs it and reports its
    failure; any other exception is a bug and propagates with its traceback."""
    todo = []
    for job in jobs:
        try:
            yield job, run_job(job, cache_only=True)
        except (CacheMiss, InputError):
            todo.append(job)
    for i, outcome in executor.run(run_job, todo):
        yield todo[i], outcome


#: Manifest columns that hold numbers; every other column but ``flag`` holds text on every row.
NUMBER_COLUMNS = [
    "target_bpp",
    "bpp",
    "bytes",
    "setting",
    "encode_s",
    "decode_s",
    "encodes",
    "rel_error",
    "height",
    "width",
]


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A manifest written by :func:`write_manifest`, checked: every column there, every cell
    filled (``flag`` may be empty) and every number a number, else an
    :class:`~evalkit.errors.InputError` naming the file and the line (a file cut mid-row, say).
    Numbers are read exactly as written (``round_trip``)."""
    table = read_csv_table(path, "manifest", written_by_evalkit=True)
    check_columns(
        table,
        path,
        "manifest",
        numbers=NUMBER_COLUMNS,
        text=[c for c in MANIFEST_COLUMNS if c not in NUMBER_COLUMNS and c != "flag"],
    )
    return table


def _previous_rows(manifest_path: Path, policy: str) -> dict:
    if not manifest_path.is_file():
        return {}
    # round_trip: a setting read back equals the one written, so reusable points are recognised
    old = read_csv_table(manifest_path, "manifest")
    if not set(MANIFEST_COLUMNS) <= set(old.columns):
        return {}
    old = old[old["policy"] == policy]
    return {(r["image"], r["codec"], float(r["target_bpp"])): r for r in old.to_dict("records")}


def write_manifest(rows: list[dict], path: Path) -> pd.DataFrame:
    """The manifest of ``rows``, sorted by image, codec and target, written atomically."""
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    frame = frame.sort_values(["image", "codec", "target_bpp"], kind="stable").reset_index(drop=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
