"""Every metric evalkit computes, declared once.

A :class:`Metric` says what the metric is called on the command line, which column(s) it writes
and how each is labelled in plots and tables (with its unit), which way is better, how many
decimals a table shows, whether it is measured and shown by default, whether a recipe may train
on it, whether it scores pairs or sets, whether it is differentiable, and which reference
implementation its test compares it with. Pair metrics carry their torch form
(:class:`~evalkit.metrics.base.PairMetric`): the engine, fitted combinations and training losses
all call that one implementation; set metrics carry the function over features the engine calls.
Nothing else names a metric: the engine, the CLI, the fit, the report, the demo and training read
these entries. To add a metric: write its module, add one entry here, and add a test against its
reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING

from ..errors import InputError
from .window import MSSSIM_MIN_SIDE, SSIM_MIN_SIDE, SSIMULACRA2_MIN_SIDE, VMAF_MIN_SIDE

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .base import PairMetric


def _deferred(module: str, name: str) -> Callable:
    """``name`` of ``evalkit.metrics.<module>``, imported when first called: the declarations are
    read without torch (``evalkit --help`` lists the metrics in a fraction of a second)."""

    def call(*args, **kwargs):
        return getattr(import_module(f"{__package__}.{module}"), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


PSNR, PSNRY = _deferred("psnr", "PSNR"), _deferred("psnr", "PSNRY")
MSSSIM, SSIM, LPIPS = _deferred("msssim", "MSSSIM"), _deferred("ssim", "SSIM"), _deferred("lpips", "LPIPS")
frechet_distance = _deferred("fid", "frechet_distance")
kernel_inception_distance = _deferred("fid", "kernel_inception_distance")
VMAF, SSIMULACRA2, XPSNR = (
    _deferred("vmaf", "VMAF"),
    _deferred("ssimulacra2", "SSIMULACRA2"),
    _deferred("xpsnr", "XPSNR"),
)


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One metric's declaration, built by keyword only (``Metric(name=..., level=...)``)."""

    name: str  # on the command line and in model files
    columns: tuple[str, ...]  # what it writes; the first is its main column
    labels: tuple[str, ...]  # per column: for plot axes and table heads, with the unit
    higher_is_better: bool
    level: str  # "pair": one value per reconstruction; "set": one per group
    differentiable: bool
    reference: str  # the implementation its test compares it with
    decimals: int = 4  # shown in tables (the CSV files keep every digit)
    shown: bool = False  # measured and shown by default: --metrics, captions, BD summary
    trainable: bool = False  # a training distortion: 1 − value if higher is better, else value
    network: str | None = None  # the network whose weights it loads (None: none)
    min_side: int = 1  # the smallest image side it is defined on
    build: Callable[..., PairMetric] | None = None  # pair metrics: build(weights_dir) → torch form
    #: set metrics: value(reference features, reconstruction features), each (n, d)
    compute: Callable[[np.ndarray, np.ndarray], float] | None = None
    rtol: float = 1e-5  # relative agreement across devices, batch sizes, thread counts

    @property
    def column(self) -> str:
        return self.columns[0]


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="psnr",
            columns=("psnr",),
            labels=("PSNR (dB)",),
            higher_is_better=True,
            level="pair",
            differentiable=True,
            reference="skimage.metrics.peak_signal_noise_ratio(data_range=255)",
            decimals=2,
            shown=True,
            build=lambda weights_dir: PSNR(),
            rtol=1e-12,
        ),
        Metric(
            name="psnr-y",
            columns=("psnr_y",),
            labels=("PSNR-Y (dB)",),
            higher_is_better=True,
            level="pair",
            differentiable=True,
            reference="skimage.color.rgb2ycbcr luma, then peak_signal_noise_ratio(data_range=255)",
            decimals=2,
            build=lambda weights_dir: PSNRY(),
            rtol=1e-12,
        ),
        Metric(
            name="ms-ssim",
            columns=("ms_ssim",),
            labels=("MS-SSIM",),
            higher_is_better=True,
            level="pair",
            differentiable=True,
            reference="pytorch_msssim.ms_ssim(data_range=255)",
            shown=True,
            trainable=True,
            min_side=MSSSIM_MIN_SIDE,
            build=lambda weights_dir: MSSSIM(),
        ),
        Metric(
            name="ssim",
            columns=("ssim",),
            labels=("SSIM",),
            higher_is_better=True,
            level="pair",
            differentiable=True,
            reference="pytorch_msssim.ssim(data_range=255, size_average=False)",
            trainable=True,
            min_side=SSIM_MIN_SIDE,
            build=lambda weights_dir: SSIM(),
        ),
        Metric(
            name="lpips",
            columns=("lpips",),
            labels=("LPIPS (Alex)",),
            higher_is_better=False,
            level="pair",
            differentiable=True,
            reference="lpips.LPIPS(net='alex', version='0.1')",
            shown=True,
            trainable=True,
            network="AlexNet",
            build=partial(LPIPS, "alex"),
        ),
        Metric(
            name="lpips-vgg",
            columns=("lpips_vgg",),
            labels=("LPIPS (VGG)",),
            higher_is_better=False,
            level="pair",
            differentiable=True,
            reference="lpips.LPIPS(net='vgg', version='0.1')",
            trainable=True,
            network="VGG",
            build=partial(LPIPS, "vgg"),
        ),
        Metric(
            name="lpips-squeeze",
            columns=("lpips_squeeze",),
            labels=("LPIPS (Squeeze)",),
            higher_is_better=False,
            level="pair",
            differentiable=True,
            reference="lpips.LPIPS(net='squeeze', version='0.1')",
            trainable=True,
            network="SqueezeNet",
            build=partial(LPIPS, "squeeze"),
        ),
        Metric(
            name="vmaf",
            columns=("vmaf",),
            labels=("VMAF (v0.6.1)",),
            higher_is_better=True,
            level="pair",
            differentiable=False,
            reference="libvmaf (model vmaf_v0.6.1, in ffmpeg) on BT.601 luma, against "
            "vmaf_torch.VMAF and ffmpeg's libvmaf on the PNG files",
            decimals=2,
            min_side=VMAF_MIN_SIDE,
            build=lambda weights_dir: VMAF("vmaf_v0.6.1"),
            rtol=1e-9,
        ),
        Metric(
            name="vmaf-neg",
            columns=("vmaf_neg",),
            labels=("VMAF NEG (v0.6.1neg)",),
            higher_is_better=True,
            level="pair",
            differentiable=False,
            reference="libvmaf (model vmaf_v0.6.1neg, in ffmpeg) on BT.601 luma, against "
            "vmaf_torch.VMAF(NEG=True) and ffmpeg's libvmaf on the PNG files",
            decimals=2,
            min_side=VMAF_MIN_SIDE,
            build=lambda weights_dir: VMAF("vmaf_v0.6.1neg"),
            rtol=1e-9,
        ),
        Metric(
            name="ssimulacra2",
            columns=("ssimulacra2",),
            labels=("SSIMULACRA2",),
            higher_is_better=True,
            level="pair",
            differentiable=False,
            reference="the ssimulacra2 tool (cloudinary/ssimulacra2 81feacf, libjxl's code) built "
            "from source",
            decimals=2,
            min_side=SSIMULACRA2_MIN_SIDE,
            build=lambda weights_dir: SSIMULACRA2(),
            rtol=1e-9,
        ),
        Metric(
            name="xpsnr",
            columns=("xpsnr",),
            labels=("XPSNR-Y (dB)",),
            higher_is_better=True,
            level="pair",
            differentiable=False,
            reference="ffmpeg's xpsnr filter (Fraunhofer HHI's code) on BT.601 luma, a still's "
            "weighting, against the still-image definition written out in the test",
            decimals=2,
            build=lambda weights_dir: XPSNR(),
            rtol=1e-9,
        ),
        Metric(
            name="fid",
            columns=("fid", "fid_patch"),
            labels=("FID", "patch FID"),
            higher_is_better=False,
            level="set",
            differentiable=False,
            reference="pytorch_fid.fid_score.calculate_frechet_distance on pytorch-fid's pool3 features",
            decimals=2,
            shown=True,
            network="Inception",
            compute=frechet_distance,
            rtol=1e-4,
        ),
        Metric(
            name="kid",
            columns=("kid", "kid_patch"),
            labels=("KID", "patch KID"),
            higher_is_better=False,
            level="set",
            differentiable=False,
            reference="unbiased MMD² with the kernel (x·y/d + 1)³ (Bińkowski et al. 2018), computed directly",
            shown=True,
            network="Inception",
            compute=kernel_inception_distance,
            rtol=1e-3,
        ),
    )
}

