"""A combined perceptual metric fitted to 2AFC judgements, with scikit-learn's estimator API.

Input rows are judgements: ``X`` is (n, 2k) — the k metric values of image A, then those of B,
each against the same reference — and ``y`` is p_A, the fraction of raters who preferred A;
``sample_weight`` (optional) is how many people judged each row.

Two formulations of Patel et al.'s fit (supplement §2) are offered:

* ``pairwise`` (default): d·(m(A) − m(B)) = ℓ(p_A). This is what a 2AFC judgement measures — a
  preference between two images — so it needs no per-image score and no intercept (swapping A and
  B flips both sides). Use it for judgement tables, which is what evalkit's studies produce.
* ``per-sample``: the paper's d·m(x, x̂) = b, each image a sample whose b is its transformed 2AFC
  score (ℓ(p_A) for A, ℓ(1 − p_A) for B). Use it to reproduce the paper, or when each
  reconstruction has an absolute score of its own.

ℓ is the link (:mod:`evalkit.fit.links`): ``probit`` (default, Φ⁻¹(p): Thurstone Case V, the
model of the JOD scale), ``logit``, or ``linear`` (p − ½, the paper's form). The linear form
saturates: a unanimous row asks for p − ½ = ½ however far apart the images are, so it cannot be
explained by any weight and becomes an outlier — on one-sided real judgements RANSAC then keeps
only a quarter to two thirds of the rows. Under a probit or logit link a unanimous row, corrected
by half a judgement, is an ordinary point. Rows count by how many people judged them (weighted
least squares, weighted inlier counts), and a row is an inlier when its residual is within twice
its own sampling band (the binomial standard error of its target, on the link's scale), unless a
fixed ``residual_threshold`` is given; without counts the threshold is the median absolute
deviation of the targets, as scikit-learn's RANSAC takes it.

The combined quality of an image is q = d·m (+ intercept); A is predicted to be preferred when
q(A) > q(B). :meth:`score` is the mean 2AFC score, so cross-validation maximises agreement with
people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .links import LINKS, link
from .ransac import ransac
from .scoring import preferences, score_2afc

if TYPE_CHECKING:
    import torch

FORMULATIONS = ("pairwise", "per-sample")
INLIER_BAND = 2.0  # a row is an inlier within this many of its own standard errors


@overload
def combined_quality(
    values: npt.NDArray[np.float64], coef: npt.NDArray[np.float64], intercept: float
) -> npt.NDArray[np.float64]: ...
@overload
def combined_quality(values: torch.Tensor, coef: torch.Tensor, intercept: float) -> torch.Tensor: ...
def combined_quality(values: Any, coef: Any, intercept: float) -> Any:
    """q = values · coef + intercept: the one quality rule of a combination, for NumPy arrays
    (the estimator, a saved model on a table) and torch tensors (the training loss) alike."""
    return values @ coef + intercept


class CombinedMetric(RegressorMixin, BaseEstimator):
    """Weights of a metric combination, fitted by RANSAC over SVD least squares.

    Parameters
    ----------
    formulation : "pairwise" or "per-sample" (see the module docstring).
    link : "probit" (default), "logit" or "linear": the scale the targets are fitted on.
    residual_threshold : a fixed inlier threshold on |d·a − b|, on the link's scale; None takes
        each row's sampling band (``INLIER_BAND`` standard errors) when ``sample_weight`` gives
        the counts, else the median absolute deviation of the targets.
    n_hypotheses : minimal sets drawn (each of k samples for k metrics).
    standardize : divide each metric by its standard deviation before fitting; ``coef_`` is
        always in the metrics' own units, ``coef_scaled_`` in standardised ones.
    fit_intercept : add a constant term (per-sample formulation only).
    random_state : seed of the hypothesis draw; the same seed gives the same model.

    Attributes: ``coef_``, ``coef_scaled_``, ``scale_``, ``intercept_``, ``inlier_mask_`` (over
    the fitted equations: n for pairwise, 2n for per-sample — A rows then B rows),
    ``n_metrics_``, ``threshold_`` (a number, or one per equation).
    """

    def __init__(
        self,
        formulation: str = "pairwise",
        residual_threshold: float | None = None,
        n_hypotheses: int = 1000,
        standardize: bool = False,
        fit_intercept: bool = False,
        random_state: int | None = 0,
        link: str = "probit",
    ):
        self.formulation = formulation
        self.link = link
        self.residual_threshold = residual_threshold
        self.n_hypotheses = n_hypotheses
        self.standardize = standardize
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _split(X) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] % 2 or X.shape[1] == 0:
            raise InputError(f"X must be (n, 2k): k metric values of A then k of B; got {X.shape}")
        if not np.isfinite(X).all():
            rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
            raise InputError(
                f"metric values are NaN or infinite in {len(rows)} judgement(s), "
                f"first at row {rows[0]} (identical images give PSNR = inf: drop or cap them)"
            )
        k = X.shape[1] // 2
        return X[:, :k], X[:, k:]

    def _equations(self, xa, xb, p, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Design, targets and each target's sampling band."""
        ell = link(self.link)
        if self.formulation == "pairwise":
            return (xa - xb) / self.scale_, ell.target(p, n), ell.band(p, n)
        a = np.vstack([xa, xb]) / self.scale_
        if self.fit_intercept:
            a = np.hstack([a, np.ones((len(a), 1))])
        both, n2 = np.concatenate([p, 1.0 - p]), np.concatenate([n, n])
        paper = 0.5 if self.link == "linear" else 0.0  # the paper's target b is p itself
        return a, ell.target(both, n2) + paper, ell.band(both, n2)

    # -------------------------------------------------------------------- API
    def fit(self, X, y, sample_weight=None):
        """Fit to judgements ``X`` (n, 2k) with preference fractions ``y``; ``sample_weight``
        (n,) is how many people judged each row (the counts behind each fraction)."""
        link(self.link)
        if self.formulation not in FORMULATIONS:
            raise InputError(f"formulation must be one of {FORMULATIONS}, got {self.formulation!r}")
        if self.fit_intercept and self.formulation == "pairwise":
            raise InputError("the pairwise formulation has no intercept (it cancels in m(A) − m(B))")
        xa, xb = self._split(X)
        p = np.asarray(y, dtype=np.float64)
        if p.shape != (len(xa),) or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
            raise InputError("y must hold one preference fraction p_A in [0, 1] per judgement")
        counted = sample_weight is not None
        n = np.ones(len(p)) if not counted else np.asarray(sample_weight, dtype=np.float64)
        if n.shape != p.shape or not np.isfinite(n).all() or (n <= 0).any():
            raise InputError("sample_weight must hold one positive count of judgements per row")
        k = xa.shape[1]
        needed = k + self.fit_intercept
        if len(xa) < max(needed, 2):
            raise InputError(
                f"{len(xa)} judgement(s) cannot fit {k} metric weight(s): need at least {max(needed, 2)}"
            )
        values = np.vstack([xa, xb])
        self.scale_ = values.std(axis=0) if self.standardize else np.ones(k)
        if (self.scale_ == 0).any():
            raise InputError("a metric is constant over these judgements and cannot be weighted")
        a, b, band = self._equations(xa, xb, p, n)
        s = np.linalg.svd(a, compute_uv=False)
        if s[-1] <= 1e-9 * s[0]:
            raise InputError(
                "the metrics are collinear on these judgements (the design matrix is "
                "rank-deficient): drop one of them"
            )
        if self.residual_threshold is not None:
            self.threshold_ = float(self.residual_threshold)
        elif counted:
            self.threshold_ = INLIER_BAND * band
        else:
            self.threshold_ = float(np.median(np.abs(b - np.median(b))))
        weights = n if self.formulation == "pairwise" else np.concatenate([n, n])
        result = ransac(a, b, self.threshold_, self.n_hypotheses, self.random_state, weights=weights)
        coef = result.coef
        self.intercept_ = float(coef[-1]) if self.fit_intercept else 0.0
        self.coef_scaled_ = coef[:k]
        self.coef_ = self.coef_scaled_ / self.scale_
        self.inlier_mask_ = result.inlier_mask
        self.n_metrics_ = k
        return self

    def quality(self, values) -> np.ndarray:
        """Combined quality q = d·m + intercept of images with metric values (n, k)."""
        check_is_fitted(self)
        return combined_quality(np.asarray(values, np.float64), self.coef_, self.intercept_)

    def decision_function(self, X) -> np.ndarray:
        """q(A) − q(B): positive where A is predicted to be preferred."""
        xa, xb = self._split(X)
        return self.quality(xa) - self.quality(xb)

    def predict(self, X) -> np.ndarray:
        """Predicted fraction of raters preferring A (the per-sample margin is ℓ(p) − ℓ(1 − p),
        twice ℓ(p) on these symmetric links)."""
        margin = self.decision_function(X)
        return LINKS[self.link].inverse(margin if self.formulation == "pairwise" else margin / 2)

    def score_samples(self, X, y) -> np.ndarray:
        """Per-judgement 2AFC scores."""
        return score_2afc(preferences(self.decision_function(X)), y)

    def score(self, X, y, sample_weight=None) -> float:
        """Mean 2AFC score (higher is better), as cross-validation expects."""
        return float(np.average(self.score_samples(X, y), weights=sample_weight))
