"""Observer outlier analysis after pwcmp's ``pw_outlier_analysis`` (Perez-Ortiz & Mantiuk, "A
practical guide and software for analysing pairwise comparison experiments", 2017, §9).

For each rater and each scene (one image at one target bpp) the codecs are scaled in JOD from
every *other* rater's judgements of that scene (Thurstone Case V, :func:`~evalkit.study.ranking.thurstone_jod`),
and the rater's own judgements there get their binomial log-likelihood under that scale. A
rater's likelihood L is the sum over scenes; as in pwcmp, the outlier score is the distance
below the lower quartile in units of the interquartile range, (Q1 − L) / IQR (0 above Q1), and
a rater who answers unlike the rest (an inverted or careless one) has a large score.

One change from pwcmp, whose observers all judge the same pairs: here raters judge different
numbers of pairs (a study's assignments differ, some raters leave early), so L is the mean log-
likelihood per judgement, which keeps a rater with many answers from looking worse for that alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .ranking import JOD_SIGMA, comparisons, thurstone_jod, win_matrix

OUTLIER_COLUMNS = ["rater", "judgements", "log_likelihood", "outlier_score", "outlier"]
#: Raters further below the lower quartile than this many IQRs are listed (Tukey's fence); pwcmp
#: suggests a look at any score above 1.
OUTLIER_THRESHOLD = 1.5


def outlier_scores(responses: pd.DataFrame, threshold: float = OUTLIER_THRESHOLD) -> pd.DataFrame:
    """Per rater who judged a pair: judgements, mean leave-one-rater-out log-likelihood per
    judgement, outlier score and whether it is above ``threshold``."""
    comps = comparisons(responses)
    if comps.empty:
        return pd.DataFrame(columns=OUTLIER_COLUMNS)
    codecs = sorted(set(comps["winner"]) | set(comps["loser"]))
    index = {c: n for n, c in enumerate(codecs)}
    comps = comps.assign(w=comps["winner"].map(index), l=comps["loser"].map(index))
    total = {rater: 0.0 for rater in comps["rater"].unique()}
    for _, scene in comps.groupby(["image", "target_bpp"], sort=False):
        everyone = win_matrix(scene["w"].to_numpy(), scene["l"].to_numpy(), len(codecs))
        for rater, own in scene.groupby("rater", sort=False):
            mine = win_matrix(own["w"].to_numpy(), own["l"].to_numpy(), len(codecs))
            jod = thurstone_jod(everyone - mine)
            p = stats.norm.cdf((jod[:, None] - jod[None, :]) / JOD_SIGMA)     # P(row preferred to column)
            upper = np.triu(np.ones_like(p, dtype=bool), 1) & (mine + mine.T > 0)
            likelihood = stats.binom.pmf(mine[upper], (mine + mine.T)[upper], p[upper])
            total[rater] += float(np.log(np.maximum(likelihood, 1e-200)).sum())
    counts = comps.groupby("rater").size()
    table = pd.DataFrame({"rater": list(total), "judgements": [int(counts[r]) for r in total]})
    table["log_likelihood"] = [total[r] / counts[r] for r in total]
    q1, q3 = np.quantile(table["log_likelihood"], [0.25, 0.75])
    iqr = q3 - q1
    below = (q1 - table["log_likelihood"]).clip(lower=0)
    table["outlier_score"] = below / iqr if iqr > 0 else np.where(below > 0, np.inf, 0.0)
    table["outlier"] = table["outlier_score"] > threshold
    return table.sort_values("outlier_score", ascending=False, kind="stable").reset_index(drop=True)[OUTLIER_COLUMNS]
