"""Codecs on one quality scale from paired comparisons, with honest uncertainty.

* **Thurstone Case V in JOD units** (just-objectionable differences), as in Mantiuk's ``pwcmp``
  (Perez-Ortiz & Mantiuk 2017): P(i preferred to j) = Φ((q_i − q_j) / σ) with σ = 1 / Φ⁻¹(0.75),
  so that a difference of 1 JOD means 75 % of judgements prefer the better codec. Fitted by
  maximum likelihood with SciPy.
* **Bradley–Terry** (logistic instead of Gaussian), fitted by ``choix``'s iterative Luce spectral
  ranking and reported in the same unit, 1 = 75 % preference (log-odds divided by ln 3).

Both fits add a weak Gaussian prior (``PRIOR_SD`` units) on the scores, so that data where one
codec won every comparison still gives a finite scale (pure maximum likelihood would put it at
infinity); with real data its effect is far below the confidence intervals. Scores are centred on
the mean of the ranked codecs.

Confidence intervals come from a two-level bootstrap: each replicate draws raters *and* images
with replacement and keeps every judgement of a drawn rater on a drawn image (as many times as
both were drawn), because judgements of one rater, or on one image, are not independent. Its
double count of judgement-level noise is removed (see :func:`_without_double_count`).

Codecs with no comparison, or linked to the rest only through a separate graph component, are
listed as such and not put on the scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import choix
import numpy as np
import pandas as pd
from scipy import sparse, special, stats
from tqdm import tqdm

from .comparisons import split_not_sure

JOD_SIGMA = 1.0 / stats.norm.ppf(0.75)  # ≈ 1.4826: 1 JOD ↔ 75 % preference
BT_UNIT = np.log(3.0)  # logistic log-odds of 75 % preference
PRIOR_SD = 10.0  # weak prior on scores, in scale units
METHODS = ("thurstone", "bradley_terry")


def comparisons(responses: pd.DataFrame) -> pd.DataFrame:
    """One row per judgement of a codec pair (sentinels and repeats are quality checks, not
    judgements): rater, image, target_bpp, winner, loser, weight. A not-sure answer counts as its
    responses were settled (:func:`~evalkit.study.comparisons.settle_not_sure`; responses that
    were not are split, half a win each way)."""
    r = responses[responses["kind"] == "pair"]
    if "weight" not in r:
        r = split_not_sure(r, "choice", "split")
    left_won = (r["choice"] == "left").to_numpy()
    return pd.DataFrame(
        {
            "rater": r["rater"].to_numpy(),
            "image": r["image"].to_numpy(),
            "target_bpp": r["target_bpp"].to_numpy(dtype=float),
            "winner": np.where(left_won, r["left_codec"], r["right_codec"]),
            "loser": np.where(left_won, r["right_codec"], r["left_codec"]),
            "weight": r["weight"].to_numpy(dtype=float),
        }
    )


def win_matrix(winners: np.ndarray, losers: np.ndarray, k: int, weights=None) -> np.ndarray:
    """W[i, j]: (weighted) number of judgements preferring codec i to codec j."""
    flat = np.bincount(winners * k + losers, weights=weights, minlength=k * k)
    return flat.reshape(k, k).astype(np.float64)


def thurstone_jod(wins: np.ndarray, prior_sd: float = PRIOR_SD) -> np.ndarray:
    """Thurstone Case V scores in JOD (maximum a posteriori under the weak prior; mean 0)."""
    q, _ = thurstone_map(wins, prior_sd)
    return q - q.mean()


def thurstone_map(wins: np.ndarray, prior_sd: float = PRIOR_SD) -> tuple[np.ndarray, np.ndarray]:
    """The maximum a posteriori Thurstone Case V scores (JOD, under an N(0, prior_sd²) prior on
    each score, not centred) and the Hessian of the negative log posterior there, by Newton's
    method on the concave log posterior with a backtracking line search. ``wins`` may hold
    fractional counts, and may be a stack (…, k, k) of independent win matrices, all fitted at
    once (scores (…, k), Hessians (…, k, k)): the active sampler fits every group of a study in
    one go."""
    wins = np.asarray(wins, dtype=np.float64)
    k = wins.shape[-1]
    stack = wins.reshape(-1, k, k)
    alpha = 1.0 / prior_sd**2

    def z_of(q):  # (q_i − q_j) / σ for every ordered pair
        return (q[:, :, None] - q[:, None, :]) / JOD_SIGMA

    def log_posterior(q):
        return (stack * special.log_ndtr(z_of(q))).sum((1, 2)) - alpha / 2 * (q * q).sum(1)

    def derivatives(q):
        z = z_of(q)
        ratio = np.exp(-z * z / 2 - special.log_ndtr(z)) / np.sqrt(2 * np.pi)  # φ(z) / Φ(z)
        pull = stack * ratio
        grad = (pull.sum(2) - pull.sum(1)) / JOD_SIGMA - alpha * q
        curvature = pull * (z + ratio) / JOD_SIGMA**2  # −d² log Φ / dz², per ordered pair
        both = curvature + curvature.transpose(0, 2, 1)
        hessian = -both
        hessian[:, np.arange(k), np.arange(k)] += both.sum(2) + alpha
        return grad, hessian

    q = np.zeros(stack.shape[:2])
    value = log_posterior(q)
    moving = np.ones(len(stack), dtype=bool)
    for _ in range(100):
        grad, hessian = derivatives(q)
        step = np.linalg.solve(hessian, grad[..., None])[..., 0] * moving[:, None]
        scale, new = np.ones(len(stack)), log_posterior(q + step)
        while (short := (new < value - 1e-12) & (scale > 1e-6)).any():
            scale[short] /= 2
            new = log_posterior(q + scale[:, None] * step)
        q, value = q + scale[:, None] * step, new
        moving &= np.abs(scale[:, None] * step).max(1, initial=0) >= 1e-10
        if not moving.any():
            break
    return q.reshape(wins.shape[:-1]), derivatives(q)[1].reshape(wins.shape)


def bradley_terry(wins: np.ndarray, prior_sd: float = PRIOR_SD) -> np.ndarray:
    """Bradley–Terry scores by ``choix`` (MAP, same prior), in units of 75 % preference; mean 0."""
    alpha = 1.0 / (prior_sd * BT_UNIT) ** 2
    theta = choix.ilsr_pairwise_dense(wins, alpha=alpha, max_iter=1000, tol=1e-10)
    return (theta - theta.mean()) / BT_UNIT


FITS = {"thurstone": thurstone_jod, "bradley_terry": bradley_terry}


def connected_groups(wins: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of components, label per codec) of the graph linking codecs ever compared."""
    return sparse.csgraph.connected_components(sparse.csr_matrix(wins + wins.T), directed=False)


