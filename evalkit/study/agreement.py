"""How much raters agree with each other, and the ceiling that puts on any metric.

For a compared pair (image, bpp, codec A, codec B) where a fraction p of people prefer A:

* two random raters agree with probability a = p² + (1 − p)²; with k of n judgements for A the
  unbiased estimate is [k(k − 1) + (n − k)(n − k − 1)] / [n(n − 1)], the share of agreeing
  ordered pairs of judgements — here only pairs of judgements by two different raters;
* a metric's expected 2AFC score on the pair (Zhang et al. 2018; :mod:`evalkit.fit.scoring`) is at
  most max(p, 1 − p) = (1 + √(2a − 1)) / 2 — the score of a metric that always sides with the
  majority. Averaged over pairs this is the **ceiling**: no metric can expect to beat it on new
  judgements of these pairs;
* on the judgements at hand, the same bound computed from the observed fractions, mean
  max(p̂, 1 − p̂), is what a metric could at most score on exactly this table (it is higher than
  the ceiling, since p̂ also carries sampling noise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fit.scoring import bootstrap_ci, preferences, score_2afc
from ..metrics import metric
from . import ranking


def rater_agreement(responses: pd.DataFrame) -> dict:
    """Agreement between two different raters, the ceiling it implies, and the best score any
    metric could reach on these judgements. Agreement counts only pairs of judgements by
    different raters, so a rater who saw a pair twice does not agree with themself; pairs no two
    raters judged are left out of it, and if none is left the values are None and ``note`` says why.
    Not-sure answers are left out here (a half-judgement has no agreeing pairs to count)."""
    comps = ranking.comparisons(responses)
    return agreement_of(comps[comps["weight"] == 1])


def agreement_of(comps: pd.DataFrame) -> dict:
    """:func:`rater_agreement` of decided judgements given as rater, image, target_bpp, winner,
    loser (one row per judgement; a pair is (image, target_bpp, unordered winner/loser))."""
    summary = {
        "pairs": 0,
        "pairs_judged_by_two_raters": 0,
        "agreement": None,
        "ceiling": None,
        "best_possible_on_these_judgements": None,
        "note": "",
    }
    if comps.empty:
        summary["note"] = "no pair judgements"
        return summary
    a = np.minimum(comps["winner"], comps["loser"])
    votes = (
        comps.assign(codec_a=a, codec_b=np.maximum(comps["winner"], comps["loser"]), k=comps["winner"] == a)
        .groupby(["image", "target_bpp", "codec_a", "codec_b", "rater"])["k"]
        .agg(k="sum", n="count")
    )
    same = lambda k, n: k * (k - 1) + (n - k) * (n - k - 1)  # ordered agreeing pairs
    per_rater = pd.DataFrame(
        {
            "k": votes["k"],
            "n": votes["n"],
            "same": same(votes["k"], votes["n"]),
            "all": votes["n"] * (votes["n"] - 1),
        }
    )
    pair = per_rater.groupby(level=[0, 1, 2, 3]).sum()
    between = (same(pair["k"], pair["n"]) - pair["same"]).to_numpy(float)
    total = (pair["n"] * (pair["n"] - 1) - pair["all"]).to_numpy(float)
    p_hat = (pair["k"] / pair["n"]).to_numpy(float)
    summary.update(
        pairs=len(pair),
        pairs_judged_by_two_raters=int((total > 0).sum()),
        best_possible_on_these_judgements=float(np.maximum(p_hat, 1 - p_hat).mean()),
    )
    if not (total > 0).any():
        summary["note"] = "no pair was judged by two raters: agreement and ceiling cannot be estimated"
        return summary
    agree = between[total > 0] / total[total > 0]
    summary["agreement"] = float(agree.mean())
    summary["ceiling"] = float(((1 + np.sqrt(np.clip(2 * agree - 1, 0, 1))) / 2).mean())
    return summary


def metric_scores(table: pd.DataFrame, metrics: list[str], model=None, seed: int = 0) -> pd.DataFrame:
    """2AFC score with a 95 % bootstrap interval of each metric (its columns ``<column>_a`` and
    ``<column>_b`` in a judgement table with ``p_a``; its direction from the metric registry),
    and of a fitted :class:`~evalkit.fit.model.CombinationModel` if given."""
    margins = {}
    for name in metrics:
        declared = metric(name, "pair")
        sign = 1.0 if declared.higher_is_better else -1.0
        column = declared.column
        margins[column] = sign * (table[f"{column}_a"].to_numpy(float) - table[f"{column}_b"].to_numpy(float))
    if model is not None:
        quality = lambda side: model.quality(table[[f"{c}_{side}" for c in model.columns]].to_numpy(float))
        margins["combined(" + "+".join(model.metrics) + ")"] = quality("a") - quality("b")
    rows = []
    for name, margin in margins.items():
        scores = score_2afc(preferences(margin), table["p_a"].to_numpy(float))
        low, high = bootstrap_ci(scores, seed=seed) if len(scores) >= 2 else (scores.mean(), scores.mean())
        rows.append((name, float(scores.mean()), low, high))
    return pd.DataFrame(rows, columns=["metric", "score_2afc", "ci_low", "ci_high"])
