"""Training recipes: the ``[train]`` table of a learned-codec zoo file in ``codecs/``.

A recipe is checked whole before any training starts; each problem is an
:class:`~evalkit.errors.InputError` that names the field (``train.lambda``, ``train.losses.l3``…).

    [train]
    architecture = "variable-rate"         # or bmshj2018-hyperprior, mbt2018-mean, selective-detail
    N = 64                                 # channel counts of the transforms
    M = 96
    lambda = [0.0035, 0.067]               # one λ, or a [lo, hi] range sampled log-uniformly
    losses = { mse = 1.0 }                 # distortion terms and their weights: D = Σ wᵢ dᵢ
    correlation = 0.0                      # α of paper 004's correlation loss
    patch = 128                            # random crops, patch × patch
    batch = 8
    steps = 2000
    lr = 1e-4                              # Adam, main parameters
    aux_lr = 1e-3                          # Adam, the entropy bottleneck's quantiles (aux loss)
    milestones = [1500]                    # learning rate × gamma at these steps
    gamma = 0.1
    seed = 0
    validate_every = 500                   # steps between validations with real bitstreams
    validate_images = 8                    # held-out images scored
    validate_lambdas = [0.0035, 0.015, 0.067]
    [train.gan]                            # optional: adversarial training (paper 003)
    loss = "hrrgan"                        # softplus, ragan, rgan, hrrgan
    weight = 0.01                          # λ_adv
    beta = [0.0, 2.56]                     # realism weight β: one value, or a range sampled per
                                           # batch that a variable-rate model takes as an input
    losses = { lpips = 1000.0 }            # distortion terms weighted by β as well
    heads = "hybrid"                       # shared, independent, hybrid
    levels = 4
    lr = 1e-4
    start = 0                              # first step with the adversarial term

The loss per image is R + λ·(Σ wᵢ dᵢ(x, x̂)) + α·L_corr, and with a GAN
R + λ·(Σ wᵢ dᵢ + β·Σ vⱼ dⱼ) + λ_adv·β·L_G, the vⱼ being ``train.gan.losses`` (paper 003's
L_cond: rate, MSE, LPIPS + β·(LPIPS + adversarial)); CompressAI's convention, so λ keeps its
published meaning for MSE (0.0018…0.18 spans its eight qualities). A β range makes the
variable-rate model's decoder take β as an input (:mod:`evalkit.models.variable_rate`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..files import read_toml
from .losses import GAN_LOSSES

ARCHITECTURES = ("variable-rate", "bmshj2018-hyperprior", "mbt2018-mean", "selective-detail")
DISTORTIONS = ("mse", "ms-ssim", "lpips", "lpips-vgg", "lpips-squeeze")
HEADS = ("shared", "independent", "hybrid")
LAMBDA_LIMITS = (1e-5, 1e3)     # outside this, no rate–distortion trade-off is left to learn


class RecipeError(InputError):
    """A recipe field is missing, unknown or out of range (the message names it)."""


@dataclass(frozen=True)
class GanRecipe:
    loss: str = "hrrgan"
    weight: float = 0.01
    beta: tuple[float, float] = (0.0, 2.56)
    heads: str = "hybrid"
    levels: int = 4
    lr: float = 1e-4
    start: int = 0
    losses: dict[str, float] = field(default_factory=dict)   # β-weighted distortion terms

    @property
    def realism_input(self) -> bool:
        """Whether β varies, so the model must take it as an input."""
        return self.beta[0] != self.beta[1]


@dataclass(frozen=True)
class Recipe:
    name: str
    architecture: str
    lmbda: tuple[float, float]           # (λ, λ) for one rate
    losses: dict[str, float]
    steps: int
    patch: int = 128
    batch: int = 8
    N: int = 64
    M: int = 96
    correlation: float = 0.0
    lr: float = 1e-4
    aux_lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    seed: int = 0
    validate_every: int = 500
    validate_images: int = 8
    validate_lambdas: tuple[float, ...] = ()
    gan: GanRecipe | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def variable_rate(self) -> bool:
        return self.lmbda[0] != self.lmbda[1]


REQUIRED = ("architecture", "lambda", "losses", "steps")
OPTIONAL = {"patch": int, "batch": int, "N": int, "M": int, "correlation": float, "lr": float,
            "aux_lr": float, "milestones": list, "gamma": float, "seed": int,
            "validate_every": int, "validate_images": int, "validate_lambdas": list, "gan": dict}
GAN_FIELDS = {"loss": str, "weight": float, "beta": list, "heads": str, "levels": int,
              "lr": float, "start": int, "losses": dict}


def _number(value, where: str, kind=float, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise RecipeError(f"{where} must be {'a number' if kind is float else 'an integer'}, "
                          f"got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RecipeError(f"{where} = {value!r} is out of range [{low}, {high}]")
    return kind(value)


def _lambda(value, where: str) -> float:
    return _number(value, where, float, *LAMBDA_LIMITS)


def _losses(table, where: str, empty: bool = False) -> dict[str, float]:
    """A checked table of distortion = weight."""
    if not isinstance(table, dict) or not (table or empty):
        raise RecipeError(f"{where} must be a table of distortion = weight, e.g. {{ mse = 1.0 }}")
    for term, weight in table.items():
        if term not in DISTORTIONS and not term.startswith("combined:"):
            raise RecipeError(f"{where}.{term} is not a loss; choose from "
                              f"{', '.join(DISTORTIONS)} or \"combined:MODEL.json\"")
        _number(weight, f"{where}.{term}", float, 0.0)
    return {k: float(v) for k, v in table.items()}


def parse_recipe(data: dict, name: str, source: Path | None = None) -> Recipe:
    """The recipe in a zoo file's parsed TOML, every field checked."""
    train = data.get("train")
    if not isinstance(train, dict):
        raise RecipeError(f"{source or name}: no [train] table; a recipe is a codecs/*.toml zoo "
                          "file with a [train] table (see evalkit/train/recipe.py)")
    for key in REQUIRED:
        if key not in train:
            raise RecipeError(f"train.{key} is missing from {source or name}")
    unknown = set(train) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise RecipeError(f"train.{sorted(unknown)[0]} is not a recipe field; fields: "
                          f"{', '.join([*REQUIRED, *OPTIONAL])}")
    if train["architecture"] not in ARCHITECTURES:
        raise RecipeError(f"train.architecture = {train['architecture']!r} is unknown; choose "
                          f"from {', '.join(ARCHITECTURES)}")
    raw = train["lambda"]
    if isinstance(raw, list):
        if len(raw) != 2:
            raise RecipeError("train.lambda must be one number or a [lo, hi] range")
        lmbda = (_lambda(raw[0], "train.lambda[0]"), _lambda(raw[1], "train.lambda[1]"))
        if not lmbda[0] < lmbda[1]:
            raise RecipeError(f"train.lambda range {raw} must have lo < hi")
        if train["architecture"] != "variable-rate":
            raise RecipeError("train.lambda is a range, which only architecture 'variable-rate' "
                              "can learn; give one λ")
    else:
        lmbda = (_lambda(raw, "train.lambda"),) * 2
    losses = _losses(train["losses"], "train.losses")
    options = {}
    for key, kind in OPTIONAL.items():
        if key not in train or key == "gan":
            continue
        value = train[key]
        where = f"train.{key}"
        if key in ("milestones",):
            options[key] = tuple(_number(v, where, int, 0) for v in value)
        elif key == "validate_lambdas":
            options[key] = tuple(_number(v, where, float, lmbda[0] * 0.999, lmbda[1] * 1.001)
                                 for v in value)
        elif key in ("patch",):
            options[key] = _number(value, where, int, 64, 1024)
            if value % 64:
                raise RecipeError(f"train.patch = {value} must be a multiple of 64")
        elif kind is int:
            options[key] = _number(value, where, int, 0 if key == "seed" else 1)
        else:
            options[key] = _number(value, where, float, 0.0)
    gan = None
    if "gan" in train:
        raw_gan = train["gan"]
        unknown = set(raw_gan) - set(GAN_FIELDS)
        if unknown:
            raise RecipeError(f"train.gan.{sorted(unknown)[0]} is not a field; fields: "
                              f"{', '.join(GAN_FIELDS)}")
        if raw_gan.get("loss", "hrrgan") not in GAN_LOSSES:
            raise RecipeError(f"train.gan.loss = {raw_gan['loss']!r} is unknown; choose from "
                              f"{', '.join(GAN_LOSSES)}")
        if raw_gan.get("heads", "hybrid") not in HEADS:
            raise RecipeError(f"train.gan.heads = {raw_gan['heads']!r}; choose from {', '.join(HEADS)}")
        raw_beta = raw_gan.get("beta", [0.0, 2.56])
        raw_beta = raw_beta if isinstance(raw_beta, list) else [raw_beta] * 2
        if len(raw_beta) != 2 or raw_beta[0] > raw_beta[1]:
            raise RecipeError("train.gan.beta must be one number or a [lo, hi] range with lo <= hi")
        beta = tuple(_number(v, "train.gan.beta", float, 0.0) for v in raw_beta)
        if beta[0] != beta[1] and train["architecture"] != "variable-rate":
            raise RecipeError("train.gan.beta is a range, which only architecture 'variable-rate' "
                              "takes as an input; give one β")
        gan = GanRecipe(loss=raw_gan.get("loss", "hrrgan"),
                        weight=_number(raw_gan.get("weight", 0.01), "train.gan.weight", float, 0.0),
                        beta=beta, heads=raw_gan.get("heads", "hybrid"),
                        levels=_number(raw_gan.get("levels", 4), "train.gan.levels", int, 1),
                        lr=_number(raw_gan.get("lr", 1e-4), "train.gan.lr", float, 0.0),
                        start=_number(raw_gan.get("start", 0), "train.gan.start", int, 0),
                        losses=_losses(raw_gan.get("losses", {}), "train.gan.losses", empty=True))
    recipe = Recipe(name=name, architecture=train["architecture"], lmbda=lmbda,
                    losses=losses,
                    steps=_number(train["steps"], "train.steps", int, 1), gan=gan, source=source,
                    **options)
    for term in [*recipe.losses, *(gan.losses if gan else ())]:
        model = Path(term.split(":", 1)[1]) if term.startswith("combined:") else None
        if model is not None and not model.is_file():
            raise RecipeError(f"train.losses.\"{term}\": {model} does not exist; fit it first "
                              "with `evalkit fit --out` and give its path (from the working folder)")
    if gan and gan.loss == "hrrgan" and not recipe.variable_rate:
        raise RecipeError("train.gan.loss = \"hrrgan\" compares each output with a higher-rate "
                          "one, so it needs architecture \"variable-rate\" and a train.lambda range")
    if "ms-ssim" in [*recipe.losses, *(gan.losses if gan else ())] and recipe.patch < 192:
        raise RecipeError(f"train.patch = {recipe.patch}: the ms-ssim loss needs patches of at "
                          "least 192 pixels (five scales of an 11-pixel window)")
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and check the recipe in a zoo file."""
    path = Path(path)
    return parse_recipe(read_toml(path, "recipe (recipes are codecs/<name>.toml)"), path.stem, path)