@dataclass(frozen=True)
class Ranking:
    """The scale at one bpp: per-codec scores and intervals, adjacent gaps, and notes."""

    scores: pd.DataFrame  # target_bpp, method, codec, score, ci_low, ci_high, rank, comparisons
    gaps: pd.DataFrame  # target_bpp, method, better, worse, gap, ci_low, ci_high, p_value
    notes: list[str]  # codecs not ranked, and why; separated data


def _ranked_subset(wins: np.ndarray, codecs: list[str], bpp: float) -> tuple[np.ndarray, list[str]]:
    """Indices of the codecs to rank (the component with most judgements) and notes on the rest."""
    compared = (wins + wins.T).sum(axis=1) > 0
    notes = [
        f"{bpp:g} bpp: {c} was never compared; not ranked" for c, seen in zip(codecs, compared) if not seen
    ]
    _, labels = connected_groups(wins)
    groups = [g for g in np.unique(labels[compared])]
    if not groups:
        return np.array([], dtype=int), notes
    size = {g: wins[np.ix_(labels == g, labels == g)].sum() for g in groups}
    main = max(groups, key=lambda g: (size[g], -g))
    for g in groups:
        if g != main:
            names = [c for c, label in zip(codecs, labels) if label == g]
            notes.append(
                f"{bpp:g} bpp: {', '.join(names)} compared only among themselves, never with "
                f"{', '.join(c for c, label in zip(codecs, labels) if label == main)}; not ranked"
            )
    keep = np.flatnonzero((labels == main) & compared)
    if len(keep) == 1:
        notes.append(f"{bpp:g} bpp: only {codecs[keep[0]]} left; nothing to rank")
        return np.array([], dtype=int), notes
    sub = wins[np.ix_(keep, keep)]
    for winner, loser in split_links(sub):
        notes.append(
            f"{bpp:g} bpp: {codecs[keep[winner]]} won all {int(sub[winner, loser])} comparisons "
            f"with {codecs[keep[loser]]}; their distance is set by the prior (a lower bound)"
        )
    return keep, notes


