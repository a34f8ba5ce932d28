"""Rater quality and screening: who is left out of the analysis, and why.

Each rater is measured on the study's own checks — sentinel accuracy (the original against a
strongly degraded copy: a known answer), repeat consistency (the same codec chosen when a trial
comes back with its sides swapped) and implausibly fast answers — and excluded when a rule in
:class:`ScreeningRules` fails. Every exclusion carries its reasons, so a reader can disagree.
Timing uses the server's measurement (``server_ms``) where the responses carry it, else
the page's own (``response_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import comparisons as cmp
from .outliers import OUTLIER_THRESHOLD, SKILL_FLOOR, comparison_outliers

QUALITY_COLUMNS = [
    "rater",
    "answers",
    "sentinels",
    "sentinel_accuracy",
    "repeats",
    "repeat_consistency",
    "median_response_s",
    "median_server_s",
    "fast_share",
    "magnifier_share",
]


@dataclass(frozen=True)
class ScreeningRules:
    """Exclusion rules; a rule whose measurement a rater lacks (no sentinel answered) is not applied."""

    min_sentinel_accuracy: float | None = 0.8
    # Off by default: with a few repeats per rater, an attentive rater is inconsistent on close
    # pairs about as often as a careless one (each answer of a 60/40 pair flips 48 % of the time).
    min_repeat_consistency: float | None = None
    fast_answer_s: float = 0.6  # nobody compares three images this quickly
    max_fast_share: float | None = 0.25  # exclude raters with more of their answers that fast

    def describe(self) -> str:
        rules = []
        if self.min_sentinel_accuracy is not None:
            rules.append(f"sentinel accuracy ≥ {self.min_sentinel_accuracy:g}")
        if self.min_repeat_consistency is not None:
            rules.append(f"repeat consistency ≥ {self.min_repeat_consistency:g}")
        if self.max_fast_share is not None:
            rules.append(f"at most {self.max_fast_share:.0%} of answers under {self.fast_answer_s:g} s")
        return "; ".join(rules) or "no rules"


def _response_seconds(responses: pd.DataFrame) -> pd.Series:
    column = "server_ms" if "server_ms" in responses else "response_ms"
    return responses[column].astype(float) / 1000


def rater_quality(
    responses: pd.DataFrame, fast_answer_s: float = ScreeningRules.fast_answer_s
) -> pd.DataFrame:
    """Per rater: answers, sentinels answered and their accuracy, repeats answered and their
    consistency, median response time as the page and as the server measured it, share of answers
    under ``fast_answer_s`` (by the server's clock where there is one), and the share of
    time spent with the magnifier. Accuracy and consistency are empty (NaN) for a rater who
    answered no sentinel or repeat."""
    if responses.empty:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    r = responses.assign(
        seconds=_response_seconds(responses),
        page_s=responses["response_ms"] / 1000,
        server_s=responses["server_ms"] / 1000 if "server_ms" in responses else np.nan,
    )
    by_trial = r.set_index("trial")["chosen_codec"]
    sentinels = r[r["kind"] == "sentinel"].assign(ok=lambda d: d["choice"] == d["correct"])
    repeats = r[(r["kind"] == "repeat") & r["repeat_of"].isin(by_trial.index)]
    repeats = repeats.assign(
        ok=repeats["chosen_codec"].to_numpy() == by_trial[repeats["repeat_of"]].to_numpy()
    )
    table = r.groupby("rater").agg(
        answers=("trial", "count"),
        median_response_s=("page_s", "median"),
        median_server_s=("server_s", "median"),
        fast_share=("seconds", lambda v: float((v < fast_answer_s).mean())),
        magnifier_ms=("magnifier_ms", "sum"),
        response_ms=("response_ms", "sum"),
    )
    table["sentinels"] = sentinels.groupby("rater").size().reindex(table.index, fill_value=0)
    table["sentinel_accuracy"] = sentinels.groupby("rater")["ok"].mean()
    table["repeats"] = repeats.groupby("rater").size().reindex(table.index, fill_value=0)
    table["repeat_consistency"] = repeats.groupby("rater")["ok"].mean()
    table["magnifier_share"] = (
        table["magnifier_ms"] / table["response_ms"].where(table["response_ms"] > 0)
    ).fillna(0.0)
    return table.reset_index()[QUALITY_COLUMNS]


def screen(responses: pd.DataFrame, rules: ScreeningRules = ScreeningRules()) -> pd.DataFrame:
    """:func:`rater_quality` plus ``excluded`` (bool) and ``reasons`` (empty for kept raters)."""
    quality = rater_quality(responses, rules.fast_answer_s)
    reasons = [[] for _ in range(len(quality))]
    checks = [
        ("sentinel_accuracy", rules.min_sentinel_accuracy, "sentinel accuracy {:.0%} < {:.0%}"),
        ("repeat_consistency", rules.min_repeat_consistency, "repeat consistency {:.0%} < {:.0%}"),
    ]
    for column, minimum, text in checks:
        if minimum is None:
            continue
        for n, value in enumerate(quality[column]):
            if pd.notna(value) and value < minimum:
                reasons[n].append(text.format(value, minimum))
    if rules.max_fast_share is not None:
        for n, share in enumerate(quality["fast_share"]):
            if share > rules.max_fast_share:
                reasons[n].append(
                    f"{share:.0%} of answers faster than {rules.fast_answer_s:g} s "
                    f"(> {rules.max_fast_share:.0%})"
                )
    return quality.assign(
        excluded=np.array([bool(r) for r in reasons], dtype=bool), reasons=["; ".join(r) for r in reasons]
    )


# --- imported comparison tables ---------------------------------------------------------------

#: A rater who answered fewer than this share of decided traps right is screened out (see
#: :func:`trap_screening`).
MIN_TRAP_ACCURACY = 0.8


def trap_screening(
    table: pd.DataFrame, min_accuracy: float = MIN_TRAP_ACCURACY, min_traps: int = 1
) -> pd.DataFrame:
    """Per rater of a comparison table (:mod:`evalkit.study.comparisons`): traps answered, not-sure answers to them, the share of the
    decided ones answered right, and ``excluded``: accuracy below ``min_accuracy`` over at least
    ``min_traps`` decided traps. A trap pairs a stimulus with one far worse (AIC-3: the source
    against level 10), so an attentive rater misses few; 0.8 is the sentinel rule of evalkit's
    own studies (:class:`ScreeningRules`). Not sure on a trap is neither
    right nor wrong; a rater who answered no trap is kept."""
    t = cmp.check_comparisons(table)
    traps = t[t[cmp.TRAP]]
    decided = traps[traps[cmp.ANSWER] != cmp.NOT_SURE]
    per = pd.DataFrame({"rater": list(dict.fromkeys(t[cmp.RATER]))}).set_index("rater")
    per["traps"] = traps.groupby(cmp.RATER).size().reindex(per.index, fill_value=0)
    per["trap_not_sure"] = (
        (traps[cmp.ANSWER] == cmp.NOT_SURE).groupby(traps[cmp.RATER]).sum().reindex(per.index, fill_value=0)
    )
    right = (decided[cmp.ANSWER] == decided[cmp.EXPECTED]).groupby(decided[cmp.RATER])
    per["trap_accuracy"] = right.mean().reindex(per.index)
    counted = right.size().reindex(per.index, fill_value=0)
    per["excluded"] = (counted >= min_traps) & (per["trap_accuracy"].fillna(1.0) < min_accuracy)
    return per.reset_index()


def screen_comparisons(
    table: pd.DataFrame,
    not_sure: str = "split",
    min_trap_accuracy: float | None = MIN_TRAP_ACCURACY,
    threshold: float = OUTLIER_THRESHOLD,
    floor: float | None = SKILL_FLOOR,
) -> pd.DataFrame:
    """Per rater of a comparison table: condition, trap screening (:func:`trap_screening`; None:
    traps not used), the outlier analysis (:func:`~evalkit.study.outliers.comparison_outliers`:
    the relative score and the skill floor), ``excluded`` and its ``reasons``."""
    conditions = table.groupby(cmp.RATER)[cmp.CONDITION].agg(lambda c: ",".join(sorted(set(c))))
    traps = trap_screening(table, min_trap_accuracy if min_trap_accuracy is not None else 0.0)
    found = comparison_outliers(table, not_sure, threshold, floor)
    out = traps.rename(columns={"excluded": "trap_excluded"}).merge(found, on="rater", how="left")
    out.insert(1, "condition", out["rater"].map(conditions))
    out["outlier"] = out["outlier"].fillna(False).astype(bool)
    reasons = []
    for row in out.itertuples(index=False):
        why = []
        if min_trap_accuracy is not None and row.trap_excluded:
            why.append(f"trap accuracy {row.trap_accuracy:.0%} < {min_trap_accuracy:.0%}")
        if row.outlier:
            why.append(f"outlier (score {row.outlier_score:.2f}, skill {row.skill:.2f})")
        reasons.append("; ".join(why))
    return out.assign(excluded=[bool(r) for r in reasons], reasons=reasons)


def screening_summary(screened: pd.DataFrame) -> pd.DataFrame:
    """Per condition and in all: raters, and the share screened out by traps, by the outlier
    rule and by either."""
    rows = []
    groups = [*screened.groupby("condition", sort=True), ("all", screened)]
    for name, part in groups:
        rows.append(
            (name, len(part), part["trap_excluded"].mean(), part["outlier"].mean(), part["excluded"].mean())
        )
    return pd.DataFrame(rows, columns=["condition", "raters", "traps", "outliers", "either"])
