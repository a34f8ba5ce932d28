"""Bjøntegaard delta rate and delta metric between two rate–distortion curves.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", VCEG-M33 (2001):
rate on a log10 axis, each curve interpolated, the difference of the integrals over the interval
where both curves exist, divided by its length. BD-rate integrates log-rate as a function of the
metric and reports the mean rate difference in percent (negative: the test codec needs fewer
bits); BD-metric integrates the metric as a function of log-rate and reports the mean difference
in the metric's units (positive: a higher value at the same rate).

Interpolation: ``"pchip"`` (piecewise cubic Hermite, monotone, no overshoot; the method JVET's
common test conditions moved to, see Herglotz et al., "The Bjøntegaard Bible", 2022) by default,
or ``"cubic"``: the original least-squares cubic polynomial. The results equal those of the
``bjontegaard`` package (FAU, the Bible's reference code) for the same method.

A comparison is refused, with the reason, when a curve has fewer than :data:`MIN_POINTS`
distinct rates, when its metric is not strictly monotone in rate (it cannot be inverted for
BD-rate), or when the two curves do not overlap at all on the integration axis. Where they share
less than ``min_overlap`` of their combined range the value is still computed over the shared
interval and carries a warning with the overlap, as the ``bjontegaard`` package does (it warns
below its ``min_overlap`` and gives up only at zero overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.interpolate import PchipInterpolator

from ..errors import InputError

INTERPOLATIONS = {"pchip": "piecewise cubic Hermite (PCHIP)", "cubic": "cubic polynomial fit"}
MIN_POINTS = 4  # VCEG-M33 fits a cubic through (at least) four rate points
DEFAULT_MIN_OVERLAP = 0.25
Points = npt.NDArray[np.float64]  # one coordinate of a curve's points


class BDRefusal(InputError):
    """The two curves cannot be compared by the Bjøntegaard computation; the message says why."""


@dataclass(frozen=True)
class BDResult:
    value: float  # percent for BD-rate, metric units for BD-metric
    overlap: float  # shared fraction of the combined range on the integration axis
    interpolation: str
    warning: str = ""  # set when the overlap is below the threshold asked for


def _curve(rate: npt.ArrayLike, metric: npt.ArrayLike, label: str) -> tuple[Points, Points]:
    """(log10 rate, metric), sorted by rate, one point per distinct rate; refuses what cannot
    be integrated."""
    rate, metric = np.asarray(rate, np.float64), np.asarray(metric, np.float64)
    if rate.shape != metric.shape:
        raise BDRefusal(f"{label}: {len(rate)} rates but {len(metric)} metric values")
    if not (np.isfinite(rate).all() and np.isfinite(metric).all() and (rate > 0).all()):
        raise BDRefusal(f"{label}: rates must be positive and all values finite")
    rates, inverse = np.unique(rate, return_inverse=True)  # sorted, one per distinct rate
    metrics = np.bincount(inverse, metric) / np.bincount(inverse)
    if not np.allclose(metric, metrics[inverse], rtol=1e-12, atol=0):
        raise BDRefusal(f"{label}: two points at the same rate have different metric values")
    if len(rates) < MIN_POINTS:
        raise BDRefusal(
            f"{label}: {len(rates)} distinct rate points; the Bjøntegaard computation "
            f"needs at least {MIN_POINTS}"
        )
    steps = np.diff(metrics)
    if not ((steps > 0).all() or (steps < 0).all()):
        raise BDRefusal(
            f"{label}: the metric is not strictly monotone in rate, so the curve "
            "cannot be interpolated as a function"
        )
    return np.log10(rates), metrics


def _integral(x: Points, y: Points, lo: float, hi: float, interpolation: str) -> float:
    order = np.argsort(x)
    x, y = x[order], y[order]
    if interpolation == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi))
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))


def _delta(
    xa: Points, ya: Points, xt: Points, yt: Points, interpolation: str, min_overlap: float, axis: str
) -> tuple[float, float, str]:
    """Mean of (test − anchor) over the shared interval of x, the overlap fraction, and a
    warning when it is below ``min_overlap``."""
    if interpolation not in INTERPOLATIONS:
        raise BDRefusal(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    overlap = max(hi - lo, 0.0) / (max(xa.max(), xt.max()) - min(xa.min(), xt.min()))
    if overlap <= 0:
        raise BDRefusal(f"the curves share 0% of their {axis} range: there is nothing to compare")
    warning = (
        f"the curves share {overlap:.0%} of their {axis} range (less than {min_overlap:.0%}): "
        "the value covers that part only"
        if overlap < min_overlap
        else ""
    )
    mean = (_integral(xt, yt, lo, hi, interpolation) - _integral(xa, ya, lo, hi, interpolation)) / (hi - lo)
    return mean, overlap, warning


def bd_rate(
    anchor_rate: npt.ArrayLike,
    anchor_metric: npt.ArrayLike,
    test_rate: npt.ArrayLike,
    test_metric: npt.ArrayLike,
    interpolation: str = "pchip",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> BDResult:
    """Mean rate difference of the test curve against the anchor at equal metric, in percent."""
    la, ma = _curve(anchor_rate, anchor_metric, "anchor")
    lt, mt = _curve(test_rate, test_metric, "test")
    mean_log, overlap, warning = _delta(ma, la, mt, lt, interpolation, min_overlap, "metric")
    return BDResult((10.0**mean_log - 1.0) * 100.0, overlap, interpolation, warning)


def bd_metric(
    anchor_rate: npt.ArrayLike,
    anchor_metric: npt.ArrayLike,
    test_rate: npt.ArrayLike,
    test_metric: npt.ArrayLike,
    interpolation: str = "pchip",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> BDResult:
    """Mean metric difference of the test curve against the anchor at equal (log) rate."""
    la, ma = _curve(anchor_rate, anchor_metric, "anchor")
    lt, mt = _curve(test_rate, test_metric, "test")
    mean, overlap, warning = _delta(la, ma, lt, mt, interpolation, min_overlap, "log-rate")
    return BDResult(mean, overlap, interpolation, warning)
