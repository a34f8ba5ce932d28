"""Every metric evalkit computes, declared once.

A :class:`Metric` says what the metric is called on the command line, which column(s) it writes,
which way is better, whether it scores pairs or sets, whether it is differentiable, and which
reference implementation its test compares it with. Pair metrics carry their torch form
(:class:`~evalkit.metrics.base.PairMetric`): the engine, fitted combinations and training losses
all call that one implementation. To add a metric: write its module, add one entry here, and add
a test against its reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from ..errors import InputError
from .base import PairMetric
from .lpips import LPIPS
from .msssim import MSSSIM
from .psnr import PSNR, PSNRY


@dataclass(frozen=True)
class Metric:
    name: str                    # on the command line and in model files
    columns: tuple[str, ...]     # what it writes; the first is its main column
    higher_is_better: bool
    level: str                   # "pair": one value per reconstruction; "set": one per group
    differentiable: bool
    reference: str               # the implementation its test compares it with
    build: Callable[..., PairMetric] | None = None   # pair metrics: build(weights_dir) → torch form
    rtol: float = 1e-5           # relative agreement across devices, batch sizes, thread counts

    @property
    def column(self) -> str:
        return self.columns[0]


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("psnr", ("psnr",), True, "pair", True,
           "skimage.metrics.peak_signal_noise_ratio(data_range=255)", lambda weights_dir: PSNR(),
           rtol=1e-12),
    Metric("psnr-y", ("psnr_y",), True, "pair", True,
           "skimage.color.rgb2ycbcr luma, then peak_signal_noise_ratio(data_range=255)",
           lambda weights_dir: PSNRY(), rtol=1e-12),
    Metric("ms-ssim", ("ms_ssim",), True, "pair", True, "pytorch_msssim.ms_ssim(data_range=255)",
           lambda weights_dir: MSSSIM()),
    Metric("lpips", ("lpips",), False, "pair", True, "lpips.LPIPS(net='alex', version='0.1')",
           partial(LPIPS, "alex")),
    Metric("lpips-vgg", ("lpips_vgg",), False, "pair", True, "lpips.LPIPS(net='vgg', version='0.1')",
           partial(LPIPS, "vgg")),
    Metric("lpips-squeeze", ("lpips_squeeze",), False, "pair", True,
           "lpips.LPIPS(net='squeeze', version='0.1')", partial(LPIPS, "squeeze")),
    Metric("fid", ("fid", "fid_patch"), False, "set", False,
           "pytorch_fid.fid_score.calculate_frechet_distance on pytorch-fid's pool3 features",
           rtol=1e-4),
    Metric("kid", ("kid", "kid_patch"), False, "set", False,
           "unbiased MMD² with the kernel (x·y/d + 1)³ (Bińkowski et al. 2018), computed directly",
           rtol=1e-3),
)}

PAIR_METRICS = [name for name, m in METRICS.items() if m.level == "pair"]
SET_METRICS = [name for name, m in METRICS.items() if m.level == "set"]


def metric(name: str, level: str | None = None) -> Metric:
    """The declaration of ``name``; an :class:`InputError` listing the choices if there is none."""
    found = METRICS.get(name)
    if found is None or (level is not None and found.level != level):
        choices = [n for n, m in METRICS.items() if level is None or m.level == level]
        raise InputError(f"unknown {level + '-level ' if level else ''}metric {name!r}; "
                         f"choose from {', '.join(choices)}")
    return found


def pair_metric(name: str, weights_dir=None, device: str | torch.device = "cpu") -> PairMetric:
    """The torch form of a pair metric on ``device``: frozen, in eval mode, differentiable in the
    images — what a training loss or a fitted combination calls."""
    return metric(name, "pair").build(weights_dir).to(device).eval()
