"""RANSAC over SVD least squares, vectorised over hypotheses (Patel et al., supplement §2).

Each hypothesis solves a minimal set of k equations d·a_i = b_i (k the number of metrics) by the
SVD pseudo-inverse d = V D⁻¹ Uᵀ b; sets whose smallest singular value is below ``rcond`` times the
largest are degenerate and skipped. The hypothesis that the most samples agree with
(|d·a − b| ≤ threshold; ties broken by the smaller sum of inlier residuals) wins, and d is
refitted by least squares on its inliers.

All hypotheses are drawn, solved and scored as arrays; ``bench/fit.py`` measures this against
scikit-learn's ``RANSACRegressor``, which fits and scores one hypothesis at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 64   # hypotheses scored together: bounds the n × chunk residual matrix


@dataclass(frozen=True)
class RansacResult:
    coef: np.ndarray          # d refitted on the inliers
    inlier_mask: np.ndarray   # samples within the threshold of the winning hypothesis
    n_valid: int              # hypotheses that were not degenerate


def svd_solve(a: np.ndarray, b: np.ndarray, rcond: float = 1e-10) -> np.ndarray:
    """Least-squares d for a d = b through the SVD pseudo-inverse, batched over leading axes:
    ``a`` (..., k, m), ``b`` (..., k) → (..., m). Rank-deficient systems give NaN rows."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    ok = s[..., -1] > rcond * s[..., 0]
    s_inv = np.where(ok[..., None], 1.0 / np.where(s > 0, s, 1.0), np.nan)
    ub = np.einsum("...km,...k->...m", u, b)
    return np.einsum("...mj,...m->...j", vt, s_inv * ub)


def ransac(a: np.ndarray, b: np.ndarray, threshold: float, n_hypotheses: int = 1000,
           seed: int | None = 0, rcond: float = 1e-10) -> RansacResult:
    """Fit d·a = b robustly. ``a`` is (n, m), ``b`` is (n,)."""
    n, m = a.shape
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_hypotheses, m))
    hypotheses = svd_solve(a[picks], b[picks], rcond)             # (H, m); NaN where degenerate
    valid = np.flatnonzero(np.isfinite(hypotheses).all(axis=1))
    if len(valid) == 0:
        raise ValueError("every minimal sample set was degenerate: the metrics are (nearly) "
                         "collinear on these samples, or there are too few distinct samples")
    best = (-1, np.inf, None)                                     # (inliers, residual sum, index)
    for start in range(0, len(valid), _CHUNK):
        chunk = valid[start:start + _CHUNK]
        residual = np.abs(a @ hypotheses[chunk].T - b[:, None])   # (n, chunk)
        inside = residual <= threshold
        counts = inside.sum(axis=0)
        sums = np.where(inside, residual, 0.0).sum(axis=0)
        order = np.lexsort((sums, -counts))[0]
        if (counts[order], -sums[order]) > (best[0], -best[1]):
            best = (counts[order], sums[order], chunk[order])
    winner = hypotheses[best[2]]
    mask = np.abs(a @ winner - b) <= threshold
    coef = svd_solve(a[mask], b[mask], rcond) if mask.sum() >= m else winner
    if not np.isfinite(coef).all():
        coef = winner
    return RansacResult(coef, mask, len(valid))
