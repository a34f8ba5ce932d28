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

    from evalkit.metrics import pair_metric
    lpips = pair_metric("lpips", weights_dir="../shared/weights")   # lpips(x, x_hat) → (N,)
"""
from ..weights import WeightsError
from .base import PairMetric, to_tensor
from .engine import MetricEngine, MetricsResult, read_pairs, read_table, set_metrics, write_table
from .features import Features
from .fid import frechet_distance, kernel_inception_distance, patches
from .psnr import psnr, psnr_y
from .registry import (DEFAULT_METRICS, METRICS, PAIR_METRICS, SET_METRICS, TRAINABLE_METRICS, Metric,
                       label, metric, pair_metric)

__all__ = ["DEFAULT_METRICS", "METRICS", "PAIR_METRICS", "SET_METRICS", "TRAINABLE_METRICS", "Features",
           "Metric", "MetricEngine", "MetricsResult", "PairMetric", "WeightsError", "frechet_distance",
           "kernel_inception_distance", "label", "metric",
           "pair_metric", "patches", "psnr", "psnr_y", "read_pairs", "read_table", "set_metrics",
           "to_tensor", "write_table"]
