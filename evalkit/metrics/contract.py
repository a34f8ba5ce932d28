"""What the public metric forms accept, checked before anything is computed.

The torch forms of the registry (:class:`~evalkit.metrics.base.PairMetric`) take (N, 3, H, W)
float tensors in [0, 1] and check nothing: training feeds them unclamped decoder outputs, and the
engine feeds them 8-bit images it decoded itself. A caller in a notebook meets other
conventions — uint8 arrays, floats in [0, 255] (``data_range=255`` in pytorch_msssim, skimage and
torchmetrics), [−1, 1] (the ``lpips`` package's own) — and a metric fed the wrong one returns a
plausible wrong number. So the public forms (:mod:`.functional`) pass both images through
:func:`checked_pair`, which says the convention in every refusal:

* **layout**: a torch tensor is (3, H, W) or (N, 3, H, W); a NumPy array is (H, W, 3) or
  (N, H, W, 3), as images are read. Both images the same kind, the same shape.
* **dtype**: floating point. Integers (uint8 above all) are refused: their scale is a guess.
* **values**: finite (no NaN, no ±inf), within the declared range — ``data_range=R``: [0, R];
  ``convention="[-1,1]"``: [−1, 1]; neither: [0, 1] — and, with ``data_range`` above 1, not all
  within [0, 1] (floats already in [0, 1] given a 0–255 range).

The images come back as (N, 3, H, W) tensors in [0, 1], differentiable in the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch

from ..errors import InputError

#: The input conventions a caller may declare, by name: each is the range of the values.
CONVENTIONS = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)}
#: One image or a batch as the public forms take it (and give back scores): a torch tensor or a
#: NumPy array of floats, whose layout and values :func:`checked_images` checks.
Images: TypeAlias = "torch.Tensor | npt.NDArray[np.floating[Any]]"
#: How far outside its range a value may lie (float rounding of a conversion), relative to the range.
SLACK = 1e-6


class ConventionError(InputError):
    """Images that do not fit the declared input convention; the message names the convention."""


@dataclass(frozen=True)
class Convention:
    """The range images are declared in: ``data_range`` (values in [0, R]) or a named
    convention of :data:`CONVENTIONS`; neither means [0, 1]."""

    low: float
    high: float
    name: str

    @classmethod
    def of(cls, data_range: float | None = None, convention: str | None = None) -> Convention:
        if data_range is not None and convention is not None:
            raise ConventionError(
                "give data_range (values in [0, data_range]) or convention "
                f"({', '.join(CONVENTIONS)}), not both"
            )
        if convention is not None:
            key = convention.replace(" ", "").replace("−", "-")
            if key not in CONVENTIONS:
                raise ConventionError(
                    f"unknown convention {convention!r}; choose from "
                    f"{', '.join(CONVENTIONS)} (or give data_range=R for [0, R])"
                )
            return cls(*CONVENTIONS[key], key)
        if data_range is None:
            return cls(0.0, 1.0, "[0,1]")
        if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not data_range > 0:
            raise ConventionError(
                f"data_range must be a positive number (the peak value: 1 for "
                f"[0, 1], 255 for [0, 255]), got {data_range!r}"
            )
        return cls(0.0, float(data_range), f"data_range={data_range:g}")

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}] ({self.name})"


def _as_tensor(image: object, role: str) -> tuple[torch.Tensor, bool]:
    """(N, 3, H, W) view of one image or batch, and whether it came as NumPy (channels last)."""
    if isinstance(image, np.ndarray):
        layout, numpy = "(H, W, 3) or (N, H, W, 3)", True
        tensor = torch.from_numpy(image)
        ok = tensor.ndim in (3, 4) and tensor.shape[-1] == 3
        tensor = tensor.movedim(-1, -3) if ok else tensor
    elif isinstance(image, torch.Tensor):
        layout, numpy, tensor = "(3, H, W) or (N, 3, H, W)", False, image
        ok = tensor.ndim in (3, 4) and tensor.shape[-3] == 3
    else:
        raise ConventionError(
            f"{role} must be a torch tensor (N, 3, H, W) or a NumPy array "
            f"(N, H, W, 3), got {type(image).__name__}"
        )
    if not ok:
        raise ConventionError(f"{role} has shape {tuple(image.shape)}; RGB images are {layout}")
    if not tensor.is_floating_point():
        raise ConventionError(
            f"{role} is {str(image.dtype).replace('torch.', '')}: give floating-point images in "
            "the declared range — [0, 1] by default (e.g. x.float() / 255), or [0, 255] floats "
            "with data_range=255 — an integer image's scale is not guessed"
        )
    return (tensor[None] if tensor.ndim == 3 else tensor), numpy


def checked_images(
    images: Images, role: str, data_range: float | None = None, convention: str | None = None
) -> tuple[torch.Tensor, bool, bool]:
    """One image or a batch as (N, 3, H, W) in [0, 1] after the layout, dtype and value checks
    of the module docstring; then whether it was NumPy and whether it was one image."""
    declared = Convention.of(data_range, convention)
    tensor, numpy = _as_tensor(images, role)
    x = tensor.detach()
    if not torch.isfinite(x).all():
        raise ConventionError(f"{role} has NaN or infinite values")
    span = declared.high - declared.low
    low, high = (x.min().item(), x.max().item()) if x.numel() else (declared.low, declared.low)
    if low < declared.low - SLACK * span or high > declared.high + SLACK * span:
        raise ConventionError(
            f"{role} has values in [{low:.4g}, {high:.4g}], outside "
            f"{declared.describe()}{_hint(low, high, declared)}"
        )
    scaled = (tensor - declared.low) / span if (declared.low, span) != (0.0, 1.0) else tensor
    return scaled, numpy, images.ndim == 3


def checked_pair(
    reference: Images, distorted: Images, data_range: float | None = None, convention: str | None = None
) -> tuple[torch.Tensor, torch.Tensor, bool, bool]:
    """Both images as (N, 3, H, W) tensors in [0, 1], after every check of the module docstring;
    then whether the inputs were NumPy and whether they were one image (not a batch)."""
    ref, ref_numpy, single = checked_images(reference, "reference", data_range, convention)
    dist, dist_numpy, _ = checked_images(distorted, "distorted", data_range, convention)
    if ref_numpy != dist_numpy:
        raise ConventionError("reference and distorted must both be torch tensors or both NumPy arrays")
    if ref.shape != dist.shape:
        raise ConventionError(
            f"reference is {_shape(reference)} but distorted is {_shape(distorted)}; "
            "a full-reference metric compares images of the same size"
        )
    declared = Convention.of(data_range, convention)
    if declared.high > 1 and declared.low == 0:
        peak = max(reference.max().item(), distorted.max().item())
        if 0 < peak <= 1:
            raise ConventionError(
                f"all values are within [0, 1] but {declared.name} declares "
                f"[0, {declared.high:g}]: images in [0, 1] need no data_range"
            )
    return ref, dist, ref_numpy, single


def _shape(image: Images) -> str:
    return "×".join(map(str, image.shape))


def _hint(low: float, high: float, declared: Convention) -> str:
    if high > 1.5 and declared.high <= 1:
        return "; for images in [0, 255] give data_range=255"
    if low < 0 and declared.low == 0:
        return "; for images in [-1, 1] (the lpips package's convention) give convention='[-1,1]'"
    return "; clamp the images or declare their range (data_range=R or convention=...)"
