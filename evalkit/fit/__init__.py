"""Learned metric combinations: fit weights of metrics to human 2AFC judgements with RANSAC
over SVD least squares (Patel et al., supplement §2), score any metric against people, and use a
fitted combination as a metric or as a training loss."""
from .estimator import CombinedMetric
from .judgements import features_and_targets, metric_values, read_judgements
from .model import CombinationModel, CombinedLoss
from .ransac import ransac, svd_solve
from .scoring import bootstrap_ci, preferences, score_2afc
from .selection import compare_combinations, held_out_scores

__all__ = ["CombinationModel", "CombinedLoss", "CombinedMetric", "bootstrap_ci",
           "compare_combinations", "features_and_targets", "held_out_scores", "metric_values", "preferences",
           "ransac", "read_judgements", "score_2afc", "svd_solve"]