def split_links(wins: np.ndarray) -> list[tuple[int, int]]:
    """(winner, loser) of each one-sided pair that spans a split of the data: winner and loser
    are in different strongly connected parts of the graph "i beat j at least once", so no chain
    of wins leads back from the loser to the winner and nothing but the prior bounds how far apart
    they are (Ford 1957: maximum likelihood is finite exactly when that graph is strongly
    connected). A one-sided pair inside such a part is bounded by the data: no note."""
    _, part = sparse.csgraph.connected_components(
        sparse.csr_matrix(wins > 0), directed=True, connection="strong"
    )
    return [
        (a, b) if wins[b, a] == 0 else (b, a)
        for a, b in zip(*np.nonzero(np.triu(wins + wins.T)))
        if (wins[a, b] == 0 or wins[b, a] == 0) and part[a] != part[b]
    ]


class Score(NamedTuple):
    """One codec's score at one bpp by one method: a row of :attr:`Ranking.scores`."""

    target_bpp: float
    method: str
    codec: str
    score: float
    ci_low: float
    ci_high: float
    rank: int
    comparisons: int


class Gap(NamedTuple):
    """The gap between adjacent codecs in a ranking: a row of :attr:`Ranking.gaps`."""

    target_bpp: float
    method: str
    better: str
    worse: str
    gap: float
    ci_low: float
    ci_high: float
    p_value: float


def _frame(rows: list[tuple], row_type) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(row_type._fields))


def rank(
    responses: pd.DataFrame,
    codecs: list[str] = (),
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    methods=METHODS,
    progress: bool = False,
) -> Ranking:
    """Scores per bpp and method with two-level bootstrap intervals (raters and images resampled)
    and the significance of each adjacent gap (two-sided bootstrap p-value). ``codecs`` names the
    study's codecs, so that one never compared is reported."""
    comps = comparisons(responses)
    score_rows, gap_rows, notes = [], [], []
    if comps.empty:
        return Ranking(_frame([], Score), _frame([], Gap), ["no pair judgements: nothing to rank"])
    codecs = sorted(set(codecs) | set(comps["winner"]) | set(comps["loser"]))
    index = {c: n for n, c in enumerate(codecs)}
    raters, rater_idx = np.unique(comps["rater"].astype(str), return_inverse=True)
    images, image_idx = np.unique(comps["image"].astype(str), return_inverse=True)
    for count, what in ((len(raters), "rater"), (len(images), "image")):
        if count == 1:
            notes.append(
                f"all judgements come from one {what}: the intervals cannot show how "
                f"another {what} would differ"
            )
    rng = np.random.default_rng(seed)
    rater_draws, image_draws = _draws(rng, len(raters), n_boot), _draws(rng, len(images), n_boot)
    groups = comps.groupby("target_bpp", sort=True)
    for bpp, group in tqdm(groups, total=groups.ngroups, desc="bootstrap", unit="bpp", disable=not progress):
        w_idx = group["winner"].map(index).to_numpy()
        l_idx = group["loser"].map(index).to_numpy()
        rows = group.index.to_numpy()
        weight = group["weight"].to_numpy()
        wins = win_matrix(w_idx, l_idx, len(codecs), weight)
        keep, bpp_notes = _ranked_subset(wins, codecs, bpp)
        notes += bpp_notes
        if len(keep) < 2:
            continue
        weights = rater_draws[:, rater_idx[rows]] * image_draws[:, image_idx[rows]]
        single = rng.multinomial(len(rows), np.full(len(rows), 1 / len(rows)), size=n_boot)
        replicate = lambda fit, draws: np.array(
            [fit(win_matrix(w_idx, l_idx, len(codecs), b * weight)[np.ix_(keep, keep)]) for b in draws]  # noqa: B023
        ).reshape(len(draws), len(keep))  # noqa: B023
        for method in methods:
            fit = FITS[method]
            scores, gaps = _ranked(
                bpp,
                method,
                [codecs[k] for k in keep],
                fit(wins[np.ix_(keep, keep)]),
                replicate(fit, weights),
                replicate(fit, single),
                level,
                (wins + wins.T).sum(axis=1)[keep],
            )
            score_rows += scores
            gap_rows += gaps
    return Ranking(_frame(score_rows, Score), _frame(gap_rows, Gap), notes)


def _draws(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """``n_boot`` bootstrap resamples of ``n`` units, as how often each unit is drawn."""
    if not n_boot:
        return np.zeros((0, n))
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])


