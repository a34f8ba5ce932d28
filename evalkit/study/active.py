"""Active sampling of 2AFC pairs: which comparisons to ask for next, and when to stop asking.

After ASAP (Mikhailiuk, Wilmot, Perez-Ortiz, Yue & Mantiuk, "Active sampling for pairwise
comparisons via approximate message passing and information gain maximization", ICPR 2020):

* **Posterior.** The conditions of a *group* — the codecs on one image at one target bpp —
  have a Gaussian posterior over their qualities on the JOD scale of
  :mod:`~evalkit.study.ranking` (Thurstone Case V, 1 JOD = 75 % preference): the Laplace
  approximation at the MAP under the analysis' own weak prior (``ranking.PRIOR_SD``), whose
  covariance is the inverse Hessian of the negative log posterior. ASAP reaches the same kind
  of Gaussian by approximate message passing (TrueSkill); the Laplace form is exact to the
  same order here and reuses the analysis' fit (:func:`~evalkit.study.ranking.thurstone_map`).
* **Expected information gain** of comparing i with j: Σ_y P(y) · KL(p(q | y) ‖ p(q)) over the
  two outcomes y, with p(q | y) the Gaussian after one more outcome by moment matching of the
  probit likelihood (assumed-density filtering, as in TrueSkill and ASAP's approximate EIG).
  That update changes only the marginal of d = q_i − q_j (the rest is conditioned on d as
  before), so the KL of the whole posterior is the one-dimensional KL of d's marginal, which
  :func:`information_gain` computes in closed form.
* **Batches.** An assignment asks for many pairs at once. As in ASAP's batch mode, the pairs are
  the edges of a minimum spanning tree over the candidate graph weighted by 1 / EIG — here a
  forest, one tree per group — so one assignment spreads over the graph instead of asking the
  single most informative pair many times. The forest's edges are taken in order of gain; if
  the assignment has room, they count as pending and the next round's forest over the pairs not
  yet taken follows, until the assignment is full.
* **Pending.** Pairs leased to raters who have not answered yet count as answered at the
  posterior's predictive probability (fractional wins), so raters working at once are sent
  to different pairs.
* **Stopping** (:func:`precision`): per target bpp, every codec judged on one scale (the
  judgements pooled over images, as the analysis ranks them), with the 95 % interval of each
  gap between neighbours in the ranking from the same Laplace posterior.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse, special, stats

from .ranking import JOD_SIGMA, PRIOR_SD, connected_groups, thurstone_map

Group = tuple[str, float]  # (image, target bpp)


@dataclass(frozen=True)
class Candidate:
    """A pair that may be asked for: two codecs on one image at one target bpp (at matched bpp)."""

    image: str
    target_bpp: float
    a: str
    b: str

    @property
    def group(self) -> Group:
        return self.image, self.target_bpp


@dataclass(frozen=True)
class Judgement:
    image: str
    target_bpp: float
    winner: str
    loser: str


def counted(judgements: Iterable[Judgement] | Mapping[Judgement, float]):
    """(judgement, times) pairs of a list of judgements (each once) or of a tally (a
    ``Counter`` of judgements, as a served study keeps them: its size is bounded by the
    candidates, not by the answers)."""
    return judgements.items() if isinstance(judgements, Mapping) else ((j, 1) for j in judgements)


def posterior(wins: np.ndarray, prior_sd: float = PRIOR_SD) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the Laplace posterior over JOD scores given ``wins[i, j]``, the
    (possibly fractional) number of judgements preferring condition i to j; ``wins`` may be a
    stack (…, k, k) of independent groups (means (…, k), covariances (…, k, k))."""
    mean, hessian = thurstone_map(wins, prior_sd)
    return mean, np.linalg.inv(hessian)


def _difference(mean, cov, i, j, b=...):
    """Mean and variance of q_i − q_j (of group ``b`` where ``mean`` and ``cov`` are stacks)."""
    return mean[b, i] - mean[b, j], cov[b, i, i] + cov[b, j, j] - 2 * cov[b, i, j]


