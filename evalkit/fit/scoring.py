"""How well a metric agrees with people on 2AFC judgements.

For a judgement where a fraction p of raters preferred A, and a metric that prefers A (x = 1), B
(x = 0) or neither (x = ½), the 2AFC score is p·x + (1 − p)·(1 − x) — the expected fraction of
raters the metric agrees with. It is the formula of ``score_2afc_dataset`` in the LPIPS
repository (Zhang et al. 2018), there written with distances d0, d1 and the fraction preferring B.
"""

from __future__ import annotations

import numpy as np


def preferences(margin: np.ndarray) -> np.ndarray:
    """x from a signed margin (positive: the metric prefers A): 1, 0, or ½ on a tie."""
    margin = np.asarray(margin, dtype=np.float64)
    return np.where(margin > 0, 1.0, np.where(margin < 0, 0.0, 0.5))


def score_2afc(prefers_a: np.ndarray, p_a: np.ndarray) -> np.ndarray:
    """Per-judgement 2AFC scores p·x + (1 − p)·(1 − x); average them for a data set's score."""
    x, p = np.asarray(prefers_a, np.float64), np.asarray(p_a, np.float64)
    return p * x + (1.0 - p) * (1.0 - x)


def bootstrap_ci(
    scores: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``scores`` (judgements resampled
    with replacement)."""
    scores = np.asarray(scores, np.float64)
    if len(scores) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 256):  # bounded memory for large data sets
        stop = min(start + 256, n_boot)
        idx = rng.integers(0, len(scores), size=(stop - start, len(scores)))
        means[start:stop] = scores[idx].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)
