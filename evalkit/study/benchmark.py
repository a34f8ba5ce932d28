"""How well each metric, and each fitted combination of two, agrees with people on a comparison
table (:mod:`evalkit.study.comparisons`) — the question "which metric should I trust here?"
answered on held-out images, beside the ceiling the raters' own disagreement puts on any metric.

For each candidate (a metric alone, or a pair of metrics combined by
:class:`~evalkit.fit.CombinedMetric`; a metric alone is a one-metric fit, so its direction is
learned too and a metric that is not in evalkit's registry — VMAF, SSIMULACRA2, CVVDP, … read
from the stimuli table — needs no declaration), each source image is left out in turn, the model
is fitted on the judgements of the other images and scores those of the left-out one:

* **2AFC score** (:mod:`evalkit.fit.scoring`): the expected share of people the metric agrees
  with, mean over compared pairs;
* **accuracy**: the share of pairs with a majority where the metric sides with it;
* **rank correlation** (Spearman) of the held-out quality of every distorted stimulus with its
  scale value from :func:`~evalkit.study.stimulus_scale.scale_stimuli` (JND from the source),
  within each image, averaged over images.

Intervals: percentile bootstrap over pairs (2AFC, accuracy) and stimuli within images (rank
correlation). The
ceiling (:func:`~evalkit.study.agreement.agreement_of`) is what a metric that always sided with
the majority would expect on new judgements of these pairs. Pairs with a stimulus that has no
value of a metric (the source itself, in tables of distorted images only) are left out, and
counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ..fit import CombinedMetric, bootstrap_ci, preferences, score_2afc
from . import comparisons as cmp
from .agreement import agreement_of
from .stimulus_scale import answers


@dataclass(frozen=True)
class Benchmark:
    scores: (
        pd.DataFrame
    )  # candidate, metrics, link, 2afc (+ CI), accuracy (+ CI), srocc (+ CI), inliers, pairs
    agreement: dict  # agreement_of(): agreement, ceiling, best possible on these judgements
    left_out: int  # pairs without a value of every metric


def judgement_pairs(
    comparisons: pd.DataFrame, stimuli: pd.DataFrame, metrics: list[str], not_sure: str = "split"
) -> tuple[pd.DataFrame, int]:
    """Per compared pair of one image (a before b alphabetically): n_a, n_b ("not sure" split or
    dropped), p_a, and ``<metric>_a`` / ``<metric>_b`` from the stimuli table — the judgement table
    the fit reads (``reference`` = the image). Returns it and the number of pairs left out
    because a stimulus lacks a metric value."""
    cmp.check_stimuli(stimuli)
    missing = [m for m in metrics if m not in stimuli.columns]
    if missing:
        raise InputError(
            f"the stimuli table has no column {', '.join(missing)}; metric columns it has: "
            f"{', '.join(c for c in stimuli.columns if c not in cmp.STIMULUS_COLUMNS) or 'none'}"
        )
    rows = answers(comparisons, not_sure)
    a = np.minimum(rows["winner"], rows["loser"])
    rows = rows.assign(
        a=a,
        b=np.maximum(rows["winner"], rows["loser"]),
        n_a=np.where(rows["winner"] == a, rows["weight"], 0.0),
    )
    pairs = (
        rows.groupby(["image", "a", "b"], sort=True)
        .agg(n_a=("n_a", "sum"), n=("weight", "sum"))
        .reset_index()
    )
    pairs = (
        pairs.assign(n_b=pairs["n"] - pairs["n_a"]).drop(columns="n").rename(columns={"image": "reference"})
    )
    values = stimuli.astype({cmp.IMAGE: str}).set_index([cmp.IMAGE, cmp.STIMULUS])[metrics]
    for side in ("a", "b"):
        found = values.reindex(pd.MultiIndex.from_arrays([pairs["reference"], pairs[side]]))
        for m in metrics:
            pairs[f"{m}_{side}"] = pd.to_numeric(found[m], errors="coerce").to_numpy(float)
    complete = np.isfinite(pairs[[f"{m}_{s}" for m in metrics for s in "ab"]].to_numpy(float)).all(axis=1)
    pairs = pairs[complete].reset_index(drop=True)
    return pairs.assign(p_a=pairs["n_a"] / (pairs["n_a"] + pairs["n_b"])), int((~complete).sum())


def candidates(metrics: list[str], pairs: bool = True) -> list[tuple[str, ...]]:
    """Every metric alone, then (with ``pairs``) every pair of them."""
    return [(m,) for m in metrics] + (list(combinations(metrics, 2)) if pairs else [])


def benchmark(
    comparisons: pd.DataFrame,
    stimuli: pd.DataFrame,
    metrics: list[str],
    scale: pd.DataFrame | None = None,
    link: str = "probit",
    pairs: bool = True,
    not_sure: str = "split",
    n_boot: int = 2000,
    seed: int = 0,
    **params,
) -> Benchmark:
    """The held-out agreement of each metric of ``metrics`` (columns of ``stimuli``) and, with
    ``pairs``, of each fitted pair, on the judgements of ``comparisons`` (see the module
    docstring). ``scale`` is :attr:`StimulusScale.scores` for the rank correlation (left out
    when None); ``params`` go to :class:`~evalkit.fit.CombinedMetric`."""
    if not metrics:
        raise InputError("name at least one metric to benchmark")
    table, left_out = judgement_pairs(comparisons, stimuli, metrics, not_sure)
    images = table["reference"].unique()
    if len(images) < 2:
        raise InputError(
            f"judgements of {len(images)} image(s): held-out scores need at least two "
            "source images (each is left out in turn)"
        )
    scaled = None
    if scale is not None:
        scaled = (
            scale[scale["stimulus"] != cmp.REFERENCE]
            .astype({"image": str})
            .merge(
                stimuli.astype({cmp.IMAGE: str})[[cmp.IMAGE, cmp.STIMULUS, *metrics]],
                on=[cmp.IMAGE, cmp.STIMULUS],
            )
            .dropna(subset=metrics)
        )
    n = (table["n_a"] + table["n_b"]).to_numpy(float)
    p = table["p_a"].to_numpy(float)
    decided = p != 0.5
    rows = []
    for names in candidates(metrics, pairs):
        x = table[[f"{m}_a" for m in names] + [f"{m}_b" for m in names]].to_numpy(float)
        margin = np.full(len(table), np.nan)
        quality = None if scaled is None else np.full(len(scaled), np.nan)
        for image in images:
            test = (table["reference"] == image).to_numpy()
            model = CombinedMetric(link=link, random_state=seed, **params).fit(x[~test], p[~test], n[~test])
            margin[test] = model.decision_function(x[test])
            if scaled is not None:
                here = (scaled["image"] == image).to_numpy()
                quality[here] = model.quality(scaled.loc[here, list(names)].to_numpy(float))
        prefers = preferences(margin)
        per_pair = score_2afc(prefers, p)
        agrees = (prefers[decided] == (p[decided] > 0.5)).astype(float)
        inliers = CombinedMetric(link=link, random_state=seed, **params).fit(x, p, n).inlier_mask_
        row = {
            "candidate": " + ".join(names),
            "metrics": len(names),
            "link": link,
            "2afc": per_pair.mean(),
            **_ci("2afc", per_pair, seed, n_boot),
            "accuracy": agrees.mean(),
            **_ci("accuracy", agrees, seed, n_boot),
            "inliers": float(np.average(inliers, weights=n)),
            "pairs": len(table),
        }
        if scaled is not None:
            row.update(
                _srocc(quality, scaled["scale"].to_numpy(float), scaled["image"].to_numpy(), seed, n_boot)
            )
        rows.append(row)
    scores = pd.DataFrame(rows).sort_values("2afc", ascending=False, kind="stable").reset_index(drop=True)
    sure = answers(comparisons, "drop")
    return Benchmark(scores, agreement_of(sure.assign(target_bpp=0.0)), left_out)


def _ci(name: str, values: np.ndarray, seed: int, n_boot: int) -> dict:
    low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed) if n_boot else (np.nan, np.nan)
    return {f"{name}_low": low, f"{name}_high": high}


def _srocc(quality: np.ndarray, scale: np.ndarray, images: np.ndarray, seed: int, n_boot: int) -> dict:
    """Spearman's ρ of held-out quality and the human scale within each image (each image's
    quality comes from its own held-out model, so values of two images are not on one scale),
    averaged over images, with a bootstrap of stimuli within each image."""
    groups = [np.flatnonzero(images == i) for i in np.unique(images)]
    groups = [g for g in groups if len(g) >= 3]
    if not groups:
        return {"srocc": np.nan, "srocc_low": np.nan, "srocc_high": np.nan}
    mean_rho = lambda picks: np.nanmean([stats.spearmanr(quality[g], scale[g]).statistic for g in picks])
    rho = mean_rho(groups)
    if not n_boot:
        return {"srocc": rho, "srocc_low": np.nan, "srocc_high": np.nan}
    rng = np.random.default_rng(seed)
    boot = np.array([mean_rho([rng.choice(g, len(g)) for g in groups]) for _ in range(n_boot)])
    low, high = np.nanquantile(boot, [0.025, 0.975])
    return {"srocc": rho, "srocc_low": low, "srocc_high": high}
