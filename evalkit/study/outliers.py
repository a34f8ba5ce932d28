"""Observer outlier analysis after pwcmp's ``pw_outlier_analysis`` (Perez-Ortiz & Mantiuk, "A
practical guide and software for analysing pairwise comparison experiments", 2017, §9), with an
absolute floor that does not depend on the crowd.

For each rater and each scene (one image at one target bpp in evalkit's studies; one image of one
condition in an imported table) the stimuli are scaled in JOD from every *other* rater's
judgements of that scene (Thurstone Case V, :func:`~evalkit.study.ranking.thurstone_jod` unless
another ``scale`` is given), and the rater's own judgements there are scored under that scale.

* **Likelihood.** ``"bernoulli"`` (the default): each judgement's log-likelihood, log P(the side
  chosen), averaged over the rater's judgements (a not-sure answer split in half counts half a
  judgement each way). It does not depend on how often a rater saw a pair. ``"pwcmp"``:
  pwcmp's own — per compared pair the base-10 log of the binomial probability of the rater's k of
  n (with its log C(n, k)), averaged over the pairs; a rater who repeats pairs scores lower for
  that alone, so it is here to reproduce pwcmp's numbers.
* **Relative score** (pwcmp's ``dist_L``): the distance of the rater's likelihood L below the
  crowd's lower quartile, (Q1 − L) / IQR, 0 above Q1, quartiles as MATLAB's ``quantile`` and
  ``iqr`` compute them (Hyndman & Fan type 5, ``numpy.quantile(method="hazen")``; numpy's default
  type 7 puts Q1 lower and the scores up to ~30 % higher). A rater above ``threshold`` (1.5,
  Tukey's fence; pwcmp suggests a look above 1) is an outlier. Because the cut-off is relative, a
  crowd with many bad raters (AIC-3's PTC: about 45 %) moves the quartiles and flags none.
* **Absolute floor.** The rater's *skill*, (L − L_chance) / (L_ideal − L_chance), on the Bernoulli
  likelihood: 1 for a rater who answers as the others' scale predicts (L_ideal = the mean of
  p log p + (1 − p) log(1 − p) over their judgements), 0 for one answering at random
  (L_chance = the mean of ½ log p + ½ log(1 − p)), negative for one answering the other way
  round. A rater whose skill is below ``floor`` (default :data:`SKILL_FLOOR` = 0.25: no more than
  a quarter of the way from a coin to the crowd) is an outlier whatever the rest of the crowd does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from . import comparisons as cmp
from .ranking import JOD_SIGMA, comparisons, thurstone_jod, win_matrix

OUTLIER_COLUMNS = ["rater", "judgements", "log_likelihood", "outlier_score", "skill", "outlier"]
#: Raters further below the lower quartile than this many IQRs are listed (Tukey's fence); pwcmp
#: suggests a look at any score above 1.
OUTLIER_THRESHOLD = 1.5
#: Raters with less skill than this (0 = answering at random, 1 = as the others' scale predicts)
#: are outliers whatever the crowd (see the module's docstring).
SKILL_FLOOR = 0.25
LIKELIHOODS = ("bernoulli", "pwcmp")


def quartiles(values) -> tuple[float, float]:
    """(Q1, Q3) as MATLAB's ``quantile``/``iqr`` compute them (type 5, piecewise linear with the
    k-th of n sorted values at (k − ½)/n), which pwcmp's ``pw_outlier_analysis`` uses."""
    q1, q3 = np.quantile(np.asarray(values, dtype=float), [0.25, 0.75], method="hazen")
    return float(q1), float(q3)


