"""The batched metric engine: a table of (reference, reconstruction) pairs in, metrics out.

Fast by design: each image file is decoded once; each reference's MS-SSIM pyramid, LPIPS
features and Inception features are computed once and reused for all its reconstructions,
which are scored in batches; values and features are cached by content hash, so a re-run only
computes what changed; the networks run on CUDA when present. FID and KID are set-level: one row
per (codec, target_bpp) group, comparing the group's reconstructions with their references
(:func:`set_metrics`, also what ``evalkit merge`` computes from the features of shards).

The work unit is one reference with what is still missing for it (:class:`Unit`: the values of
its reconstructions not in the cache, the features not in the cache). Units run in this process,
or on an executor (:mod:`evalkit.executors`, e.g. a Dask cluster) whose workers build the same
engine from :class:`EngineOptions` once per process, with no cache of their own; what they
return goes into this process's cache as it arrives, so an interrupted run redoes nothing that
had come back.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..executors import Failure, LocalExecutor
from ..files import check_columns, read_csv_table
from ..images import load_image
from ..scoped import torch_settings
from .base import PairMetric, to_tensor
from .cache import MetricCache, file_hash
from .features import MODES, Features, sample_count_column
from .fid import load_inception, patches
from .registry import METRICS, SET_METRICS, metric, pair_metric

GROUP_COLUMNS = ("codec", "target_bpp")
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class MetricsResult:
    pairs: pd.DataFrame  # the input rows plus one column per pair metric
    sets: pd.DataFrame | None  # FID / KID per group, with sample counts (None if not asked)
    features: Features | None = None  # the Inception features behind ``sets``


@dataclass(frozen=True)
class EngineOptions:
    """What a worker needs to build the same engine (:meth:`MetricEngine.from_options`)."""

    metrics: tuple[str, ...]
    device: str | None
    weights_dir: str | None
    precision: str
    batch_size: int | None
    patch_size: int | None


@dataclass(frozen=True)
class Unit:
    """One reference and what is still to compute for it: the reconstructions each pair metric
    lacks, and the images (the reference among them) whose features each mode lacks."""

    options: EngineOptions
    reference: str
    pairs: dict[str, tuple[str, ...]]  # metric → reconstruction paths
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)  # mode → image paths
    sha: dict[str, str] = field(default_factory=dict)  # path → content hash


@dataclass
class UnitResult:
    values: dict[str, dict[str, float]]  # metric → reconstruction hash → value
    features: dict[tuple[str, str], np.ndarray]  # (mode, hash) → features


#: One engine per worker process and options: its networks are loaded once.
_WORKER_ENGINES: dict[EngineOptions, MetricEngine] = {}


def compute_unit(unit: Unit) -> UnitResult:
    """A unit on a worker, with the engine its options describe (built once per process)."""
    if unit.options not in _WORKER_ENGINES:
        _WORKER_ENGINES[unit.options] = MetricEngine.from_options(unit.options, cache=False)
    return _WORKER_ENGINES[unit.options].compute(unit)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table (by extension). CSV numbers are parsed exactly as written
    (``float_precision="round_trip"``; pandas' fast parser can be off in the last bit)."""
    path = Path(path)
    if path.suffix != ".parquet":
        return read_csv_table(path)
    if not path.is_file():
        raise InputError(f"{path}: no such table")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable Parquet table ({exc})") from None


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A manifest or any CSV/Parquet with ``reference`` and ``reconstruction`` columns, a path in
    each of them on every row."""
    path = Path(path)
    table = read_table(path)
    check_columns(table, path, "pairs table", text=["reference", "reconstruction"])
    return table


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False) if path.suffix == ".parquet" else table.to_csv(path, index=False)


class MetricEngine:
    """Computes the chosen metrics (names of :data:`~evalkit.metrics.registry.METRICS`); networks
    are loaded once, when first needed. FID/KID are computed on whole images and, unless ``patch_size`` is None, on ``patch_size``
    patches (grid plus half-shifted grid) as well, with the sample count of each.

    On a run folder: ``engine.evaluate(read_pairs("runs/kodak/manifest.csv"), root="runs/kodak")``.
    Here one JPEG reconstruction of a bundled photo, written beside its reference:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from evalkit.codecs import get_codec
    >>> from evalkit.datasets import resolve_images
    >>> from evalkit.images import save_png
    >>> image = resolve_images("samples")[0].load()[:256, :256]
    >>> jpeg = get_codec("jpeg")
    >>> folder = tempfile.TemporaryDirectory()
    >>> save_png(image, Path(folder.name, "reference.png"))
    >>> save_png(jpeg.decode(jpeg.encode(image, 50.0)), Path(folder.name, "jpeg.png"))
    >>> pairs = pd.DataFrame({"reference": ["reference.png"], "reconstruction": ["jpeg.png"]})
    >>> engine = MetricEngine(["psnr", "ms-ssim"], device="cpu", cache=False)
    >>> result = engine.evaluate(pairs, root=folder.name, progress=False)
    >>> list(result.pairs.columns)
    ['reference', 'reconstruction', 'psnr', 'ms_ssim']
    >>> 30 < result.pairs.loc[0, "psnr"] < 35, 0.95 < result.pairs.loc[0, "ms_ssim"] < 1
    (True, True)
    >>> folder.cleanup()
    """

    def __init__(
        self,
        metrics: list[str],
        device: str | None = None,
        weights_dir=None,
        precision: str = "fp32",
        batch_size: int | None = None,
        cache: bool = True,
        patch_size: int | None = 256,
    ):
        if not metrics:
            raise InputError(f"no metrics asked for; choose from {', '.join(METRICS)}")
        self.metrics = [metric(name).name for name in dict.fromkeys(metrics)]
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        self.options = EngineOptions(
            tuple(self.metrics),
            device,
            None if weights_dir is None else str(weights_dir),
            precision,
            batch_size,
            patch_size,
        )
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # Batches pay off on a GPU; on a CPU one image at a time is as fast or faster (it stays
        # in cache), so that is the default there.
        self.batch_size = batch_size or (8 if self.device.type == "cuda" else 1)
        self.weights_dir, self.precision = weights_dir, precision
        self.patch_size = patch_size
        self.cache = MetricCache(enabled=cache)
        self._pair: dict[str, PairMetric] = {}
        self._inception = None

    @classmethod
    def from_options(cls, options: EngineOptions, cache: bool = True) -> MetricEngine:
        return cls(
            list(options.metrics), **{k: v for k, v in asdict(options).items() if k != "metrics"}, cache=cache
        )

    # ----------------------------------------------------------------- networks
    def _exact(self):
        """While the engine computes, fp32 means fp32: PyTorch lets cuDNN convolutions use TF32
        (a 10-bit mantissa, relative rounding ~5e-4) on Ampere and later by default, far coarser
        than the registry's tolerances ("TensorFloat-32 (TF32) on Ampere (and later) devices",
        PyTorch's CUDA semantics notes). Scoped: the caller's flags are restored after."""
        exact = self.device.type == "cuda" and self.precision == "fp32"
        return torch_settings(tf32=False) if exact else nullcontext()

    def _autocast(self, network: bool = True):
        dtype = PRECISIONS[self.precision]
        return (
            nullcontext() if dtype is None or not network else torch.autocast(self.device.type, dtype=dtype)
        )

    def pair_metric(self, name: str) -> PairMetric:
        if name not in self._pair:
            self._pair[name] = pair_metric(name, self.weights_dir, self.device)
        return self._pair[name]

    def version(self, name: str) -> str:
        """Cache key of a metric: its definition, weights and (for networks) precision."""
        m = self.pair_metric(name)
        return f"{m.version}-{self.precision}" if m.uses_network else m.version

    def _feature_key(self, mode: str) -> str:
        return f"inception-pool3-{mode}{self.patch_size if mode == 'patch' else ''}-{self.precision}"

    def inception_features(self, hashes: list[str], load, mode: str) -> list[np.ndarray]:
        """pool3 features of whole images (``mode="image"``: 1×2048 each) or of their patches
        (``mode="patch"``: P×2048 each), from the cache, or computed with ``load(i)`` giving the
        i-th image, same-sized inputs batched together."""
        key = self._feature_key(mode)
        out = [self.cache.features(key, h) for h in hashes]
        todo = [i for i, f in enumerate(out) if f is None]
        for i, f in zip(todo, self._compute_features([load(i) for i in todo], mode)):
            out[i] = f
            self.cache.put_features(key, hashes[i], f)
        return out

    def _compute_features(self, images: list[np.ndarray], mode: str) -> list[np.ndarray]:
        return self.features([to_tensor(x) for x in images], mode)

    @torch.inference_mode()
    def features(self, images: list[torch.Tensor], mode: str = "image") -> list[np.ndarray]:
        """pool3 features of images given as (1, 3, H, W) tensors in [0, 1], uncached: 1×2048
        per image (``mode="image"``) or P×2048 of its patches (``"patch"``)."""
        with self._exact():
            return self._features_of(images, mode)

    def _load_inception(self) -> None:
        if self._inception is None:
            self._inception = load_inception(self.weights_dir, self.device)

    def _features_of(self, inputs: list[torch.Tensor], mode: str) -> list[np.ndarray]:
        if inputs:
            self._load_inception()
        inputs = [patches(x[0], self.patch_size) if mode == "patch" else x for x in inputs]
        out: list[np.ndarray | None] = [None] * len(inputs)
        for shape in dict.fromkeys(x.shape[1:] for x in inputs):
            group = [i for i, x in enumerate(inputs) if x.shape[1:] == shape]
            stacked = torch.cat([inputs[i] for i in group])
            chunks = []
            for start in range(0, len(stacked), self.batch_size):
                with self._autocast():
                    f = self._inception(stacked[start : start + self.batch_size].to(self.device))[0]
                chunks.append(f.float().flatten(1).cpu().numpy())
            features = np.concatenate(chunks) if chunks else np.zeros((0, 2048), np.float32)
            for i, part in zip(group, np.split(features, np.cumsum([len(inputs[i]) for i in group])[:-1])):
                out[i] = part
        return out

    def _feature_modes(self) -> tuple[str, ...]:
        """Whole images always; patches too unless ``patch_size`` is None (FID on images only)."""
        return MODES if self.patch_size else MODES[:1]

    # ------------------------------------------------------------------- engine
    def evaluate(
        self,
        table: pd.DataFrame,
        root: str | Path = ".",
        progress: bool = True,
        executor=None,
        sets: bool = True,
    ) -> MetricsResult:
        """Add a column per pair metric to ``table`` (paths relative to ``root`` or absolute)
        and, if FID/KID were asked for, compute them per (codec, target_bpp) group (unless
        ``sets`` is false: a shard's part, whose FID comes from the merged features).

        ``executor`` runs the per-reference units (default, or a one-process
        :class:`~evalkit.executors.LocalExecutor`: this process, with this engine's networks;
        otherwise each worker process builds its own engine once). In this process an error
        is raised where it happens; a unit that fails on a worker does not stop the others, and
        after the last the failures are raised together — an :class:`InputError` when each
        was one (a missing file or weights on that worker) — and a re-run computes only what
        they lacked.
        """
        root = Path(root)
        refs = [str(root / p) for p in table["reference"]]
        recs = [str(root / p) for p in table["reconstruction"]]
        for p in dict.fromkeys(refs + recs):
            if not Path(p).is_file():
                raise InputError(f"{p}: image listed in the table does not exist")
        sha = {p: file_hash(p) for p in dict.fromkeys(refs + recs)}
        pair_metrics = [m for m in self.metrics if METRICS[m].level == "pair"]
        want_sets = any(METRICS[m].level == "set" for m in self.metrics)
        values = {m: {} for m in pair_metrics}  # metric → (ref sha, rec sha) → value
        features = {}  # (mode, sha) → features
        by_ref: dict[str, list[str]] = {}
        for ref, rec in zip(refs, recs):
            by_ref.setdefault(ref, [])
            if rec not in by_ref[ref]:
                by_ref[ref].append(rec)
        units = [
            u
            for u in (
                self._unit(ref, ref_recs, sha, pair_metrics, values, features, want_sets)
                for ref, ref_recs in by_ref.items()
            )
            if u is not None
        ]
        here = executor is None or (isinstance(executor, LocalExecutor) and executor.workers == 1)
        outcomes = self._here(units) if here else executor.run(compute_unit, units)
        failures = []
        for i, outcome in tqdm(
            outcomes, total=len(units), desc="metrics", unit="reference", disable=not progress or not units
        ):
            if isinstance(outcome, Failure):
                failures.append((units[i].reference, outcome))
                continue
            ref_sha = sha[units[i].reference]
            for m, fresh in outcome.values.items():
                self.cache.put_values(self.version(m), ref_sha, fresh)
                values[m].update({(ref_sha, k): v for k, v in fresh.items()})
            for (mode, h), f in outcome.features.items():
                self.cache.put_features(self._feature_key(mode), h, f)
                features[(mode, h)] = f
        if failures:
            _raise(failures, len(units))
        out = table.copy()
        for m in pair_metrics:
            out[METRICS[m].column] = [values[m][(sha[r], sha[c])] for r, c in zip(refs, recs)]
        if not want_sets:
            return MetricsResult(out, None)
        found = Features(
            {p: sha[r] for p, r in zip(table["reference"], refs)}
            | {p: sha[c] for p, c in zip(table["reconstruction"], recs)},
            features,
            tuple(m for m in self.metrics if METRICS[m].level == "set"),
        )
        return MetricsResult(out, set_metrics(table, found) if sets else None, found)

    def _unit(self, ref, recs, sha, pair_metrics, values, features, want_sets) -> Unit | None:
        """What ``ref`` still needs, after the cache; None when nothing. Features found in the
        cache go straight into ``features``, and features asked of an earlier unit are not
        asked again."""
        todo = {}
        for m in pair_metrics:
            stored = self.cache.values(self.version(m), sha[ref])
            for rec in recs:
                if sha[rec] in stored:
                    values[m][(sha[ref], sha[rec])] = stored[sha[rec]]
            missing = tuple(rec for rec in recs if sha[rec] not in stored)
            if missing:
                todo[m] = missing
        wanted = {}
        for mode in self._feature_modes() if want_sets else ():
            paths = []
            for p in dict.fromkeys([ref, *recs]):
                if (mode, sha[p]) in features:
                    continue
                cached = self.cache.features(self._feature_key(mode), sha[p])
                features[(mode, sha[p])] = cached  # None: asked of this unit
                if cached is None:
                    paths.append(p)
            if paths:
                wanted[mode] = tuple(paths)
        if not todo and not wanted:
            return None
        involved = {ref, *recs}
        return Unit(self.options, ref, todo, wanted, {p: sha[p] for p in involved})

    def _here(self, units: list[Unit]) -> Iterator[tuple[int, UnitResult]]:
        """``(index, result)`` of each unit computed in this process, in order. On a CPU, as many
        units at a time as torch has threads (``torch.get_num_threads()``: every core unless the
        caller chose fewer), each on one core: a unit's work is a few images, much of it
        element-wise, which ops split across cores pay for at every OpenMP barrier (and spin at
        when other processes hold the cores), while whole units side by side keep each core on
        its own. torch's thread count is 1 meanwhile and restored after; the networks are loaded
        before the threads start. An error stops the units not yet begun and is raised here."""
        workers = min(torch.get_num_threads(), len(units)) if self.device.type == "cpu" else 1
        if workers < 2:
            yield from ((i, self.compute(u)) for i, u in enumerate(units))
            return
        for name in dict.fromkeys(m for u in units for m in u.pairs):
            self.pair_metric(name).load()
        if any(u.features for u in units):
            self._load_inception()
        with torch_settings(threads=1):
            pool = ThreadPoolExecutor(workers, thread_name_prefix="evalkit-metrics")
            try:
                yield from enumerate(pool.map(self.compute, units))
            finally:
                pool.shutdown(cancel_futures=True)

    def compute(self, unit: Unit) -> UnitResult:
        """Everything a unit asks for, without the cache: each image decoded once, the
        reference prepared once per metric and its reconstructions scored in batches."""
        decoded: dict[str, np.ndarray] = {}

        def image(path):
            if path not in decoded:
                decoded[path] = load_image(path)
            return decoded[path]

        ref, values = unit.reference, {}
        for m, todo in unit.pairs.items():
            reference = image(ref)
            for rec in todo:
                if image(rec).shape != reference.shape:
                    raise InputError(
                        f"{rec} is {image(rec).shape[1]}×{image(rec).shape[0]} but its "
                        f"reference {ref} is {reference.shape[1]}×{reference.shape[0]}"
                    )
            computed = self._pair_metric(m, reference, [image(r) for r in todo])
            bad = [r for r, v in zip(todo, computed) if math.isnan(v)]
            if bad:
                raise ValueError(f"{m} is NaN for {bad[0]} against {ref}")
            values[m] = {unit.sha[r]: float(v) for r, v in zip(todo, computed)}
        features = {}
        for mode, paths in unit.features.items():
            for p, f in zip(paths, self._compute_features([image(p) for p in paths], mode)):
                features[(mode, unit.sha[p])] = f
        return UnitResult(values, features)

    @torch.inference_mode()
    def _pair_metric(
        self, name: str, reference: np.ndarray, reconstructions: list[np.ndarray]
    ) -> list[float]:
        """One reference against its reconstructions: the reference prepared once, the
        reconstructions scored in batches."""
        metric = self.pair_metric(name)
        out = []
        with self._exact(), self._autocast(metric.uses_network):
            prepared = metric.prepare(to_tensor(reference, metric.dtype).to(self.device))
            for start in range(0, len(reconstructions), self.batch_size):
                batch = to_tensor(np.stack(reconstructions[start : start + self.batch_size]), metric.dtype)
                out.extend(metric.score(prepared, batch.to(self.device)).double().tolist())
        return out


def _raise(failures: list[tuple[str, Failure]], total: int):
    lines = "\n".join(f"  {ref}: {f}" for ref, f in failures)
    message = (
        f"{len(failures)} of {total} references could not be measured (the others are "
        f"cached; a re-run computes only these):\n{lines}"
    )
    if all(f.input_error for _, f in failures):
        raise InputError(message)
    raise RuntimeError(f"{message}\n\nfirst traceback:\n{failures[0][1].traceback}")


def set_metrics(table: pd.DataFrame, features: Features) -> pd.DataFrame:
    """The set metrics ``features`` were asked for (each entry's ``compute``, in the registry's
    order) per (codec, target_bpp) group of ``table``, on whole images (the entry's first column)
    and on patches when there are patch features (its second), each with its sample count:
    the group's distinct reconstructions (by content) against their distinct references.
    ``features`` maps the table's paths to content hashes and those to features."""
    measured = [METRICS[m] for m in SET_METRICS if m in features.metrics]
    groups = [c for c in GROUP_COLUMNS if c in table.columns]
    keys = table[groups].itertuples(index=False, name=None) if groups else [("all",)] * len(table)
    members: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    refs = [features.sha[p] for p in table["reference"]]
    recs = [features.sha[p] for p in table["reconstruction"]]
    rows = []
    for key, idx in members.items():
        ref_set = list(dict.fromkeys(refs[i] for i in idx))
        rec_set = list(dict.fromkeys(recs[i] for i in idx))
        row = dict(zip(groups or ["group"], key))
        for mode in features.modes:
            a = np.concatenate([features.arrays[(mode, h)] for h in ref_set])
            b = np.concatenate([features.arrays[(mode, h)] for h in rec_set])
            row[sample_count_column(mode)] = len(b)
            for m in measured:
                row[m.columns[MODES.index(mode)]] = m.compute(a, b) if min(len(a), len(b)) >= 2 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
