"""A comparison table analysed as a study of distortion levels (JPEG AIC-3's question): per
condition (PTC, BTC, …) and for all of them together — the raters screened out, each stimulus's
scale in JND from its source with the boosted gain per image
(:mod:`~evalkit.study.stimulus_scale`), and the metrics benchmarked against people
(:mod:`~evalkit.study.benchmark`), the probit fit beside the paper's linear one — written as
tables and figures that ``evalkit report --study FOLDER`` shows, with a closing note.

What ``evalkit study scale FOLDER`` runs on ``evalkit study import``'s output folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import comparisons as cmp
from .benchmark import Benchmark, benchmark
from .stimulus_scale import StimulusScale, scale_stimuli

ALL = "together"  # not "all": the report leaves out files named *_all (analyses before screening)


@dataclass
class ConditionResult:
    """Everything computed for one condition (or all together)."""

    name: str
    raters: int
    screened: int
    scale: StimulusScale
    benchmark: Benchmark | None = None
    links: pd.DataFrame | None = None  # probit vs linear: held-out 2AFC and inlier share


@dataclass
class ScaleAnalysis:
    not_sure: str
    prior: str
    metrics: list[str]
    conditions: dict[str, ConditionResult] = field(default_factory=dict)
    raters: pd.DataFrame | None = None  # the screening, when
    # :func:`~evalkit.study.screening.screen_comparisons` ran


def analyze_scale(
    comparisons: pd.DataFrame,
    stimuli: pd.DataFrame,
    metrics: list[str] = (),
    excluded: set[str] = frozenset(),
    not_sure: str = "split",
    prior: str = "distance",
    n_boot: int = 200,
    seed: int = 0,
    progress: bool = False,
    **fit_params,
) -> ScaleAnalysis:
    """Scale and benchmark each condition of ``comparisons`` and, with more than one, all of them
    together, leaving out the raters in ``excluded`` (a screening's verdict). ``metrics`` are
    columns of ``stimuli``; ``fit_params`` go to :class:`~evalkit.fit.CombinedMetric`."""
    cmp.check_comparisons(comparisons)
    conditions = sorted(comparisons[cmp.CONDITION].unique())
    parts = {c: comparisons[comparisons[cmp.CONDITION] == c] for c in conditions}
    if len(conditions) > 1:
        parts[ALL] = comparisons
    result = ScaleAnalysis(not_sure, prior, list(metrics))
    for name, part in parts.items():
        raters = set(part[cmp.RATER])
        kept = part[~part[cmp.RATER].isin(excluded)]
        if kept.empty:
            raise InputError(f"{name}: every rater was screened out; nothing to scale")
        scale = scale_stimuli(
            kept, not_sure=not_sure, prior=prior, stimuli=stimuli, n_boot=n_boot, seed=seed, progress=progress
        )
        entry = ConditionResult(name, len(raters), len(raters & set(excluded)), scale)
        if metrics:  # the linear fit is compared on its score and inliers only: no intervals
            runs = {
                link: benchmark(
                    kept,
                    stimuli,
                    list(metrics),
                    scale=scale.scores,
                    link=link,
                    not_sure=not_sure,
                    n_boot=n_boot * 10 if link == "probit" else 0,
                    seed=seed,
                    **fit_params,
                )
                for link in ("probit", "linear")
            }
            entry.benchmark = runs["probit"]
            entry.links = (
                runs["probit"]
                .scores[["candidate", "2afc", "inliers"]]
                .merge(
                    runs["linear"].scores[["candidate", "2afc", "inliers"]],
                    on="candidate",
                    suffixes=("_probit", "_linear"),
                )
            )
        result.conditions[name] = entry
    return result


def separate_gains(result: ScaleAnalysis) -> pd.Series:
    """Per image, how much larger a boosted-only condition's scale is than a plain-only one's:
    the least-squares slope through 0 of the one's scale values on the other's, over the stimuli
    both scaled (the gain estimated from two separate scales, where the joint fit of condition
    ``together`` estimates it from one model)."""
    parts = [c for name, c in result.conditions.items() if name != ALL]
    boosted = [c for c in parts if c.scale.boosted_only]
    plain = [c for c in parts if c not in boosted and c.scale.gains.empty]
    if len(boosted) != 1 or len(plain) != 1:
        return pd.Series(dtype=float)
    both = boosted[0].scale.scores.merge(
        plain[0].scale.scores, on=["image", "stimulus"], suffixes=("_b", "_p")
    )
    both = both[both["stimulus"] != cmp.REFERENCE]
    return both.groupby("image").apply(
        lambda g: float(g["scale_b"] @ g["scale_p"] / (g["scale_p"] @ g["scale_p"])), include_groups=False
    )


def closing_note(result: ScaleAnalysis) -> pd.DataFrame:
    """Per condition: raters, the share screened out, the boost gain (median over images, with
    the range: from the joint fit where one condition holds plain and boosted comparisons, else
    from the separate scales of a boosted and a plain condition, :func:`separate_gains`), the
    ceiling, and each metric's held-out 2AFC score."""
    rows = []
    separate = separate_gains(result)
    for name, c in result.conditions.items():
        gains = c.scale.gains["gain"]
        if gains.empty and c.scale.boosted_only:
            gains = separate
        row = {
            "condition": name,
            "raters": c.raters,
            "screened_share": c.screened / c.raters,
            "boost_gain": float(gains.median()) if len(gains) else np.nan,
            "boost_gain_min": float(gains.min()) if len(gains) else np.nan,
            "boost_gain_max": float(gains.max()) if len(gains) else np.nan,
        }
        if c.benchmark is not None:
            row["ceiling"] = c.benchmark.agreement["ceiling"]
            singles = c.benchmark.scores[c.benchmark.scores["metrics"] == 1].set_index("candidate")["2afc"]
            row.update({f"2afc {m}": singles.get(m, np.nan) for m in result.metrics})
            best = c.benchmark.scores.iloc[0]
            row["best"] = f"{best['candidate']} ({best['2afc']:.3f})"
        rows.append(row)
    return pd.DataFrame(rows)


def format_scale_report(result: ScaleAnalysis) -> str:
    """The analysis as text for a terminal."""
    lines = [
        f"not sure: {result.not_sure} (half a win each way)"
        if result.not_sure == "split"
        else "not sure: dropped",
        f"prior: {result.prior}",
    ]
    if result.raters is not None:
        lines.append(
            f"screening: {int(result.raters['trap_excluded'].sum())} rater(s) failed the traps, "
            f"{int(result.raters['outlier'].sum())} outlier(s); {int(result.raters['excluded'].sum())} "
            f"of {len(result.raters)} left out"
        )
    for name, c in result.conditions.items():
        lines += [
            "",
            f"=== {name}: {c.raters} raters, {c.screened} screened out ({c.screened / c.raters:.0%}) ===",
        ]
        for g in c.scale.gains.itertuples(index=False):
            lines.append(f"  image {g.image}: boost gain {g.gain:.2f} [{g.ci_low:.2f}, {g.ci_high:.2f}]")
        if c.scale.boosted_only:
            for image, gain in separate_gains(result).items():
                lines.append(
                    f"  image {image}: boost gain {gain:.2f} (this scale against the plain "
                    "condition's, fitted apart)"
                )
        deepest = c.scale.scores.loc[c.scale.scores.groupby("image")["scale"].idxmin()]
        for s in deepest.itertuples(index=False):
            lines.append(
                f"  image {s.image}: deepest {s.stimulus} at {s.scale:+.2f} JND [{s.ci_low:+.2f}, {s.ci_high:+.2f}]"
            )
        lines += [f"  note: {note}" for note in c.scale.notes]
        if c.benchmark is not None:
            a = c.benchmark.agreement
            ceiling = "n/a" if a["ceiling"] is None else f"{a['ceiling']:.3f}"
            lines.append(
                f"  held-out 2AFC (leave one image out; ceiling {ceiling}; {c.benchmark.left_out} "
                "pair(s) without metric values left out):"
            )
            for r in c.benchmark.scores.to_dict("records"):
                srocc = f", ρ {r['srocc']:+.2f}" if "srocc" in r else ""
                lines.append(
                    f"    {r['candidate']:<28} {r['2afc']:.3f} [{r['2afc_low']:.3f}, {r['2afc_high']:.3f}]  "
                    f"accuracy {r['accuracy']:.3f}{srocc}, inliers {r['inliers']:.0%}"
                )
            links = c.links
            lines.append(
                f"  probit vs linear fit, mean over candidates: held-out 2AFC "
                f"{links['2afc_probit'].mean():.4f} vs {links['2afc_linear'].mean():.4f}, inlier share "
                f"{links['inliers_probit'].mean():.1%} vs {links['inliers_linear'].mean():.1%}"
            )
    return "\n".join(lines)


def write_scale_analysis(result: ScaleAnalysis, folder: str | Path) -> list[Path]:
    """Tables (CSV), figures (PNG and SVG) and ``scale_report.txt`` into ``folder``."""
    from . import plots
    from .analyze import write_tables

    folder = Path(folder)
    tables: dict[str, pd.DataFrame] = {}
    for name, c in result.conditions.items():
        tables[f"scale_{name}.csv"] = c.scale.scores
        tables[f"gains_{name}.csv"] = c.scale.gains
        tables[f"levels_{name}.csv"] = c.scale.levels
        if c.benchmark is not None:
            tables[f"benchmark_{name}.csv"] = c.benchmark.scores
            tables[f"benchmark_links_{name}.csv"] = c.links
    if result.raters is not None:
        tables["raters_screening.csv"] = result.raters
    tables["closing_note.csv"] = closing_note(result)
    written = write_tables(folder, tables)
    for name, c in result.conditions.items():
        written += plots.stimulus_scale_plot(c.scale, folder / f"scale_{name}", name)
        if c.benchmark is not None:
            written += plots.benchmark_plot(c.benchmark, folder / f"benchmark_{name}", name)
    (folder / "scale_report.txt").write_text(format_scale_report(result) + "\n")
    return written + [folder / "scale_report.txt"]
