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

from importlib import import_module

#: What the package exports: name → the module that defines it, imported when first asked for,
#: so that reading the registry (``evalkit --help``, the CLI's choices) does not import torch.
#: ``psnr`` and ``psnr_y`` on uint8 arrays are :mod:`evalkit.metrics.psnr`'s (``evalkit.metrics.psnr``
#: is that module); the checked forms are :mod:`.functional`'s.
EXPORTS = {
    "WeightsError": "..weights",
    "PairMetric": ".base",
    "to_tensor": ".base",
    "ConventionError": ".contract",
    "CheckedMetric": ".functional",
    "create_metric": ".functional",
    "measure": ".functional",
    "MetricEngine": ".engine",
    "MetricsResult": ".engine",
    "read_pairs": ".engine",
    "read_table": ".engine",
    "set_metrics": ".engine",
    "write_table": ".engine",
    "Features": ".features",
    "frechet_distance": ".fid",
    "kernel_inception_distance": ".fid",
    "patches": ".fid",
    **{
        name: ".registry"
        for name in (
            "DEFAULT_METRICS",
            "METRICS",
            "PAIR_METRICS",
            "SET_METRICS",
            "TRAINABLE_METRICS",
            "Metric",
            "label",
            "metric",
            "pair_metric",
        )
    },
}
__all__ = ["functional", *EXPORTS]


def __getattr__(name: str):
    if name in EXPORTS:
        value = getattr(import_module(EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    if name == "functional":
        return import_module(".functional", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
