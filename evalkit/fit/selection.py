"""Which metrics, and which combination, agree best with people: every subset of the chosen
metrics fitted and scored on held-out judgements (k-fold, grouped by reference image so that no
image is in both the training and the test part, or a given train/test split)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from ..errors import InputError
from .estimator import CombinedMetric
from .judgements import (
    check_judgements,
    features_and_targets,
    judgement_counts,
    metric_values,
    read_judgements,
)
from .model import CombinationModel
from .scoring import bootstrap_ci


def held_out_scores(
    table: pd.DataFrame,
    metrics: list[str],
    folds: int = 5,
    split_column: str | None = None,
    seed: int = 0,
    **params,
) -> np.ndarray:
    """Per-judgement 2AFC scores of the combination, each from a model that did not see it (rows
    weighted in the fit by how many people judged them)."""
    x, y = features_and_targets(table, metrics)
    n = judgement_counts(table)
    scores = np.full(len(y), np.nan)
    for train, test in _splits(table, folds, split_column, seed):
        model = CombinedMetric(random_state=seed, **params).fit(x[train], y[train], n[train])
        scores[test] = model.score_samples(x[test], y[test])
    return scores[np.isfinite(scores)]


def _splits(table, folds, split_column, seed):
    if split_column:
        if split_column not in table.columns:
            raise InputError(f"no column {split_column!r} to split on")
        part = table[split_column].astype(str).str.lower()
        if not {"train", "test"} <= set(part):
            raise InputError(f"column {split_column!r} must hold 'train' and 'test'")
        return [(np.flatnonzero(part == "train"), np.flatnonzero(part == "test"))]
    if len(table) < folds:
        raise InputError(f"{len(table)} judgement(s) are too few for {folds}-fold cross-validation")
    groups = table["reference"].astype(str).to_numpy()
    if len(set(groups)) >= folds:
        return list(GroupKFold(n_splits=folds).split(table, groups=groups))
    return list(KFold(folds, shuffle=True, random_state=seed).split(table))


def compare_combinations(
    table: pd.DataFrame,
    metrics: list[str],
    folds: int = 5,
    split_column: str | None = None,
    seed: int = 0,
    **params,
) -> tuple[pd.DataFrame, dict[tuple, CombinationModel]]:
    """Fit every non-empty subset of ``metrics``; return a table (weights on all judgements,
    held-out 2AFC score with a 95 % bootstrap CI) and the fitted models by subset."""
    rows, models = [], {}
    for k in range(1, len(metrics) + 1):
        for subset in combinations(metrics, k):
            scores = held_out_scores(table, list(subset), folds, split_column, seed, **params)
            lo, hi = bootstrap_ci(scores, seed=seed)
            x, y = features_and_targets(table, list(subset))
            fitted = CombinedMetric(random_state=seed, **params).fit(x, y, judgement_counts(table))
            model = CombinationModel.from_estimator(fitted, list(subset), scores.mean(), [lo, hi], len(table))
            models[subset] = model
            rows.append(
                {
                    "metrics": " + ".join(subset),
                    "weights": ", ".join(f"{c:+.4g}·{m}" for m, c in zip(subset, model.coef)),
                    "weights_scaled": ", ".join(f"{c:+.4g}" for c in model.coef_scaled),
                    "2afc": model.score_2afc,
                    "ci_low": lo,
                    "ci_high": hi,
                    "inliers": float(fitted.inlier_mask_.mean()),
                    "n_test": len(scores),
                }
            )
    return pd.DataFrame(rows), models


def fit_judgements(
    judgements: str | Path,
    metrics: list[str],
    out: str | Path,
    engine_options: dict | None = None,
    folds: int = 5,
    split_column: str | None = None,
    seed: int = 0,
    **params,
) -> tuple[pd.DataFrame, CombinationModel]:
    """``evalkit fit``: :func:`fit_table` on the judgement table ``judgements`` (metric values
    computed where the table lacks them), the model of all the metrics saved to ``out`` and the
    held-out 2AFC of every subset, best first, to ``<out stem>_2afc.csv`` beside it. Returns that
    table and the saved model."""
    table = read_judgements(judgements)
    table = metric_values(table, metrics, root=Path(judgements).parent, engine_options=engine_options)
    results, model = fit_table(table, metrics, folds, split_column, seed, **params)
    model.save(out)
    results.to_csv(scores_path(out), index=False)
    return results, model


def fit_table(
    table: pd.DataFrame,
    metrics: list[str],
    folds: int = 5,
    split_column: str | None = None,
    seed: int = 0,
    **params,
) -> tuple[pd.DataFrame, CombinationModel]:
    """Every subset of ``metrics`` fitted on a judgement DataFrame (``reference``, ``a``, ``b``,
    ``n_a``, ``n_b`` and each metric's ``<column>_a`` / ``<column>_b``), scored on held-out
    judgements: that table, best first (the standardised weights only when ``standardize`` is
    asked for), and the model of all of them (``CombinationModel``: ``quality``, ``save``)."""
    table = table if "p_a" in table.columns else check_judgements(table)
    results, models = compare_combinations(
        table, metrics, folds=folds, split_column=split_column, seed=seed, **params
    )
    results = results.sort_values("2afc", ascending=False)
    if not params.get("standardize"):
        results = results.drop(columns="weights_scaled")
    return results, models[tuple(metrics)]


def scores_path(model: str | Path) -> Path:
    """Where :func:`fit_judgements` writes the held-out 2AFC of every subset beside a model."""
    return Path(model).with_name(f"{Path(model).stem}_2afc.csv")
