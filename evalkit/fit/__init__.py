"""Learned metric combinations: fit weights of metrics to human 2AFC judgements with RANSAC
over SVD least squares (Patel et al., supplement §2), score any metric against people, and use a
fitted combination as a metric or as a training loss."""

from .estimator import CombinedMetric, combined_quality
from .judgements import check_judgements, features_and_targets, metric_values, read_judgements
from .model import (
    COMBINED_PREFIX,
    CombinationModel,
    CombinedLoss,
    add_combined_columns,
    combined_column,
    split_metric_names,
)
from .ransac import ransac, svd_solve
from .scoring import bootstrap_ci, preferences, score_2afc
from .selection import compare_combinations, fit_judgements, fit_table, held_out_scores, scores_path

__all__ = [
    "COMBINED_PREFIX",
    "CombinationModel",
    "CombinedLoss",
    "CombinedMetric",
    "add_combined_columns",
    "bootstrap_ci",
    "check_judgements",
    "combined_column",
    "combined_quality",
    "compare_combinations",
    "features_and_targets",
    "fit_judgements",
    "fit_table",
    "held_out_scores",
    "metric_values",
    "preferences",
    "ransac",
    "read_judgements",
    "score_2afc",
    "scores_path",
    "split_metric_names",
    "svd_solve",
]
