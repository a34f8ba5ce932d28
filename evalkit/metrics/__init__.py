"""Metrics correct to their reference implementations, and the batched engine that runs them.

Functional forms (``psnr``, ``psnr_y``, ``frechet_distance``, ``kernel_inception_distance``),
per-reference scorers (``MSSSIMReference``, ``LPIPSMetric``) and :class:`MetricEngine`, which
evaluates a whole manifest::

    from evalkit.metrics import MetricEngine, read_pairs
    result = MetricEngine(["psnr", "ms-ssim", "lpips", "fid"]).evaluate(
        read_pairs("runs/kodak/manifest.csv"), root="runs/kodak")
    result.pairs      # one row per pair, columns psnr, ms_ssim, lpips
    result.sets       # FID / KID per (codec, target_bpp), with sample counts
"""
from .engine import PAIR_METRICS, SET_METRICS, MetricEngine, MetricsResult, read_pairs, write_table
from .fid import frechet_distance, kernel_inception_distance, patches
from .lpips import LPIPSMetric
from .msssim import MSSSIMReference
from .psnr import psnr, psnr_y
from ..weights import WeightsError

__all__ = ["PAIR_METRICS", "SET_METRICS", "LPIPSMetric", "MSSSIMReference", "MetricEngine",
           "MetricsResult", "WeightsError", "frechet_distance", "kernel_inception_distance",
           "patches", "psnr", "psnr_y", "read_pairs", "write_table"]
