"""The pair metrics for callers: functions and modules on tensors or arrays, inputs checked.

Shaped like the libraries the field uses — torchmetrics' functional and module forms over one
implementation, pyiqa's ``create_metric`` — but with keyword-only images, since those libraries
disagree on the order (torchmetrics ``(preds, target)``, pyiqa ``(target, ref)``)::

    from evalkit.metrics import functional as F
    F.psnr(reference=x, distorted=x_hat)                     # x, x_hat in [0, 1]
    F.ms_ssim(reference=x, distorted=x_hat, data_range=255)  # floats in [0, 255]
    lpips = create_metric("lpips", convention="[-1,1]")      # the lpips package's convention
    lpips(reference=x, distorted=x_hat)

Every function of the registry's pair metrics is here under its name with ``_`` for ``-``
(``psnr``, ``psnr_y``, ``ms_ssim``, ``ssim``, ``lpips``, …), and :func:`measure` takes the name.
Inputs are checked by :func:`~evalkit.metrics.contract.checked_pair` (dtype, range, shape,
NaN; refusals name the convention), then scored by the same torch form the engine calls, in the
engine's floating type (PSNR in float64): on 8-bit images the values equal the engine's
(tested to 1e-6 on Kodak). A batch (N, …) gives N values, one image a scalar: torch in, torch
out (differentiable), NumPy in, NumPy out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch

from .base import PairMetric
from .contract import Convention, Images, checked_pair
from .registry import PAIR_METRICS, metric, pair_metric


class CheckedMetric(torch.nn.Module):
    """A pair metric with its input convention: ``forward(*, reference, distorted)`` checks both
    images (:mod:`.contract`) and gives one value per image. ``higher_is_better`` and ``name``
    come from the registry. Move it with ``.to(device)`` like any module."""

    _where: torch.Tensor  # an empty buffer: where the module is

    def __init__(
        self,
        name: str,
        data_range: float | None = None,
        convention: str | None = None,
        weights_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        entry = metric(name, "pair")
        self.name, self.higher_is_better = entry.name, entry.higher_is_better
        self.data_range, self.convention = data_range, convention
        Convention.of(data_range, convention)  # a wrong declaration fails here
        self.form: PairMetric = pair_metric(name, weights_dir)
        self.register_buffer("_where", torch.empty(0), persistent=False)  # follows .to(device)

    def forward(self, *, reference: Images, distorted: Images) -> Images:
        x, x_hat, numpy, single = checked_pair(reference, distorted, self.data_range, self.convention)
        device, dtype = self._where.device, self.form.dtype
        values: torch.Tensor = self.form(x.to(device, dtype), x_hat.to(device, dtype))
        values = values[0] if single else values
        return values.detach().cpu().numpy() if numpy else values

    def extra_repr(self) -> str:
        return f"{self.name!r}, data_range={self.data_range}, convention={self.convention!r}"


def create_metric(
    name: str,
    *,
    data_range: float | None = None,
    convention: str | None = None,
    weights_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> CheckedMetric:
    """The module form of the pair metric ``name`` (pyiqa's ``create_metric``), frozen, in eval
    mode, on ``device``, for images in the declared range (``data_range=R``: [0, R];
    ``convention="[-1,1]"``; neither: [0, 1])."""
    return CheckedMetric(name, data_range, convention, weights_dir).to(device).eval()


@cache
def _form(name: str, weights_dir: str | Path | None, device: str) -> PairMetric:
    """One torch form per (metric, weights, device), built on first use (networks load once)."""
    return pair_metric(name, weights_dir, device)


def measure(
    name: str,
    *,
    reference: Images,
    distorted: Images,
    data_range: float | None = None,
    convention: str | None = None,
    weights_dir: str | Path | None = None,
) -> Images:
    """The pair metric ``name`` of ``distorted`` against ``reference``: one value per image.
    Runs where the images are (a CUDA tensor on its GPU); networks are loaded once per process."""
    x, x_hat, numpy, single = checked_pair(reference, distorted, data_range, convention)
    form = _form(metric(name, "pair").name, weights_dir, str(x.device))
    values: torch.Tensor = form(x.to(dtype=form.dtype), x_hat.to(dtype=form.dtype))
    values = values[0] if single else values
    return values.detach().cpu().numpy() if numpy else values


def _functional(name: str) -> Callable[..., Images]:
    def function(
        *,
        reference: Images,
        distorted: Images,
        data_range: float | None = None,
        convention: str | None = None,
        weights_dir: str | Path | None = None,
    ) -> Images:
        return measure(
            name,
            reference=reference,
            distorted=distorted,
            data_range=data_range,
            convention=convention,
            weights_dir=weights_dir,
        )

    function.__name__ = function.__qualname__ = name.replace("-", "_")
    function.__doc__ = (
        f"{metric(name).labels[0]} of ``distorted`` against ``reference`` "
        f"(:func:`measure` with {name!r}; reference: {metric(name).reference})."
    )
    return function


#: One function per pair metric of the registry, named as it is with ``_`` for ``-``.
FUNCTIONS = {name.replace("-", "_"): _functional(name) for name in PAIR_METRICS}
globals().update(FUNCTIONS)

__all__ = ["CheckedMetric", "create_metric", "measure", *FUNCTIONS]
