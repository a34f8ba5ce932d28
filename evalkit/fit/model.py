"""A fitted combination saved as JSON, applied to a metrics table, and used as a training loss.

One idea in three forms: :class:`~evalkit.fit.estimator.CombinedMetric` is fitted;
:meth:`CombinationModel.from_estimator` keeps what it learned (``metrics`` as registry names or
column stems of metrics taken from a table, ``coef`` in the metrics' own units, ``intercept``,
``formulation``, the ``link`` its targets were fitted on — a file without one is from before links
and linear —, the held-out ``score_2afc`` with its confidence interval, the standardisation); :meth:`CombinedLoss.from_model` turns that
into a differentiable loss. All three compute q with the one rule
:func:`~evalkit.fit.estimator.combined_quality`; q grows with human preference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from .. import __version__
from ..errors import InputError
from ..files import write_json
from ..metrics import metric, pair_metric
from .estimator import CombinedMetric, combined_quality
from .judgements import metric_column
from .links import link

#: How a fitted model is named among metrics on the command line: ``combined:MODEL.json``.
COMBINED_PREFIX = "combined:"


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
    link: str = "linear"

    @classmethod
    def from_estimator(
        cls,
        estimator: CombinedMetric,
        metrics: list[str],
        score_2afc: float,
        score_2afc_ci: list[float],
        n_judgements: int,
    ) -> CombinationModel:
        """What a fitted estimator learned, with its held-out score, ready to save."""
        return cls(
            list(metrics),
            estimator.coef_.tolist(),
            estimator.intercept_,
            estimator.formulation,
            float(score_2afc),
            list(score_2afc_ci),
            estimator.coef_scaled_.tolist(),
            estimator.scale_.tolist(),
            n_judgements,
            link=estimator.link,
        )

    @property
    def columns(self) -> list[str]:
        return [metric_column(m) for m in self.metrics]

    def quality(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """q for metric values (n, k) in the order of :attr:`metrics`."""
        coef = np.asarray(self.coef, np.float64)
        return combined_quality(np.asarray(values, np.float64), coef, self.intercept)

    def check_trainable(self, where: str = "the combined metric") -> None:
        """An :class:`InputError` unless every metric of the model is differentiable: a term
        without a gradient (VMAF, SSIMULACRA2, XPSNR) would silently train nothing."""
        fixed = [m for m in self.metrics if not metric(m).differentiable]
        if fixed:
            raise InputError(
                f"{where} uses {', '.join(fixed)}, which "
                f"{'is' if len(fixed) == 1 else 'are'} not differentiable, so it cannot "
                "train a codec; fit one on differentiable metrics to train with "
                "(it can still measure and report)"
            )

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> CombinationModel:
        path = Path(path)
        try:
            model = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: not a combined-metric model file ({exc})") from exc
        link(model.link)
        if len(model.coef) != len(model.metrics):
            raise InputError(f"{path}: {len(model.metrics)} metrics but {len(model.coef)} weights")
        return model


def combined_column(path: str | Path) -> str:
    """Column of a fitted combination: ``combined``, or ``combined_<file stem>``."""
    stem = Path(path).stem
    return "combined" if stem == "combined" else f"combined_{stem}"


def split_metric_names(names: list[str]) -> tuple[list[str], dict[str, CombinationModel]]:
    """Engine metric names, and the fitted models named ``combined:MODEL.json``; the engine names
    include every metric a model needs."""
    models = {
        n[len(COMBINED_PREFIX) :]: CombinationModel.load(n[len(COMBINED_PREFIX) :])
        for n in names
        if n.startswith(COMBINED_PREFIX)
    }
    plain = [n for n in names if not n.startswith(COMBINED_PREFIX)]
    return list(dict.fromkeys(plain + [m for model in models.values() for m in model.metrics])), models


def add_combined_columns(pairs: pd.DataFrame, models: dict[str, CombinationModel]) -> pd.DataFrame:
    """``pairs`` (the engine's output) with one quality column per fitted model."""
    return pairs.assign(
        **{
            combined_column(path): model.quality(pairs[model.columns].to_numpy(np.float64))
            for path, model in models.items()
        }
    )


class CombinedLoss(torch.nn.Module):
    """−q(x, x̂), averaged over a batch: a training loss that pushes a codec toward what people
    prefer. Inputs are (N, 3, H, W) in [0, 1]; gradients flow to x̂. Each term is the metric
    registry's torch form, so on 8-bit images the loss equals −q of the engine's values.
    """

    coef: torch.Tensor  # a buffer: the model's weights, on the loss's device

    def __init__(self, model: CombinationModel, weights_dir: str | Path | None = None) -> None:
        super().__init__()
        model.check_trainable()
        self.model = model
        self.terms = torch.nn.ModuleList(pair_metric(m, weights_dir) for m in model.metrics)
        self.register_buffer("coef", torch.tensor(model.coef, dtype=torch.float64))

    @classmethod
    def from_model(
        cls, model: CombinationModel | str | Path, weights_dir: str | Path | None = None
    ) -> CombinedLoss:
        """The loss of a model, or of a saved model file."""
        return cls(
            model if isinstance(model, CombinationModel) else CombinationModel.load(model), weights_dir
        )

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        values = torch.stack([term(x, x_hat).double() for term in self.terms], dim=1)
        return -combined_quality(values, self.coef, self.model.intercept).mean().to(x_hat.dtype)
