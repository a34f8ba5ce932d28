"""The batched metric engine: a table of (reference, reconstruction) pairs in, metrics out.

Fast by design: each image file is decoded once; each reference's MS-SSIM pyramid, LPIPS
features and Inception features are computed once and reused for all its reconstructions,
which are scored in batches; values and features are cached by content hash, so a re-run only
computes what changed; the networks run on CUDA when present. FID and KID are set-level: one row
per (codec, target_bpp) group, comparing the group's reconstructions with their references.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..images import load_image
from .base import PairMetric, to_tensor
from .cache import MetricCache, file_hash
from .fid import frechet_distance, kernel_inception_distance, load_inception, patches
from .registry import METRICS, metric, pair_metric

GROUP_COLUMNS = ("codec", "target_bpp")
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class MetricsResult:
    pairs: pd.DataFrame          # the input rows plus one column per pair metric
    sets: pd.DataFrame | None    # FID / KID per group, with sample counts (None if not asked)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table (by extension)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such table")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A manifest or any CSV/Parquet with ``reference`` and ``reconstruction`` columns."""
    path = Path(path)
    table = read_table(path)
    missing = {"reference", "reconstruction"} - set(table.columns)
    if missing:
        raise InputError(f"{path}: needs the columns reference and reconstruction; lacks {sorted(missing)}")
    return table


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False) if path.suffix == ".parquet" else table.to_csv(path, index=False)