PAIR_METRICS = [name for name, m in METRICS.items() if m.level == "pair"]
SET_METRICS = [name for name, m in METRICS.items() if m.level == "set"]
#: What is measured when no metric is named: the ``shown`` pair metrics.
DEFAULT_METRICS = [name for name in PAIR_METRICS if METRICS[name].shown]
#: What a recipe may train on besides MSE.
TRAINABLE_METRICS = [name for name, m in METRICS.items() if m.trainable]
#: Each metric column with the metric that writes it.
BY_COLUMN: dict[str, Metric] = {c: m for m in METRICS.values() for c in m.columns}


def shown_columns() -> list[str]:
    """The main columns of the pair metrics shown by default, in the registry's order."""
    return [METRICS[m].column for m in DEFAULT_METRICS]


def label(column: str) -> str:
    """The readable name of a column for axes and table heads (a metric's label, with its unit)."""
    found = BY_COLUMN.get(column)
    return found.labels[found.columns.index(column)] if found else column.replace("_", " ")


def metric(name: str, level: str | None = None) -> Metric:
    """The declaration of ``name``; an :class:`InputError` listing the choices if there is none."""
    found = METRICS.get(name)
    if found is None or (level is not None and found.level != level):
        choices = [n for n, m in METRICS.items() if level is None or m.level == level]
        raise InputError(
            f"unknown {level + '-level ' if level else ''}metric {name!r}; choose from {', '.join(choices)}"
        )
    return found


def pair_metric(name: str, weights_dir=None, device: str | torch.device = "cpu") -> PairMetric:
    """The torch form of a pair metric on ``device``: frozen, in eval mode, differentiable in the
    images — what a training loss or a fitted combination calls."""
    return metric(name, "pair").build(weights_dir).to(device).eval()