def observer_likelihoods(
    judgements: pd.DataFrame, likelihood: str = "bernoulli", scale=thurstone_jod
) -> pd.DataFrame:
    """Per rater of ``judgements`` (columns rater, scene, winner, loser, weight): judgements, the
    mean leave-one-rater-out log-likelihood (see the module's docstring for ``likelihood``) and
    the skill. ``scale`` maps a win matrix to JOD scores."""
    if likelihood not in LIKELIHOODS:
        raise InputError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, not {likelihood!r}")
    weights = judgements["weight"].to_numpy(dtype=float)
    if likelihood == "pwcmp" and np.any(weights != np.round(weights)):
        raise InputError(
            "pwcmp's binomial likelihood needs whole judgements: drop not-sure answers "
            "(not_sure='drop') or use the Bernoulli likelihood"
        )
    items = sorted(set(judgements["winner"]) | set(judgements["loser"]))
    index = {c: n for n, c in enumerate(items)}
    j = judgements.assign(w=judgements["winner"].map(index), l=judgements["loser"].map(index))
    raters = list(dict.fromkeys(j["rater"]))
    sums = {r: np.zeros(6) for r in raters}  # likelihood, its units, Bernoulli, chance, ideal, judgements
    for _, scene in j.groupby("scene", sort=False):
        everyone = win_matrix(
            scene["w"].to_numpy(), scene["l"].to_numpy(), len(items), scene["weight"].to_numpy(float)
        )
        for rater, own in scene.groupby("rater", sort=False):
            mine = win_matrix(
                own["w"].to_numpy(), own["l"].to_numpy(), len(items), own["weight"].to_numpy(float)
            )
            jod = scale(everyone - mine)
            p = stats.norm.cdf((jod[:, None] - jod[None, :]) / JOD_SIGMA)  # P(row preferred to column)
            pair = mine + mine.T
            upper = np.triu(np.ones_like(p, dtype=bool), 1) & (pair > 0)
            k, n, pu = mine[upper], pair[upper], p[upper]
            bernoulli = (k * _log(pu) + (n - k) * _log(1 - pu)).sum()
            chance = (n * (_log(pu) + _log(1 - pu)) / 2).sum()
            ideal = (n * (pu * _log(pu) + (1 - pu) * _log(1 - pu))).sum()
            if likelihood == "pwcmp":
                value = np.log10(np.maximum(stats.binom.pmf(np.round(k), np.round(n), pu), 1e-200)).sum()
                units = upper.sum()
            else:
                value, units = bernoulli, n.sum()
            sums[rater] += [value, units, bernoulli, chance, ideal, n.sum()]
    rows = []
    for rater, (value, units, bernoulli, chance, ideal, n) in sums.items():
        skill = (bernoulli - chance) / (ideal - chance) if ideal - chance > 1e-9 else np.nan
        rows.append((rater, n, value / max(units, 1), skill))
    return pd.DataFrame(rows, columns=["rater", "judgements", "log_likelihood", "skill"])


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, 1e-200))


def flag(
    likelihoods: pd.DataFrame, threshold: float = OUTLIER_THRESHOLD, floor: float | None = SKILL_FLOOR
) -> pd.DataFrame:
    """``likelihoods`` with the relative outlier score, pwcmp's ``dist_L`` (type-5 quartiles), and
    ``outlier``: above ``threshold``, or skill below ``floor`` (None: no floor). Worst first."""
    table = likelihoods.copy()
    if table.empty:
        return table.assign(outlier_score=[], outlier=[])[OUTLIER_COLUMNS]
    q1, q3 = quartiles(table["log_likelihood"])
    iqr = q3 - q1
    below = (q1 - table["log_likelihood"]).clip(lower=0)
    table["outlier_score"] = below / iqr if iqr > 0 else np.where(below > 0, np.inf, 0.0)
    table["outlier"] = table["outlier_score"] > threshold
    if floor is not None:
        table["outlier"] |= table["skill"].fillna(np.inf) < floor
    return table.sort_values("outlier_score", ascending=False, kind="stable").reset_index(drop=True)[
        OUTLIER_COLUMNS
    ]


def outlier_scores(
    responses: pd.DataFrame,
    threshold: float = OUTLIER_THRESHOLD,
    floor: float | None = SKILL_FLOOR,
    likelihood: str = "bernoulli",
) -> pd.DataFrame:
    """Per rater of evalkit's responses who judged a pair: judgements, mean leave-one-rater-out
    log-likelihood, outlier score, skill and whether the rater is an outlier. A scene is one
    image at one target bpp; not-sure answers count as the responses carry them
    (:func:`~evalkit.study.ranking.comparisons`)."""
    comps = comparisons(responses)
    if comps.empty:
        return pd.DataFrame(columns=OUTLIER_COLUMNS)
    judgements = comps.assign(scene=list(zip(comps["image"], comps["target_bpp"])))
    return flag(observer_likelihoods(judgements, likelihood), threshold, floor)


def comparison_outliers(
    table: pd.DataFrame,
    not_sure: str = "split",
    threshold: float = OUTLIER_THRESHOLD,
    floor: float | None = SKILL_FLOOR,
    likelihood: str = "bernoulli",
    scale=thurstone_jod,
) -> pd.DataFrame:
    """The same for a comparison table (:mod:`evalkit.study.comparisons`): a scene is one image of
    one condition, plain or boosted, and the crowd whose quartiles the relative score takes is the
    raters of one condition (AIC-3's PTC and BTC are separate experiments with separate workers); traps are left out (:func:`~evalkit.study.screening.trap_screening`
    uses them) and
    not-sure answers are split or dropped (``not_sure``)."""
    decided = cmp.judgements(cmp.check_comparisons(table)[~table[cmp.TRAP]], not_sure)
    if decided.empty:
        return pd.DataFrame(columns=OUTLIER_COLUMNS)
    judgements = decided.assign(
        scene=list(zip(decided[cmp.CONDITION], decided[cmp.IMAGE], decided[cmp.BOOSTED]))
    )
    parts = [
        flag(observer_likelihoods(part, likelihood, scale), threshold, floor)
        for _, part in judgements.groupby(cmp.CONDITION, sort=True)
    ]
    return (
        pd.concat(parts).sort_values("outlier_score", ascending=False, kind="stable").reset_index(drop=True)
    )