def _preference(mu, s2):
    return special.ndtr(mu / np.sqrt(JOD_SIGMA**2 + s2))


def predictive(mean: np.ndarray, cov: np.ndarray, i, j) -> np.ndarray:
    """P(i is preferred to j) under the posterior: Φ(μ_d / √(σ² + s_d²))."""
    return _preference(*_difference(mean, cov, i, j))


def information_gain(mean: np.ndarray, cov: np.ndarray, i, j) -> np.ndarray:
    """Expected KL divergence (nats) between the posterior after comparing i with j and the
    posterior now, for index arrays ``i``, ``j`` (see the module docstring)."""
    return _gain(*_difference(mean, cov, np.asarray(i), np.asarray(j)))


def _gain(mu, s2):
    c = np.sqrt(JOD_SIGMA**2 + s2)
    gain = np.zeros(np.shape(mu))
    for sign in (1.0, -1.0):  # i preferred, then j preferred
        z = sign * mu / c
        p = special.ndtr(z)
        v = np.exp(stats.norm.logpdf(z) - special.log_ndtr(z))  # φ(z) / Φ(z)
        shrink = 1 - s2 / c**2 * v * (v + z)  # var_after / var_now of d
        shift2 = (s2 / c * v) ** 2  # (mean_after − mean_now)²
        gain += p * 0.5 * (shrink + shift2 / s2 - 1 - np.log(shrink))
    return gain


class PairGraph:
    """The candidate pairs of a study, grouped: each group's codecs are its conditions. Groups
    with as many conditions are stacked, so one posterior fit serves them all (a plan costs
    a few array operations, not a fit per group)."""

    def __init__(self, candidates: list[Candidate]):
        self.candidates = list(candidates)
        codecs: dict[Group, set[str]] = defaultdict(set)
        for c in self.candidates:
            codecs[c.group] |= {c.a, c.b}
        self.groups = {g: sorted(names) for g, names in sorted(codecs.items())}
        self.index = {g: {name: n for n, name in enumerate(names)} for g, names in self.groups.items()}
        offsets = np.cumsum([0] + [len(n) for n in self.groups.values()])
        self.offset = dict(zip(self.groups, offsets[:-1].tolist()))
        self.nodes = int(offsets[-1])
        self.stacked: dict[int, list[Group]] = defaultdict(list)  # size → its groups, in order
        for g, names in self.groups.items():
            self.stacked[len(names)].append(g)
        self.slot = {g: (len(self.groups[g]), n) for gs in self.stacked.values() for n, g in enumerate(gs)}
        # Every candidate's size of group, place in that size's stack, and ends in its group.
        rows = [
            (*self.slot[c.group], self.index[c.group][c.a], self.index[c.group][c.b]) for c in self.candidates
        ]
        self._size, self._b, self._i, self._j = np.array(rows, dtype=int).reshape(-1, 4).T

    def wins(self, judgements, pending=(), prior_sd: float = PRIOR_SD) -> dict[int, np.ndarray]:
        """Per group size, the stacked win matrices of its groups (in the order of
        ``stacked``) from ``judgements`` (a list or a tally, see :func:`counted`); a pending
        candidate (its number) adds its predictive probability to each side's wins, under the
        posterior of the judgements."""
        tallies = {size: np.zeros((len(gs), size, size)) for size, gs in self.stacked.items()}
        for j, times in counted(judgements):
            group = (j.image, j.target_bpp)
            where = self.index.get(group)
            if where is not None and j.winner in where and j.loser in where:
                size, b = self.slot[group]
                tallies[size][b, where[j.winner], where[j.loser]] += times
        pending = np.asarray(pending, dtype=int)
        for size, wins in tallies.items():
            waiting = pending[self._size[pending] == size]
            if len(waiting):
                b, i, j = self._b[waiting], self._i[waiting], self._j[waiting]
                p = _preference(*_difference(*posterior(wins, prior_sd), i, j, b))
                np.add.at(wins, (b, i, j), p)
                np.add.at(wins, (b, j, i), 1 - p)
        return tallies

    def gains(self, judgements, pending=(), prior_sd: float = PRIOR_SD) -> np.ndarray:
        """The expected information gain of every candidate."""
        gain = np.zeros(len(self.candidates))
        for size, wins in self.wins(judgements, pending, prior_sd).items():
            numbers = np.flatnonzero(self._size == size)
            mean, cov = posterior(wins, prior_sd)
            gain[numbers] = _gain(
                *_difference(mean, cov, self._i[numbers], self._j[numbers], self._b[numbers])
            )
        return gain

    def choose(
        self,
        judgements,
        pending=(),
        size: int = 20,
        rng: np.random.Generator | None = None,
        prior_sd: float = PRIOR_SD,
    ) -> list[int]:
        """Up to ``size`` distinct candidates (numbers) to ask for next, in rounds: each round
        takes the edges of the minimum spanning forest over 1 / EIG among the candidates not yet
        taken, in order of gain, and counts them as pending for the next round's gains. Ties
        (as at the start, when every pair is alike) are broken by ``rng``."""
        rng = rng or np.random.default_rng()
        ends = np.array(
            [
                (
                    self.offset[c.group] + self.index[c.group][c.a],
                    self.offset[c.group] + self.index[c.group][c.b],
                )
                for c in self.candidates
            ]
        )
        chosen: list[int] = []
        while len(chosen) < min(size, len(self.candidates)):
            gain = self.gains(judgements, [*pending, *chosen], prior_sd)
            free = np.setdiff1d(np.arange(len(gain)), chosen)
            forest = sparse.csgraph.minimum_spanning_tree(
                sparse.coo_matrix(
                    (1.0 / np.maximum(gain[free], 1e-300), tuple(ends[free].T)), shape=(self.nodes,) * 2
                ).tocsr()
            )
            tree = {tuple(e) for e in np.transpose(forest.nonzero())}
            taken = free[[(a, b) in tree or (b, a) in tree for a, b in ends[free]]]
            taken = rng.permutation(taken)
            chosen += taken[np.argsort(-gain[taken], kind="stable")][: size - len(chosen)].tolist()
        return chosen


