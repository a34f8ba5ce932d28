"""A study's analysis, with and without the screened-out raters: what ``evalkit study analyze``
computes, prints and writes.

Works on the raw responses table (the study database's, :func:`evalkit.study.responses.responses`,
or a simulated crowd's), so it does not depend on how the answers were collected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..fit.judgements import metric_values
from ..metrics import metric
from . import agreement, ranking
from .comparisons import settle_not_sure
from .outliers import OUTLIER_THRESHOLD, SKILL_FLOOR, outlier_scores
from .responses import judgements_of
from .screening import ScreeningRules, screen

VIEWS = {"all": "all raters", "screened": "after exclusions"}


@dataclass
class View:
    """Every result for one set of raters."""

    name: str
    raters: int
    pairs: pd.DataFrame  # per (image, bpp, codec pair): counts and preference
    preferences: pd.DataFrame  # per bpp: preference between codecs
    ranking: ranking.Ranking
    agreement: dict
    judgements: pd.DataFrame | None = None  # the table `evalkit fit` reads (needs image paths)
    metrics: pd.DataFrame | None = None  # 2AFC score of each metric on these judgements


@dataclass
class StudyAnalysis:
    rules: ScreeningRules
    raters: pd.DataFrame  # quality, excluded, reasons, outlier score (pw_outlier_analysis)
    views: dict[str, View] = field(default_factory=dict)
    not_sure: str = "split"  # what the analysis did with not-sure answers
    not_sure_answers: int = 0  # how many pair trials were answered not sure

    @property
    def excluded(self) -> pd.DataFrame:
        return self.raters[self.raters["excluded"]][["rater", "reasons"]]


def analyze(
    responses: pd.DataFrame,
    rules: ScreeningRules = ScreeningRules(),
    codecs: list[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
    metrics: list[str] = (),
    model=None,
    root: str | Path | None = None,
    engine_options: dict | None = None,
    progress: bool = False,
    not_sure: str = "split",
) -> StudyAnalysis:
    """Screen raters, then for all raters and for the kept ones: pair counts, preference
    matrices, Thurstone (JOD) and Bradley–Terry scales with two-level bootstrap intervals,
    agreement and its ceiling, and — when the responses carry image paths (``root``: the study's
    output folder) — the judgement table ``evalkit fit`` reads, with the 2AFC score of each of
    ``metrics`` (engine names) and of a fitted ``model`` on it, beside the ceiling. ``codecs``
    (the study's) lets a codec that was never compared be reported. A not-sure answer to a pair
    counts half a win each way (``not_sure="split"``) or not at all (``"drop"``; see
    :func:`~evalkit.study.comparisons.split_not_sure`)."""
    if responses.empty:
        raise InputError(
            "no responses stored yet: nothing to analyse (run the study, or "
            "'evalkit study simulate' for a demo)"
        )
    unsure = int(((responses["kind"] == "pair") & (responses["choice"] == "not_sure")).sum())
    responses = settle_not_sure(responses, not_sure)
    outliers = outlier_scores(responses)[["rater", "log_likelihood", "outlier_score", "skill", "outlier"]]
    raters = screen(responses, rules).merge(outliers, on="rater", how="left")
    raters["outlier"] = raters["outlier"].fillna(False).astype(bool)
    result = StudyAnalysis(rules, raters, not_sure=not_sure, not_sure_answers=unsure)
    kept = set(raters.loc[~raters["excluded"], "rater"])
    subsets = {"all": responses, "screened": responses[responses["rater"].isin(kept)]}
    metrics = list(dict.fromkeys([*metrics, *(model.metrics if model is not None else [])]))
    values = None
    for name, subset in subsets.items():
        pairs = ranking.pair_counts(subset)
        view = View(
            name,
            int(subset["rater"].nunique()),
            pairs,
            ranking.preference_matrices(subset),
            ranking.rank(subset, codecs, n_boot=n_boot, seed=seed, progress=progress),
            agreement.rater_agreement(subset),
        )
        if "reference" in subset:
            view.judgements = judgements_of(subset, root)
        if metrics and view.judgements is not None and not view.judgements.empty:
            if values is None:  # metric values depend on the images only: computed once
                values = metric_values(
                    judgements_of(responses, root), metrics, root=root or ".", engine_options=engine_options
                )
            columns = [metric(m, "pair").column for m in metrics]
            keys = ["reference", "a", "b"]
            table = view.judgements.merge(values[keys + [f"{c}_{s}" for c in columns for s in "ab"]], on=keys)
            table = table.assign(p_a=table["n_a"] / (table["n_a"] + table["n_b"]))
            view.metrics = agreement.metric_scores(table, metrics, model=model, seed=seed)
        result.views[name] = view
    return result


def _float(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_report(result: StudyAnalysis) -> str:
    """The analysis as text for a terminal."""
    lines = [f"screening: {result.rules.describe()}"]
    excluded = result.excluded
    if excluded.empty:
        lines.append(f"  no rater excluded ({len(result.raters)} raters)")
    for rater, reasons in excluded.itertuples(index=False):
        lines.append(f"  excluded {rater}: {reasons}")
    lines.append(
        f"not sure: {result.not_sure_answers} pair answer(s), "
        + ("counted as half a win each way" if result.not_sure == "split" else "left out")
    )
    outliers = result.raters[result.raters["outlier"]]
    lines.append(
        f"outlier analysis (leave-one-rater-out likelihood, pwcmp): "
        f"{len(outliers)} rater(s) scored above {OUTLIER_THRESHOLD:g} or had skill below {SKILL_FLOOR:g}"
    )
    for row in outliers.itertuples(index=False):
        lines.append(
            f"  outlier {row.rater}: score {row.outlier_score:.2f}, skill {row.skill:.2f}, log-likelihood "
            f"{row.log_likelihood:.3f} per judgement; "
            + ("also excluded by screening" if row.excluded else "kept by screening")
        )
    for name, view in result.views.items():
        lines += ["", f"=== {VIEWS[name]} ({view.raters} raters) ==="]
        scores = view.ranking.scores
        for bpp, method in sorted(
            set(zip(scores["target_bpp"], scores["method"])),
            key=lambda key: (key[0], ranking.METHODS.index(key[1])),
        ):
            group = scores[(scores["target_bpp"] == bpp) & (scores["method"] == method)]
            unit = "JOD" if method == "thurstone" else "BT, 1 = 75 %"
            lines.append(f"{bpp:g} bpp, {method} ({unit}, 95 % CI):")
            for row in group.itertuples(index=False):
                lines.append(
                    f"  {row.rank}. {row.codec:<14} {row.score:+.2f}  [{row.ci_low:+.2f}, {row.ci_high:+.2f}]"
                    f"  ({row.comparisons} judgements)"
                )
            gaps = view.ranking.gaps
            for gap in gaps[(gaps["target_bpp"] == bpp) & (gaps["method"] == method)].itertuples(index=False):
                lines.append(
                    f"     {gap.better} > {gap.worse}: {gap.gap:.2f} [{gap.ci_low:.2f}, {gap.ci_high:.2f}], "
                    f"p = {gap.p_value:.3f}"
                )
        lines += [f"note: {note}" for note in view.ranking.notes]
        a = view.agreement
        lines.append(
            f"agreement between two raters: {_float(a['agreement'])}; ceiling on a metric's 2AFC "
            f"score: {_float(a['ceiling'])}; best possible on these judgements: "
            f"{_float(a['best_possible_on_these_judgements'])}" + (f" ({a['note']})" if a["note"] else "")
        )
        if view.metrics is not None:
            for row in view.metrics.itertuples(index=False):
                lines.append(
                    f"  2AFC {row.metric:<24} {row.score_2afc:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
                    f"   (ceiling {_float(a['ceiling'])})"
                )
    return "\n".join(lines)


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Each table as ``folder/<name>`` (CSV, missing values written as 'n/a'); the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / name, index=False, na_rep="n/a")
    return [folder / name for name in tables]


def write_analysis(result: StudyAnalysis, folder: str | Path) -> list[Path]:
    """Tables (CSV, missing values written as 'n/a'), the text report and the plots (PNG and SVG)
    into ``folder``; returns the files written. ``judgements.csv`` (after exclusions) is the
    table ``evalkit fit`` reads; ``judgements_all.csv`` keeps every rater."""
    from . import plots

    folder = Path(folder)
    tables = {"raters.csv": result.raters}
    for name, view in result.views.items():
        suffix = "" if name == "screened" else "_all"
        tables[f"pairs{suffix}.csv"] = view.pairs
        tables[f"preferences{suffix}.csv"] = view.preferences
        tables[f"ranking{suffix}.csv"] = view.ranking.scores
        tables[f"gaps{suffix}.csv"] = view.ranking.gaps
        tables[f"agreement{suffix}.csv"] = pd.DataFrame([view.agreement])
        if view.judgements is not None:
            tables[f"judgements{suffix}.csv"] = view.judgements
        if view.metrics is not None:
            tables[f"metrics{suffix}.csv"] = view.metrics
    written = write_tables(folder, tables)
    for name, view in result.views.items():
        suffix = "" if name == "screened" else "_all"
        written += plots.ranking_plot(view, folder / f"ranking{suffix}")
        written += plots.preference_plot(view, folder / f"preferences{suffix}")
    written += plots.rater_plot(result.raters, folder / "raters", result.rules)
    (folder / "report.txt").write_text(format_report(result) + "\n")
    return written + [folder / "report.txt"]
