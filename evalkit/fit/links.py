"""Link functions of the combined-metric fit: what a judgement's preference fraction p becomes
before least squares, and how a predicted margin becomes a probability again.

* ``probit``: Φ⁻¹(p) — Thurstone Case V, the model behind JOD scales (``study/ranking.py``):
  P(A preferred) = Φ(q(A) − q(B)) in units of the observers' noise.
* ``logit``: log(p / (1 − p)) — Bradley–Terry.
* ``linear``: p − ½ — the paper's form (Patel et al., supplement §2), saturating at 0 and 1.

A link-transformed unanimous row (p = 0 or 1) is infinite, so unanimous rows get the continuity
correction p̃ = (n·p + ½) / (n + 1) for n judgements (Haldane–Anscombe: half a judgement added to
each side), on every link. The sampling band of a row — the standard error of its transformed
target under binomial sampling, by the delta method, (dℓ/dp)·√(p̃(1 − p̃)/n) — is what the RANSAC
inlier threshold is measured in when the counts are known (:class:`~evalkit.fit.CombinedMetric`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..errors import InputError


@dataclass(frozen=True)
class Link:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]  # p → target (finite for 0 < p < 1)
    inverse: Callable[[np.ndarray], np.ndarray]  # margin → p
    slope: Callable[[np.ndarray], np.ndarray]  # d target / dp

    def target(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The least-squares target of rows with preference fractions ``p`` from ``n`` judgements
        (unanimous rows corrected; the linear link keeps p − ½ as it is, which is finite)."""
        return self.forward(p if self.name == "linear" else corrected(p, n))

    def band(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Standard error of each row's target under binomial sampling (delta method)."""
        q = corrected(p, n)
        return self.slope(q) * np.sqrt(q * (1 - q) / n)


def corrected(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """p with unanimous rows moved half a judgement inward: (n·p + ½) / (n + 1) where p is 0 or 1."""
    p, n = np.asarray(p, np.float64), np.asarray(n, np.float64)
    return np.where((p <= 0) | (p >= 1), (n * p + 0.5) / (n + 1), p)


LINKS = {
    "probit": Link("probit", special.ndtri, special.ndtr, lambda p: 1.0 / stats.norm.pdf(special.ndtri(p))),
    "logit": Link("logit", special.logit, special.expit, lambda p: 1.0 / (p * (1 - p))),
    "linear": Link("linear", lambda p: p - 0.5, lambda m: np.clip(0.5 + m, 0.0, 1.0), np.ones_like),
}


def link(name: str) -> Link:
    """The link called ``name``; an :class:`InputError` naming the choices otherwise."""
    if name not in LINKS:
        raise InputError(f"link must be one of {', '.join(LINKS)}, got {name!r}")
    return LINKS[name]
