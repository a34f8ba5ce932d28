"""An experiment file: ``evalkit loop EXPERIMENT.toml``'s whole closed loop, declared once.

    name = "loop-demo"
    seed = 2026
    [study]                  # the first study: study.toml's keys but name and seed
    images = "samples"
    codecs = ["jpeg", "webp", "ek-variable-rate-mse"]
    bpp = [0.25, 0.5]
    [crowd]                  # optional: a simulated crowd (leave it out for real raters)
    metric = "ms-ssim"       # whose latent quality of a reconstruction is ±jod_per_unit × this
    jod_per_unit = 40.0      # metric (sign: better images higher); also careless, inverted,
                             # abandons, rater_sd (shares and spread, as CrowdModel) and raters
    [fit]
    metrics = ["psnr", "ms-ssim"]   # the combined metric is fitted over these (evalkit fit)
    folds = 5                       # also hypotheses and threshold, as evalkit fit's options
    [train]
    base = "ek-variable-rate-mse"   # a zoo codec with a [train] recipe and its weights
    data = "training-samples"       # a training folder (DIR/train…, DIR/val) or an image set
    steps = 300                     # fine-tuning steps of each codec
    weight = "auto"                 # w, the scale of −q in the loss, or "auto" (see stages.py)
    metric_share = 0.5              # s: the fitted metric's share of the distortion, (0, 1]
    patch = 192                     # optional: batch, lr, patch override the base recipe's
    [second_study]                  # optional: keys of [study] to change for the second study

Every problem is an :class:`~evalkit.errors.InputError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..datasets import image_spec_in
from ..errors import InputError
from ..files import read_toml
from ..metrics import metric
from ..study.config import StudyConfig, config_from_dict

SECTIONS = {"name", "seed", "study", "crowd", "fit", "train", "second_study"}
CROWD_KEYS = {
    "metric": str,
    "jod_per_unit": float,
    "careless": float,
    "inverted": float,
    "abandons": float,
    "rater_sd": float,
    "raters": int,
}
FIT_KEYS = {"metrics": list, "folds": int, "hypotheses": int, "threshold": float}
TRAIN_KEYS = {
    "base": str,
    "data": str,
    "steps": int,
    "weight": (str, float),
    "metric_share": float,
    "patch": int,
    "batch": int,
    "lr": float,
}


@dataclass(frozen=True)
class CrowdSpec:
    metric: str
    jod_per_unit: float
    careless: float = 0.1
    inverted: float = 0.05
    abandons: float = 0.1
    rater_sd: float = 0.2
    raters: int | None = None  # default: one per assignment


@dataclass(frozen=True)
class FitSpec:
    metrics: list[str]
    folds: int = 5
    hypotheses: int = 1000
    threshold: float | None = None  # RANSAC's inlier threshold (None: twice each row's sampling band)


@dataclass(frozen=True)
class TrainSpec:
    base: str
    data: str
    steps: int
    weight: float | None = None  # None: "auto"
    metric_share: float = 0.5
    overrides: dict = field(default_factory=dict)  # patch, batch, lr


@dataclass(frozen=True)
class Experiment:
    name: str
    seed: int
    folder: Path  # the experiment file's folder; out/ goes there
    study: dict
    second_study: dict
    crowd: CrowdSpec | None
    fit: FitSpec
    train: TrainSpec
    source: Path

    @property
    def out_dir(self) -> Path:
        return self.folder / "out"

    def study_config(self, number: int, codecs: list[str] | None = None) -> StudyConfig:
        """Study 1 (the existing codecs) or 2 (``codecs``, the trained ones), checked, living in
        ``out/study<number>/``."""
        keys = {**self.study, **(self.second_study if number == 2 else {})}
        if codecs is not None:
            keys["codecs"] = list(codecs)
        keys["images"] = image_spec_in(keys["images"], self.folder)
        data = {"name": f"{self.name}-study{number}", "seed": self.seed + number - 1, **keys}
        return config_from_dict(
            data,
            self.out_dir / f"study{number}",
            f"{self.source} [{'study' if number == 1 else 'second_study'}]",
        )


def _typed(table, where: str, keys: dict, required: tuple[str, ...] = ()) -> dict:
    if not isinstance(table, dict):
        raise InputError(f"{where} must be a table ([{where}])")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise InputError(f"{where}.{unknown[0]} is not a key; keys: {', '.join(keys)}")
    missing = [k for k in required if k not in table]
    if missing:
        raise InputError(f"{where}.{missing[0]} is missing")
    for key, value in table.items():
        kinds = keys[key] if isinstance(keys[key], tuple) else (keys[key],)
        ok = any(isinstance(value, (int, float) if k is float else k) for k in kinds)
        if isinstance(value, bool) or not ok:
            raise InputError(f"{where}.{key} = {value!r} must be {' or '.join(k.__name__ for k in kinds)}")
    return table


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment file (studies are checked as study.toml files are)."""
    path = Path(path)
    data = read_toml(path, "experiment file (see evalkit/loop/experiment.py)")
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {unknown}; known: {sorted(SECTIONS)}")
    for key in ("name", "study", "fit", "train"):
        if key not in data:
            raise InputError(f"{path}: {key} is missing")
    if not isinstance(data["name"], str) or not data["name"].replace("-", "").isalnum():
        raise InputError(
            f"{path}: name = {data['name']!r} must be letters, digits and dashes "
            "(it names the trained codecs)"
        )
    study = data["study"]
    if not isinstance(study, dict) or {"name", "seed"} & set(study):
        raise InputError(
            f"{path}: [study] is a table of study.toml keys without name and seed "
            "(the experiment's own name and seed are used)"
        )
    second = data.get("second_study", {})
    if not isinstance(second, dict) or {"name", "seed", "codecs"} & set(second):
        raise InputError(
            f"{path}: [second_study] changes [study] keys but name, seed and codecs "
            "(its codecs are the two trained ones)"
        )
    crowd = None
    if "crowd" in data:
        raw = _typed(data["crowd"], "crowd", CROWD_KEYS, ("metric", "jod_per_unit"))
        metric(raw["metric"], "pair")
        if not raw["jod_per_unit"] > 0:
            raise InputError("crowd.jod_per_unit must be positive")
        crowd = CrowdSpec(**raw)
    fit = FitSpec(**_typed(data["fit"], "fit", FIT_KEYS, ("metrics",)))
    for name in fit.metrics:
        metric(name, "pair")
        if not metric(name).differentiable:
            raise InputError(
                f"fit.metrics: {name} is not differentiable, so the combined metric could not train a codec"
            )
    raw = dict(_typed(data["train"], "train", TRAIN_KEYS, ("base", "data", "steps")))
    weight = raw.pop("weight", "auto")
    if weight != "auto" and (isinstance(weight, str) or not weight > 0):
        raise InputError(f"train.weight = {weight!r} must be a positive number or \"auto\"")
    if not 0 < raw.get("metric_share", 0.5) <= 1:
        raise InputError(f"train.metric_share = {raw['metric_share']!r} must be in (0, 1]")
    if raw["steps"] < 1:
        raise InputError("train.steps must be at least 1")
    base, data_spec, steps = raw.pop("base"), raw.pop("data"), raw.pop("steps")
    share = float(raw.pop("metric_share", 0.5))
    train = TrainSpec(base, data_spec, steps, None if weight == "auto" else float(weight), share, raw)
    experiment = Experiment(
        data["name"], int(data.get("seed", 0)), path.parent.resolve(), study, second, crowd, fit, train, path
    )
    if experiment.train.weight is None and len(experiment.study_config(1).bpp) < 2:
        raise InputError(
            "train.weight = \"auto\" is calibrated on the first study's rate–quality "
            "curves, which need two or more rates in [study] bpp; add one or give "
            "train.weight"
        )
    experiment.study_config(1)
    experiment.study_config(2, ["a", "b"])
    return experiment
