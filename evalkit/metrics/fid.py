"""FID and KID on pytorch-fid's Inception network (2048-d pool3 features, float64 statistics).

FID follows ``pytorch_fid.fid_score.calculate_frechet_distance``:
‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½, Σ the unbiased sample covariance. Only the trace of the
matrix square root is needed, and it is computed exactly without ``scipy.linalg.sqrtm``:

* with n samples and d features, Σᵢ = AᵢᵀAᵢ/(nᵢ−1) for the centred features Aᵢ, and the non-zero
  eigenvalues of Σ₁Σ₂ are the squared singular values of A₁A₂ᵀ/√((n₁−1)(n₂−1)); so when n < d
  (24 Kodak images, a few hundred patches) tr (Σ₁Σ₂)^½ is the nuclear norm of that n₁×n₂ matrix;
* otherwise it is Σ √λ over the eigenvalues λ of the symmetric Σ₁^½ Σ₂ Σ₁^½ (two ``eigh``).

Both are exact up to float64 rounding and take milliseconds to a second, where ``sqrtm`` of a
2048×2048 product takes seconds and can return a complex result on rank-deficient covariances.

A set of 24 images cannot estimate a 2048-d covariance, so :func:`patches` cuts each image into
fixed-size patches — a grid, plus a second grid shifted by half a patch, as in compression
papers (Mentzer et al. 2020, HiFiC) — to give patch FID more samples. KID (Bińkowski et al. 2018)
is the unbiased MMD² with the cubic polynomial kernel (x·y/d + 1)³, averaged over subsets.
Every value is reported beside the number of samples it came from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..weights import fetch, local_file

CONVERTED_NAME = "pt_inception-2015-12-05-converted.pth"


def load_inception(weights_dir=None, device="cpu"):
    """pytorch-fid's ``InceptionV3`` returning pool3 (2048-d), in eval mode.

    pytorch-fid loads its weights from its release URL through the torch hub cache; a local copy
    (its own file name, or the converted state dict of ``../shared/weights``) is handed to that
    same loader by presenting it in a private hub folder under the expected name.
    """
    from pytorch_fid.inception import FID_WEIGHTS_URL, InceptionV3

    name = FID_WEIGHTS_URL.rsplit("/", 1)[-1]
    weights = local_file([name, CONVERTED_NAME], weights_dir) or fetch(
        FID_WEIGHTS_URL, "FID (Inception)", f", or the converted state dict {CONVERTED_NAME}", weights_dir
    )
    previous = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as hub:
        (Path(hub) / "checkpoints").mkdir()
        (Path(hub) / "checkpoints" / name).symlink_to(Path(weights).resolve())
        torch.hub.set_dir(hub)
        try:
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        finally:
            torch.hub.set_dir(previous)
    return model.eval().requires_grad_(False).to(device)


def patches(image: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Non-overlapping ``size`` patches of a (3, H, W) image on a grid from (0, 0), plus a grid
    shifted by ``size // 2`` in both directions: (P, 3, size, size). Empty if the image is smaller."""
    out = []
    for offset in (0, size // 2):
        region = image[:, offset:, offset:]
        rows, cols = region.shape[1] // size, region.shape[2] // size
        if rows == 0 or cols == 0:
            continue
        tiles = region[:, : rows * size, : cols * size].unfold(1, size, size).unfold(2, size, size)
        out.append(tiles.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size))
    return torch.cat(out) if out else image.new_zeros((0, 3, size, size))


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance in float64, as pytorch-fid computes them."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets (n₁×d, n₂×d), exact trace of the square root (see module)."""
    a1 = np.asarray(features1, np.float64)
    a2 = np.asarray(features2, np.float64)
    if len(a1) < 2 or len(a2) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(a1)} and {len(a2)}")
    mu1, mu2 = a1.mean(0), a2.mean(0)
    a1, a2 = a1 - mu1, a2 - mu2
    n1, n2, d = len(a1) - 1, len(a2) - 1, a1.shape[1]
    trace1, trace2 = (a1 * a1).sum() / n1, (a2 * a2).sum() / n2
    if min(len(a1), len(a2)) < d:
        tr_sqrt = np.linalg.svd(a1 @ a2.T / np.sqrt(n1 * n2), compute_uv=False).sum()
    else:
        s1, s2 = a1.T @ a1 / n1, a2.T @ a2 / n2
        w, v = np.linalg.eigh(s1)
        root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + trace1 + trace2 - 2 * tr_sqrt)


def kernel_inception_distance(
    features1: np.ndarray, features2: np.ndarray, subset_size: int = 1000, subsets: int = 100, seed: int = 0
) -> float:
    """KID: unbiased MMD² with k(x, y) = (x·y/d + 1)³, averaged over random subsets (all samples
    in one subset when a set is smaller than ``subset_size``)."""
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    m = min(len(f1), len(f2), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(f1)} and {len(f2)}")
    rng = np.random.default_rng(seed)
    single = m == len(f1) == len(f2)
    d, values = f1.shape[1], []
    for _ in range(1 if single else subsets):
        x = f1 if single else f1[rng.choice(len(f1), m, replace=False)]
        y = f2 if single else f2[rng.choice(len(f2), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = m * (m - 1)
        values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return float(np.mean(values))