class MetricEngine:
    """Computes the chosen metrics (names of :data:`~evalkit.metrics.registry.METRICS`); networks
    are loaded once, when first needed. FID/KID are computed on whole images and, unless ``patch_size`` is None, on ``patch_size``
    patches (grid plus half-shifted grid) as well, with the sample count of each.

    >>> engine = MetricEngine(["psnr", "ms-ssim", "lpips"], weights_dir="../shared/weights")
    >>> result = engine.evaluate(read_pairs("runs/kodak/manifest.csv"), root="runs/kodak")
    >>> result.pairs[["codec", "bpp", "psnr", "ms_ssim", "lpips"]]
    """

    def __init__(self, metrics: list[str], device: str | None = None, weights_dir=None,
                 precision: str = "fp32", batch_size: int | None = None, cache: bool = True,
                 patch_size: int | None = 256):
        if not metrics:
            raise InputError(f"no metrics asked for; choose from {', '.join(METRICS)}")
        self.metrics = [metric(name).name for name in dict.fromkeys(metrics)]
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # Batches pay off on a GPU; on a CPU one image at a time is as fast or faster (it stays
        # in cache), so that is the default there.
        self.batch_size = batch_size or (8 if self.device.type == "cuda" else 1)
        self.weights_dir, self.precision = weights_dir, precision
        self.patch_size = patch_size
        self.cache = MetricCache(enabled=cache)
        self._pair: dict[str, PairMetric] = {}
        self._inception = None

    # ----------------------------------------------------------------- networks
    def _autocast(self, network: bool = True):
        dtype = PRECISIONS[self.precision]
        return nullcontext() if dtype is None or not network else torch.autocast(self.device.type, dtype=dtype)

    def pair_metric(self, name: str) -> PairMetric:
        if name not in self._pair:
            self._pair[name] = pair_metric(name, self.weights_dir, self.device)
        return self._pair[name]

    def version(self, name: str) -> str:
        """Cache key of a metric: its definition, weights and (for networks) precision."""
        m = self.pair_metric(name)
        return f"{m.version}-{self.precision}" if m.uses_network else m.version

    @torch.inference_mode()
    def inception_features(self, hashes: list[str], load, mode: str) -> list[np.ndarray]:
        """pool3 features of whole images (``mode="image"``: 1×2048 each) or of their patches
        (``mode="patch"``: P×2048 each), from the cache, or computed with ``load(i)`` giving the
        i-th image, same-sized inputs batched together."""
        key = f"inception-pool3-{mode}{self.patch_size if mode == 'patch' else ''}-{self.precision}"
        out = [self.cache.features(key, h) for h in hashes]
        todo = [i for i, f in enumerate(out) if f is None]
        if todo and self._inception is None:
            self._inception = load_inception(self.weights_dir, self.device)
        inputs = {}
        for i in todo:
            x = to_tensor(load(i))
            inputs[i] = patches(x[0], self.patch_size) if mode == "patch" else x
        for shape in dict.fromkeys(x.shape[1:] for x in inputs.values()):
            group = [i for i in todo if inputs[i].shape[1:] == shape]
            stacked = torch.cat([inputs[i] for i in group])
            chunks = []
            for start in range(0, len(stacked), self.batch_size):
                with self._autocast():
                    f = self._inception(stacked[start:start + self.batch_size].to(self.device))[0]
                chunks.append(f.float().flatten(1).cpu().numpy())
            features = np.concatenate(chunks) if chunks else np.zeros((0, 2048), np.float32)
            for i, part in zip(group, np.split(features, np.cumsum([len(inputs[i]) for i in group])[:-1])):
                out[i] = part
                self.cache.put_features(key, hashes[i], part)
        return out

    def _feature_modes(self) -> tuple[str, ...]:
        """Whole images always; patches too unless ``patch_size`` is None (FID on images only)."""
        return ("image", "patch") if self.patch_size else ("image",)

    # ------------------------------------------------------------------- engine
    def evaluate(self, table: pd.DataFrame, root: str | Path = ".", progress: bool = True) -> MetricsResult:
        """Add a column per pair metric to ``table`` (paths relative to ``root`` or absolute)
        and, if FID/KID were asked for, compute them per (codec, target_bpp) group."""
        root = Path(root)
        refs = [str(root / p) for p in table["reference"]]
        recs = [str(root / p) for p in table["reconstruction"]]
        for p in dict.fromkeys(refs + recs):
            if not Path(p).is_file():
                raise InputError(f"{p}: image listed in the table does not exist")
        sha = {p: file_hash(p) for p in dict.fromkeys(refs + recs)}
        pair_metrics = [m for m in self.metrics if METRICS[m].level == "pair"]
        want_sets = any(METRICS[m].level == "set" for m in self.metrics)
        values = {m: {} for m in pair_metrics}          # metric → (ref sha, rec sha) → value
        features = {}                                   # (mode, sha) → features
        by_ref: dict[str, list[str]] = {}
        for ref, rec in zip(refs, recs):
            by_ref.setdefault(ref, [])
            if rec not in by_ref[ref]:
                by_ref[ref].append(rec)
        for ref, ref_recs in tqdm(by_ref.items(), desc="metrics", unit="reference", disable=not progress):
            self._score_reference(ref, ref_recs, sha, pair_metrics, values, features if want_sets else None)
        out = table.copy()
        for m in pair_metrics:
            out[METRICS[m].column] = [values[m][(sha[r], sha[c])] for r, c in zip(refs, recs)]
        sets = self._set_metrics(table, refs, recs, sha, features) if want_sets else None
        return MetricsResult(out, sets)

    def _score_reference(self, ref, recs, sha, pair_metrics, values, features):
        missing = {}
        for m in pair_metrics:
            stored = self.cache.values(self.version(m), sha[ref])
            for rec in recs:
                if sha[rec] in stored:
                    values[m][(sha[ref], sha[rec])] = stored[sha[rec]]
            missing[m] = [rec for rec in recs if sha[rec] not in stored]
        decoded: dict[str, np.ndarray] = {}

        def image(path):
            if path not in decoded:
                decoded[path] = load_image(path)
            return decoded[path]

        for m, todo in missing.items():
            if not todo:
                continue
            reference = image(ref)
            for rec in todo:
                if image(rec).shape != reference.shape:
                    raise InputError(f"{rec} is {image(rec).shape[1]}×{image(rec).shape[0]} but its "
                                     f"reference {ref} is {reference.shape[1]}×{reference.shape[0]}")
            computed = self._pair_metric(m, reference, [image(r) for r in todo])
            bad = [r for r, v in zip(todo, computed) if math.isnan(v)]
            if bad:
                raise ValueError(f"{m} is NaN for {bad[0]} against {ref}")
            fresh = {sha[r]: float(v) for r, v in zip(todo, computed)}
            self.cache.put_values(self.version(m), sha[ref], fresh)
            values[m].update({(sha[ref], k): v for k, v in fresh.items()})
        if features is not None:
            for mode in self._feature_modes():
                paths = [p for p in [ref, *recs] if (mode, sha[p]) not in features]
                hashes = [sha[p] for p in paths]
                for h, f in zip(hashes, self.inception_features(hashes, lambda i: image(paths[i]), mode)):
                    features[(mode, h)] = f

    @torch.inference_mode()
    def _pair_metric(self, name: str, reference: np.ndarray, reconstructions: list[np.ndarray]) -> list[float]:
        """One reference against its reconstructions: the reference prepared once, the
        reconstructions scored in batches."""
        metric = self.pair_metric(name)
        out = []
        with self._autocast(metric.uses_network):
            prepared = metric.prepare(to_tensor(reference, metric.dtype).to(self.device))
            for start in range(0, len(reconstructions), self.batch_size):
                batch = to_tensor(np.stack(reconstructions[start:start + self.batch_size]), metric.dtype)
                out.extend(metric.score(prepared, batch.to(self.device)).double().tolist())
        return out

    def _set_metrics(self, table, refs, recs, sha, features) -> pd.DataFrame:
        groups = [c for c in GROUP_COLUMNS if c in table.columns]
        keys = (table[groups].itertuples(index=False, name=None) if groups
                else [("all",)] * len(table))
        members: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        rows = []
        for key, idx in members.items():
            ref_set = list(dict.fromkeys(sha[refs[i]] for i in idx))
            rec_set = list(dict.fromkeys(sha[recs[i]] for i in idx))
            row = dict(zip(groups or ["group"], key))
            for mode in self._feature_modes():
                suffix = "_patch" if mode == "patch" else ""
                a = np.concatenate([features[(mode, h)] for h in ref_set])
                b = np.concatenate([features[(mode, h)] for h in rec_set])
                row[f"n_samples{suffix}"] = len(b)
                if "fid" in self.metrics:
                    row[f"fid{suffix}"] = frechet_distance(a, b) if min(len(a), len(b)) >= 2 else math.nan
                if "kid" in self.metrics:
                    row[f"kid{suffix}"] = (kernel_inception_distance(a, b)
                                           if min(len(a), len(b)) >= 2 else math.nan)
            rows.append(row)
        return pd.DataFrame(rows)

