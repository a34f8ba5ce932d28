"""TEMPORARY stand-in for the lead's metric registry (issue #13 works against its interface);
removed when the real ``evalkit.metrics.registry`` lands on main."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    columns: tuple[str, ...]
    higher_is_better: bool
    level: str


METRICS = {
    "psnr": MetricInfo("psnr", ("psnr",), True, "pair"),
    "psnr-y": MetricInfo("psnr-y", ("psnr_y",), True, "pair"),
    "ms-ssim": MetricInfo("ms-ssim", ("ms_ssim",), True, "pair"),
    "lpips": MetricInfo("lpips", ("lpips",), False, "pair"),
    "lpips-vgg": MetricInfo("lpips-vgg", ("lpips_vgg",), False, "pair"),
    "lpips-squeeze": MetricInfo("lpips-squeeze", ("lpips_squeeze",), False, "pair"),
    "fid": MetricInfo("fid", ("fid", "fid_patch"), False, "set"),
    "kid": MetricInfo("kid", ("kid", "kid_patch"), False, "set"),
}
