"""RANSAC over SVD least squares, vectorised over hypotheses (Patel et al., supplement §2).

Each hypothesis solves a minimal set of k equations d·a_i = b_i (k the number of metrics) by the
SVD pseudo-inverse d = V D⁻¹ Uᵀ b; sets whose smallest singular value is below ``rcond`` times the
largest are degenerate and skipped. The hypothesis that the most samples agree with
(|d·a − b| ≤ threshold; ties broken by the smaller sum of inlier residuals) wins, and d is
refitted by least squares on its inliers. The threshold may differ per sample (each row's own
sampling band), and samples may carry weights (how many people judged them): the inlier count is
then the weight of the inliers and the refit is weighted least squares.

All hypotheses are drawn, solved and scored as arrays; ``bench/fit.py`` measures this against
scikit-learn's ``RANSACRegressor``, which fits and scores one hypothesis at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_CHUNK = 32  # hypotheses scored together


@dataclass(frozen=True)
class RansacResult:
    coef: np.ndarray  # d refitted on the inliers
    inlier_mask: np.ndarray  # samples within the threshold of the winning hypothesis
    n_valid: int  # hypotheses that were not degenerate


def svd_solve(a: np.ndarray, b: np.ndarray, rcond: float = 1e-10) -> np.ndarray:
    """Least-squares d for a d = b through the SVD pseudo-inverse, batched over leading axes:
    ``a`` (..., k, m), ``b`` (..., k) → (..., m). Rank-deficient systems give NaN rows."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    ok = s[..., -1] > rcond * s[..., 0]
    s_inv = np.where(ok[..., None], 1.0 / np.where(s > 0, s, 1.0), np.nan)
    ub = np.einsum("...km,...k->...m", u, b)
    return np.einsum("...mj,...m->...j", vt, s_inv * ub)


def ransac(
    a: np.ndarray,
    b: np.ndarray,
    threshold,
    n_hypotheses: int = 1000,
    seed: int | None = 0,
    rcond: float = 1e-10,
    weights: np.ndarray | None = None,
) -> RansacResult:
    """Fit d·a = b robustly. ``a`` is (n, m), ``b`` is (n,); ``threshold`` a number or one per
    sample (n,); ``weights`` (n,) non-negative, None for all 1."""
    n, m = a.shape
    threshold = np.broadcast_to(np.asarray(threshold, np.float64), (n,))
    weights = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_hypotheses, m))
    hypotheses = svd_solve(a[picks], b[picks], rcond)  # (H, m); NaN where degenerate
    valid = np.flatnonzero(np.isfinite(hypotheses).all(axis=1))
    if len(valid) == 0:
        raise InputError(
            "every minimal sample set was degenerate: the metrics are (nearly) "
            "collinear on these samples, or there are too few distinct samples"
        )
    # Inlier counts in float32, a block of hypotheses at a time, residuals as one product
    # [d, −1]·[a, b]ᵀ: the block × n residual matrix stays small and its rows are contiguous.
    ab_t = np.ascontiguousarray(np.hstack([a, b[:, None]]).T, dtype=np.float32)  # (m + 1, n)
    dh = np.hstack([hypotheses, -np.ones((len(hypotheses), 1))]).astype(np.float32)
    limit, w32 = threshold.astype(np.float32), weights.astype(np.float32)
    counts = np.full(len(hypotheses), -1.0)  # -1: degenerate, never chosen
    for start in range(0, len(valid), _CHUNK):
        chunk = valid[start : start + _CHUNK]
        residual = np.abs(dh[chunk] @ ab_t)  # (chunk, n): rows are contiguous
        counts[chunk] = (residual <= limit) @ w32

    def inlier_residual_sum(h: np.ndarray) -> float:
        r = np.abs(a @ h - b)
        return float((weights * r)[r <= threshold].sum())

    tied = np.flatnonzero(counts == counts.max())
    winner = hypotheses[min(tied, key=lambda i: inlier_residual_sum(hypotheses[i]))]
    mask = np.abs(a @ winner - b) <= threshold
    root = np.sqrt(weights[mask])
    coef = svd_solve(a[mask] * root[:, None], b[mask] * root, rcond) if mask.sum() >= m else winner
    if not np.isfinite(coef).all():
        coef = winner
    return RansacResult(coef, mask, len(valid))
