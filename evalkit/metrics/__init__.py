"""Metrics equal to their reference implementations, and the batched engine that runs them.

Each metric is declared once in :data:`~evalkit.metrics.registry.METRICS`. Pair metrics have one
torch implementation (:class:`~evalkit.metrics.base.PairMetric`, differentiable, on (N, 3, H, W)
tensors in [0, 1]) used by the engine and by training losses alike; :class:`MetricEngine`
evaluates a whole manifest::

    from evalkit.metrics import MetricEngine, read_pairs
    result = MetricEngine(["psnr", "ms-ssim", "lpips", "fid"]).evaluate(
        read_pairs("runs/kodak/manifest.csv"), root="runs/kodak")
    result.pairs      # one row per pair, columns psnr, ms_ssim, lpips
    result.sets       # FID / KID per (codec, target_bpp), with sample counts

For arrays and tensors in a notebook, the checked forms (:mod:`.functional`, inputs refused
with the convention named when they do not fit)::

    from evalkit.metrics import create_metric, functional
    functional.psnr(reference=x, distorted=x_hat)                 # (N, 3, H, W) in [0, 1]
    lpips = create_metric("lpips", convention="[-1,1]")           # lpips(reference=, distorted=)

:func:`pair_metric` is the unchecked torch form training losses call (inputs in [0, 1]).
"""
from . import functional
from ..weights import WeightsError
from .base import PairMetric, to_tensor
from .contract import ConventionError
from .engine import MetricEngine, MetricsResult, read_pairs, read_table, set_metrics, write_table
from .features import Features
from .functional import CheckedMetric, create_metric, measure
from .fid import frechet_distance, kernel_inception_distance, patches
from .psnr import psnr, psnr_y
from .registry import (DEFAULT_METRICS, METRICS, PAIR_METRICS, SET_METRICS, TRAINABLE_METRICS, Metric,
                       label, metric, pair_metric)

__all__ = ["CheckedMetric", "ConventionError", "create_metric", "functional", "measure", "DEFAULT_METRICS", "METRICS", "PAIR_METRICS", "SET_METRICS", "TRAINABLE_METRICS", "Features",
           "Metric", "MetricEngine", "MetricsResult", "PairMetric", "WeightsError", "frechet_distance",
           "kernel_inception_distance", "label", "metric",
           "pair_metric", "patches", "psnr", "psnr_y", "read_pairs", "read_table", "set_metrics",
           "to_tensor", "write_table"]