@dataclass(frozen=True)
class Gap:
    """Two neighbours in one bpp's ranking and the 95 % interval of their JOD difference."""

    target_bpp: float
    better: str
    worse: str
    gap: float
    width: float


def precision(graph: PairGraph, judgements, level: float = 0.95, prior_sd: float = PRIOR_SD) -> list[Gap]:
    """Per target bpp, the gaps between neighbours in the ranking of the codecs that can be
    compared there (within each connected part of the candidate graph), pooled over images.
    ``judgements``: a list or a tally (:func:`counted`)."""
    tail = stats.norm.ppf(0.5 + level / 2)
    gaps = []
    for bpp in sorted({bpp for _, bpp in graph.groups}):
        names = sorted({n for (_, b), codecs in graph.groups.items() if b == bpp for n in codecs})
        where = {n: k for k, n in enumerate(names)}
        linked, wins = np.zeros((len(names),) * 2), np.zeros((len(names),) * 2)
        for c in graph.candidates:
            if c.target_bpp == bpp:
                linked[where[c.a], where[c.b]] = 1
        for j, times in counted(judgements):
            if j.target_bpp == bpp and j.winner in where and j.loser in where:
                wins[where[j.winner], where[j.loser]] += times
        mean, cov = posterior(wins, prior_sd)
        _, part = connected_groups(linked)
        for label in np.unique(part):
            members = np.flatnonzero(part == label)
            order = members[np.argsort(-mean[members], kind="stable")]
            for better, worse in zip(order[:-1], order[1:]):
                mu, s2 = _difference(mean, cov, better, worse)
                gaps.append(Gap(bpp, names[better], names[worse], float(mu), float(2 * tail * np.sqrt(s2))))
    return gaps
