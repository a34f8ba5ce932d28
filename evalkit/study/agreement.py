"""How much raters agree with each other, and the ceiling that puts on any metric.

For a compared pair (image, bpp, codec A, codec B) where a fraction p of people prefer A:

* two random raters agree with probability a = p² + (1 − p)²; with k of n judgements for A the
  unbiased estimate is [k(k − 1) + (n − k)(n − k − 1)] / [n(n − 1)] (pairs with n ≥ 2);
* a metric's expected 2AFC score on the pair (Zhang et al. 2018; :mod:`evalkit.fit.scoring`) is at
  most max(p, 1 − p) = (1 + √(2a − 1)) / 2 — the score of a metric that always sides with the
  majority. Averaged over pairs this is the **ceiling**: no metric can expect to beat it on new
  judgements of these pairs;
* on the judgements at hand, the same bound computed from the observed fractions, mean
  max(p̂, 1 − p̂), is what a metric could at most score on exactly this table (it is higher than
  the ceiling, since p̂ also carries sampling noise).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..fit.scoring import bootstrap_ci, preferences, score_2afc

#: Metric columns where a lower value means a better image (distances).
LOWER_IS_BETTER = {"lpips", "lpips_vgg", "lpips_squeeze"}


def rater_agreement(pairs: pd.DataFrame) -> dict:
    """Agreement and ceilings from per-pair counts (columns n_a and judgements, as
    :func:`evalkit.study.ranking.pair_counts` gives). Pairs judged once say nothing about
    agreement and are left out of it; if none is left the values are None and ``note`` says why."""
    n = pairs["judgements"].to_numpy(float)
    k = pairs["n_a"].to_numpy(float)
    p_hat = k / np.where(n > 0, n, 1)
    summary = {"pairs": int(len(pairs)), "pairs_judged_twice": int((n >= 2).sum()),
               "best_possible_on_these_judgements": float(np.maximum(p_hat, 1 - p_hat).mean()) if len(pairs) else None,
               "agreement": None, "ceiling": None, "note": ""}
    twice = n >= 2
    if not twice.any():
        summary["note"] = "no pair was judged by two raters: agreement and ceiling cannot be estimated"
        return summary
    n2, k2 = n[twice], k[twice]
    agree = (k2 * (k2 - 1) + (n2 - k2) * (n2 - k2 - 1)) / (n2 * (n2 - 1))
    summary["agreement"] = float(agree.mean())
    summary["ceiling"] = float(((1 + np.sqrt(np.clip(2 * agree - 1, 0, 1))) / 2).mean())
    return summary


def metric_scores(table: pd.DataFrame, columns: list[str], model=None, seed: int = 0) -> pd.DataFrame:
    """2AFC score with a 95 % bootstrap interval of each metric column (``<column>_a`` and
    ``<column>_b`` in a judgement table with ``p_a``), and of a fitted
    :class:`~evalkit.fit.model.CombinationModel` if given."""
    margins = {}
    for column in columns:
        sign = -1.0 if column in LOWER_IS_BETTER else 1.0
        margins[column] = sign * (table[f"{column}_a"].to_numpy(float) - table[f"{column}_b"].to_numpy(float))
    if model is not None:
        quality = lambda side: model.quality(table[[f"{c}_{side}" for c in model.columns]].to_numpy(float))
        margins["combined(" + "+".join(model.metrics) + ")"] = quality("a") - quality("b")
    rows = []
    for name, margin in margins.items():
        scores = score_2afc(preferences(margin), table["p_a"].to_numpy(float))
        low, high = bootstrap_ci(scores, seed=seed) if len(scores) >= 2 else (scores.mean(), scores.mean())
        rows.append((name, float(scores.mean()), low, high))
    return pd.DataFrame(rows, columns=["metric", "score_2afc", "ci_low", "ci_high"])
