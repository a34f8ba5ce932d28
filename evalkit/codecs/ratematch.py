"""Rate matching: find the codec setting whose real bitstream lands at a target bpp.

Written once for every codec, on its :class:`~evalkit.codecs.base.Axis`. The search brackets the
target and then narrows the bracket by false position on log(bpp) — bpp is close to exponential
in most quality axes, so interpolation lands within a percent in a few encodes — falling back to
bisection whenever two steps in a row fail to move both ends, so it can never stall on plateaus.
Every encode is remembered and reused, across the targets of one image as well.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from .base import Codec, bitstream_bpp

Policy = Literal["closest", "not-above"]
POLICIES = ("closest", "not-above")

#: Flags a matched point can carry; an empty flag means the target was met within tolerance.
BELOW_RANGE = "below-range"  # even the lowest setting spends more bits than the target
ABOVE_RANGE = "above-range"  # even the highest setting spends fewer bits than the target
COARSE_AXIS = "coarse-axis"  # the target falls between two adjacent reachable rates
#: What each flag means, in words for tables and reports.
FLAG_MEANINGS = {
    BELOW_RANGE: "even the codec's lowest setting spends more bits than the target",
    ABOVE_RANGE: "even the codec's highest setting spends fewer bits than the target",
    COARSE_AXIS: "the target falls between two neighbouring rungs of the codec's integer setting "
    "(a quality or QP ladder) and neither lands within the tolerance",
}

_MIN_WIDTH = 1e-4  # stop narrowing below this fraction of the axis
_MAX_PROBES = 40  # hard guard per target; never reached on sane codecs


class CacheMiss(Exception):
    """A search limited to stored probes (``cache_only``) needed an encode."""


@dataclass(frozen=True)
class Probe:
    setting: float
    n_bytes: int
    encode_s: float


@dataclass(frozen=True)
class Match:
    """The outcome for one target: the chosen setting and what it really costs."""

    target_bpp: float
    policy: str
    setting: float
    bpp: float
    n_bytes: int
    encode_s: float
    encodes: int  # settings this target's search evaluated beyond those already known
    flag: str = ""

    @property
    def rel_error(self) -> float:
        return self.bpp / self.target_bpp - 1.0


@dataclass
class RateSearch:
    """All encodes of one image with one codec, and matching on top of them.

    ``stored`` holds probes from a cache (setting → :class:`Probe`): the search takes sizes from
    it instead of encoding, but walks the same path, so it reports the same number of encodes
    on a re-run. ``on_probe`` is called after each fresh encode, with ``stored`` updated, so a
    caller can persist it. Bitstreams encoded in this session are kept in memory so the chosen one
    need not be encoded twice. With ``cache_only``, an encode raises :class:`CacheMiss` instead.
    """

    codec: Codec
    image: npt.NDArray[np.uint8]
    stored: dict[float, Probe] = field(default_factory=dict)
    on_probe: Callable[[Probe], None] | None = None
    cache_only: bool = False
    known: dict[float, Probe] = field(default_factory=dict, init=False)
    fresh_encodes: int = field(default=0, init=False)
    _bytes: dict[float, bytes] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ encodes
    def probe(self, setting: float) -> Probe:
        """The size at ``setting``: known, stored, or encoded now."""
        setting = self.codec.axis.clip(setting)
        if setting not in self.known:
            if setting not in self.stored:
                self._may_encode(setting)
                start = time.perf_counter()
                data = self.codec.encode(self.image, setting)
                self.stored[setting] = Probe(setting, len(data), time.perf_counter() - start)
                self.fresh_encodes += 1
                self._bytes[setting] = data
                if self.on_probe:
                    self.on_probe(self.stored[setting])
            self.known[setting] = self.stored[setting]
        return self.known[setting]

    def bitstream(self, setting: float) -> bytes:
        """The bytes at ``setting``: from this session's encodes, or encoded again."""
        if setting not in self._bytes:
            self._may_encode(setting)
            self._bytes[setting] = self.codec.encode(self.image, setting)
            self.fresh_encodes += 1
        return self._bytes[setting]

    def _may_encode(self, setting: float) -> None:
        if self.cache_only:
            raise CacheMiss(f"{self.codec.name}: no stored encode at {self.codec.axis.name}={setting}")

    def bpp(self, probe: Probe) -> float:
        return bitstream_bpp(probe.n_bytes, *self.image.shape[:2])

    # ----------------------------------------------------------------- matching
    def match(self, target_bpp: float, policy: Policy = "closest", rtol: float = 0.01) -> Match:
        """Find the setting for ``target_bpp``.

        ``closest`` accepts |bpp/target − 1| ≤ ``rtol``; ``not-above`` accepts
        target·(1 − 2·rtol) ≤ bpp ≤ target. When no setting is acceptable the best one is
        returned with a flag saying why (out of range, or the axis is too coarse).
        """
        if not target_bpp > 0 or not math.isfinite(target_bpp):
            raise InputError(f"target bpp must be a positive number, got {target_bpp}")
        if policy not in POLICIES:
            raise InputError(f"policy must be one of {POLICIES}, got {policy!r}")
        axis = self.codec.axis
        goal = math.log(target_bpp)
        before = set(self.known)
        last_sides: list[bool] = []

        def y(p: Probe) -> float:
            return math.log(self.bpp(p))

        while True:
            if not self.known:
                self.probe(self.codec.initial_setting(target_bpp))
                continue
            best = self._best(target_bpp, policy)
            if self._accepts(best, target_bpp, policy, rtol):
                return self._result(best, target_bpp, policy, before, "")
            if len(set(self.known) - before) >= _MAX_PROBES:
                return self._result(best, target_bpp, policy, before, COARSE_AXIS)
            points = sorted(
                ((axis.to_unit(p.setting), y(p), p) for p in self.known.values()), key=lambda q: q[0]
            )
            if points[-1][1] <= goal:  # everything known is too small
                if points[-1][2].setting == axis.clip(axis.from_unit(1.0)):
                    return self._result(best, target_bpp, policy, before, ABOVE_RANGE)
                candidate = self._step_out(points[-2:], goal, up=True)
            elif points[0][1] > goal:  # everything known is too large
                if points[0][2].setting == axis.clip(axis.from_unit(0.0)):
                    return self._result(best, target_bpp, policy, before, BELOW_RANGE)
                candidate = self._step_out(points[:2], goal, up=False)
            else:
                (t0, y0, _), (t1, y1, _) = next(
                    (a, b) for a, b in zip(points, points[1:]) if a[1] <= goal < b[1]
                )
                stalled = len(last_sides) >= 2 and last_sides[-1] == last_sides[-2]
                t_next = (t0 + t1) / 2 if stalled else t0 + (goal - y0) * (t1 - t0) / (y1 - y0)
                t_next = min(max(t_next, t0 + 0.01 * (t1 - t0)), t1 - 0.01 * (t1 - t0))
                candidate = axis.clip(axis.from_unit(t_next))
                if t1 - t0 < _MIN_WIDTH or candidate in self.known:
                    between = self._between(t0, t1, goal, y0, y1)
                    if between is None:  # no setting left between them
                        return self._result(best, target_bpp, policy, before, COARSE_AXIS)
                    candidate = between
                last_sides.append(y(self.probe(candidate)) <= goal)
                continue
            self.probe(candidate)

    def _step_out(self, points: list[tuple[float, float, Probe]], goal: float, up: bool) -> float:
        """An unknown setting beyond the known range toward the target, from the local slope."""
        axis = self.codec.axis
        t_edge, y_edge, edge = points[-1] if up else points[0]
        slope = 5.0  # log-bpp per unit of axis when no slope is known: ~0.05 to ~8 bpp
        if len(points) == 2 and points[1][1] > points[0][1]:
            slope = (points[1][1] - points[0][1]) / (points[1][0] - points[0][0])
        step = min(max(abs(goal - y_edge) / slope * 1.1, 0.02), 0.5)
        candidate = axis.clip(axis.from_unit(min(max(t_edge + (step if up else -step), 0.0), 1.0)))
        if candidate == edge.setting:  # rounding an integer axis back
            more_bits = up == axis.increasing
            candidate = axis.clip(edge.setting + (1 if more_bits else -1))
        return candidate

    def _between(self, t0: float, t1: float, goal: float, y0: float, y1: float) -> float | None:
        """An unknown setting strictly inside (t0, t1), nearest the interpolated target."""
        axis = self.codec.axis
        if t1 - t0 < _MIN_WIDTH:
            return None
        s0, s1 = sorted((axis.from_unit(t0), axis.from_unit(t1)))
        if axis.integer:
            inner = [float(s) for s in range(math.floor(s0) + 1, math.ceil(s1)) if s not in self.known]
            if not inner:
                return None
            aim = axis.from_unit(t0 + (goal - y0) * (t1 - t0) / (y1 - y0)) if y1 != y0 else (s0 + s1) / 2
            return min(inner, key=lambda s: abs(s - aim))
        middle = axis.from_unit((t0 + t1) / 2)
        return None if middle in self.known else middle

    @staticmethod
    def _accepts(p_bpp: float, target: float, policy: str, rtol: float) -> bool:
        if policy == "closest":
            return abs(p_bpp / target - 1.0) <= rtol
        return target * (1.0 - 2.0 * rtol) <= p_bpp <= target

    def _best(self, target: float, policy: str) -> float:
        """The bpp of the best known point under ``policy`` (its probe via :meth:`_result`); at
        least one point is known."""
        rates = [self.bpp(p) for p in self.known.values()]
        if policy == "not-above":
            under = [r for r in rates if r <= target]
            return max(under) if under else min(rates)
        return min(rates, key=lambda r: abs(r - target))

    def _result(self, best_bpp: float, target: float, policy: str, before: set[float], flag: str) -> Match:
        probe = min(
            (p for p in self.known.values() if self.bpp(p) == best_bpp),
            key=lambda p: self.codec.axis.to_unit(p.setting),
        )
        return Match(
            target,
            policy,
            probe.setting,
            best_bpp,
            probe.n_bytes,
            probe.encode_s,
            len(set(self.known) - before),
            flag,
        )