def _ranked(
    bpp: float,
    method: str,
    codecs: list[str],
    point: np.ndarray,
    boot: np.ndarray,
    boot_single: np.ndarray,
    level: float,
    played: np.ndarray,
) -> tuple[list[Score], list[Gap]]:
    """The scores of ``codecs`` at one bpp by one method, best first, and the gaps between
    neighbours, from the point estimate and the two bootstraps (none when they are empty)."""
    tail = (1 - level) / 2
    n_boot = len(boot)
    scores_boot = _without_double_count(boot, boot_single, point) if n_boot else boot
    lo, hi = np.quantile(scores_boot, [tail, 1 - tail], axis=0) if n_boot else (point, point)
    order = np.argsort(-point, kind="stable")
    scores = [
        Score(bpp, method, codecs[n], point[n], lo[n], hi[n], place, int(played[n]))
        for place, n in enumerate(order, start=1)
    ]
    gaps = []
    for better, worse in zip(order[:-1], order[1:]):
        gap = point[better] - point[worse]
        gap_boot = (
            _without_double_count(
                boot[:, better] - boot[:, worse], boot_single[:, better] - boot_single[:, worse], gap
            )
            if n_boot
            else np.array([gap])
        )
        glo, ghi = np.quantile(gap_boot, [tail, 1 - tail])
        p_value = min(1.0, 2 * min((gap_boot <= 0).mean(), (gap_boot >= 0).mean()))
        gaps.append(Gap(bpp, method, codecs[better], codecs[worse], gap, glo, ghi, p_value))
    return scores, gaps


def _without_double_count(boot: np.ndarray, boot_single: np.ndarray, point) -> np.ndarray:
    """Replicates of the raters × images bootstrap pulled toward ``point`` so that their variance
    becomes max(v − v₁, v₁), where v is their variance and v₁ that of a bootstrap of single
    judgements. Resampling raters and images independently (the "pigeonhole" bootstrap, Owen
    2007, Ann. Appl. Stat. 1:2) counts the judgement-level noise once with each factor — about
    v = v_raters + v_images + 2·v₁ — which in 2AFC data, where that noise dominates, makes 95 %
    intervals cover the truth ~99 % of the time; subtracting one v₁ removes the double count."""
    v, v_single = boot.var(axis=0), boot_single.var(axis=0)
    target = np.maximum(v - v_single, v_single)
    factor = np.sqrt(np.divide(target, v, out=np.ones_like(v), where=v > 0)).clip(max=1.0)
    return point + factor * (boot - point)


def preference_matrices(responses: pd.DataFrame) -> pd.DataFrame:
    """Per bpp and ordered codec pair (row, column): judgements and the fraction preferring the
    row codec. Only pairs that were compared appear (no empty cells to fill)."""
    comps = comparisons(responses)
    columns = ["target_bpp", "row", "column", "wins", "judgements", "preference"]
    if comps.empty:
        return pd.DataFrame(columns=columns)
    won = comps.groupby(["target_bpp", "winner", "loser"])["weight"].sum()
    rows = []
    for bpp, a, b in sorted(set(won.index) | {(t, l, w) for t, w, l in won.index}):
        n_ab, n_ba = _count(won.get((bpp, a, b), 0)), _count(won.get((bpp, b, a), 0))
        rows.append((bpp, a, b, n_ab, n_ab + n_ba, n_ab / (n_ab + n_ba)))
    return pd.DataFrame(rows, columns=columns)


def _count(value: float) -> int | float:
    """A count of judgements: whole unless a split not-sure answer made it a half."""
    return int(value) if float(value).is_integer() else float(value)


def pair_counts(responses: pd.DataFrame) -> pd.DataFrame:
    """Per (image, bpp, codec pair, A = first alphabetically): n_a, n_b, judgements, p_a (a split
    not-sure answer adds ½ to n_a and to n_b)."""
    comps = comparisons(responses)
    columns = ["image", "target_bpp", "codec_a", "codec_b", "n_a", "n_b", "judgements", "p_a"]
    if comps.empty:
        return pd.DataFrame(columns=columns)
    a = np.minimum(comps["winner"], comps["loser"])
    frame = comps.assign(
        codec_a=a,
        codec_b=np.maximum(comps["winner"], comps["loser"]),
        chose_a=(comps["winner"] == a) * comps["weight"],
    )
    table = (
        frame.groupby(["image", "target_bpp", "codec_a", "codec_b"], sort=True)
        .agg(n_a=("chose_a", "sum"), judgements=("weight", "sum"))
        .reset_index()
    )
    table["n_a"], table["judgements"] = table["n_a"].map(_count), table["judgements"].map(_count)
    table["n_b"] = table["judgements"] - table["n_a"]
    table["p_a"] = table["n_a"] / table["judgements"]
    return table[columns]
