"""A fitted combination saved as JSON, loaded back as a metric and as a differentiable loss.

The file holds ``metrics`` (engine names), ``coef`` (weights in the metrics' own units),
``intercept``, ``formulation``, ``score_2afc`` (held-out) with its confidence interval, and the
standardisation used. Its quality q = Σ coef_i · m_i + intercept grows with human preference.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..metrics.engine import PAIR_METRICS
from ..metrics.psnr import Y_WEIGHTS
from ..files import write_json


@dataclass
class CombinationModel:
    metrics: list[str]
    coef: list[float]
    intercept: float
    formulation: str
    score_2afc: float
    score_2afc_ci: list[float] = field(default_factory=lambda: [float("nan")] * 2)
    coef_scaled: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    n_judgements: int = 0
    evalkit_version: str = __version__

    @property
    def columns(self) -> list[str]:
        return [PAIR_METRICS[m] for m in self.metrics]

    def quality(self, values: np.ndarray) -> np.ndarray:
        """q for metric values (n, k) in the order of :attr:`metrics`."""
        return np.asarray(values, np.float64) @ np.asarray(self.coef) + self.intercept

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> "CombinationModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            model = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a combined-metric model file ({exc})") from exc
        unknown = [m for m in model.metrics if m not in PAIR_METRICS]
        if unknown or len(model.coef) != len(model.metrics):
            raise ValueError(f"{path}: metrics {model.metrics} and coef {model.coef} do not match "
                             f"the engine's metrics ({', '.join(PAIR_METRICS)})")
        return model


class CombinedLoss(torch.nn.Module):
    """−q(x, x̂), averaged over a batch: a training loss that pushes a codec toward what people
    prefer. Inputs are (N, 3, H, W) in [0, 1]; gradients flow to x̂. PSNR is computed from the
    MSE of the un-rounded images (the metric rounds to 8 bits; a loss cannot).
    """

    def __init__(self, model: CombinationModel | str | Path, weights_dir=None):
        super().__init__()
        from ..metrics.lpips import load_lpips

        self.model = model if isinstance(model, CombinationModel) else CombinationModel.load(model)
        self.register_buffer("coef", torch.tensor(self.model.coef, dtype=torch.float32))
        nets = {"lpips": "alex", "lpips-vgg": "vgg", "lpips-squeeze": "squeeze"}
        self.lpips = torch.nn.ModuleDict({m.replace("-", "_"): load_lpips(nets[m], weights_dir)
                                          for m in self.model.metrics if m in nets})

    def _term(self, name: str, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        from ..metrics.msssim import MSSSIMReference

        if name in ("psnr", "psnr-y"):
            if name == "psnr-y":
                w = x.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)   # the +16 offset cancels in x − x̂
                x, x_hat = (x * w).sum(1, keepdim=True), (x_hat * w).sum(1, keepdim=True)
            mse = ((x - x_hat) ** 2).flatten(1).mean(1)
            return -10.0 * torch.log10(mse.clamp_min(1e-12))
        if name == "ms-ssim":
            return MSSSIMReference(x * 255.0).score(x_hat * 255.0)
        return self.lpips[name.replace("-", "_")](x, x_hat, normalize=True).flatten()

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        terms = torch.stack([self._term(m, x, x_hat) for m in self.model.metrics], dim=1)
        return -(terms @ self.coef + self.model.intercept).mean()
