"""evalkit: judge image codecs the way people see them.

The calls a notebook needs are here (``docs/python-api.md``), each loaded when first used, so
``import evalkit`` stays light (no torch) and changes nothing in the caller's process::

    import evalkit
    out = evalkit.compress_image(image, "jpeg", 0.5)     # bytes, reconstruction, bpp, setting, flag
    evalkit.measure("lpips", reference=x, distorted=x_hat)          # x, x_hat in [0, 1]
    evalkit.fid(reference="photos/", distorted="decoded/")
    evalkit.bd_rate(anchor_bpp, anchor_psnr, test_bpp, test_psnr)    # a number, in percent

The stages underneath are plain functions over plain data (see ``docs/architecture.md``)::

    from evalkit.datasets import resolve_images
    from evalkit.compress import compress
    result = compress(resolve_images("samples"), ["jpeg", "webp"], [0.25, 0.5], "runs/demo")
    result.manifest            # one row per (image, codec, target bpp)
"""

from importlib import import_module

__version__ = "0.1.0"

#: The public API: name → the module that defines it.
EXPORTS = {
    # images and codecs
    "load_image": "evalkit.images",
    "resolve_images": "evalkit.datasets",
    "get_codec": "evalkit.codecs",
    "compress_image": "evalkit.codecs.one_image",
    "Compressed": "evalkit.codecs.one_image",
    # metrics: checked functions and modules on arrays or tensors, sets, the engine on tables
    "measure": "evalkit.metrics.functional",
    "create_metric": "evalkit.metrics.functional",
    "fid": "evalkit.metrics.distributions",
    "kid": "evalkit.metrics.distributions",
    "MetricEngine": "evalkit.metrics.engine",
    "InputError": "evalkit.errors",
    # the fitted combination, on DataFrames (fit_table) or arrays (CombinedMetric, scikit-learn)
    "fit_table": "evalkit.fit.selection",
    "CombinedMetric": "evalkit.fit.estimator",
    "CombinationModel": "evalkit.fit.model",
    # Bjøntegaard deltas and reports
    "bd_rate": "evalkit.report.deltas",
    "bd_metric": "evalkit.report.deltas",
    "bd_table_of": "evalkit.report.deltas",
    "write_report": "evalkit.report.build",
    "ReportOptions": "evalkit.report.build",
}
__all__ = ["__version__", *EXPORTS]


def __getattr__(name: str) -> object:
    if name in EXPORTS:
        value = getattr(import_module(EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
