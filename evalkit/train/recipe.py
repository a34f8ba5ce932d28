"""Training recipes: the ``[train]`` table of a learned-codec zoo file in ``codecs/``.

A recipe is checked whole before any training starts; each problem is an
:class:`~evalkit.errors.InputError` that names the field (``train.lambda``, ``train.losses.l3``…).

    [train]
    architecture = "variable-rate"         # or any trainable one (codecs/architectures.py)
    N = 64                                 # channel counts of the transforms
    M = 96
    lambda = [0.0035, 0.067]               # one λ, or a [lo, hi] range sampled log-uniformly
    losses = { mse = 1.0 }                 # distortion terms and their weights: D = Σ wᵢ dᵢ;
                                           # "roi:NAME" is mask weighted ([train.roi]),
                                           # "main:NAME" scores selective-detail's main decoder
    correlation = 0.0                      # α of paper 004's correlation loss
    patch = 128                            # random crops, patch × patch
    downscale = 1.0                        # training images shrunk by this factor first
                                           # (data.py: hides the JPEG artefacts of BSDS500's)
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
    init = { file = "base.pth", sha256 = "…" }   # optional: start from these weights (a model
                                           # `evalkit train` exported, same architecture, N, M
                                           # and λ range; file relative to the recipe's folder)
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
    [train.roi]                            # optional: masks given with the data (roi: terms)
    masks = "masks"                        # DIR/train/masks/<image stem>.png (see data.py)
    salient = 1.0                          # w_s, weight of the masked region (paper 000 §3)
    background = 0.5                       # w_b, weight of the rest (0: paper 002 eq. 3)
    saliency = "spectral-residual"         # optional: masks computed where the data has none
                                           # (saliency.py: spectral-residual, fine-grained or a
                                           # network's .pt2 file, relative to the recipe)

The loss per image is R + λ·(Σ wᵢ dᵢ(x, x̂)) + α·L_corr, and with a GAN
R + λ·(Σ wᵢ dᵢ + β·Σ vⱼ dⱼ) + λ_adv·β·L_G, the vⱼ being ``train.gan.losses`` (paper 003's
L_cond: rate, MSE, LPIPS + β·(LPIPS + adversarial)); CompressAI's convention, so λ keeps its
published meaning for MSE (0.0018…0.18 spans its eight qualities). A β range makes the
variable-rate model's decoder take β as an input (:mod:`evalkit.models.variable_rate`).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from ..codecs.architectures import TRAINABLE, architecture
from ..errors import InputError
from ..files import read_toml
from ..fit import CombinationModel
from ..metrics.registry import METRICS
from . import saliency
from .losses import DISTORTIONS, GAN_LOSSES, LossTerm

HEADS = ("shared", "independent", "hybrid")
LAMBDA_LIMITS = (1e-5, 1e3)  # outside this, no rate–distortion trade-off is left to learn


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
    losses: dict[str, float] = field(default_factory=dict)  # β-weighted distortion terms

    @property
    def realism_input(self) -> bool:
        """Whether β varies, so the model must take it as an input."""
        return self.beta[0] != self.beta[1]


@dataclass(frozen=True)
class RoiRecipe:
    masks: str  # the mask subfolder of each training folder
    salient: float = 1.0  # paper 000 §3: more weight on the salient region
    background: float = 0.5
    saliency: str | None = None  # how masks are computed where none are given


@dataclass(frozen=True)
class InitRecipe:
    file: Path  # resolved against the recipe's folder
    sha256: str  # what the recipe was run from, checked before training


@dataclass(frozen=True)
class Recipe:
    name: str
    architecture: str
    lmbda: tuple[float, float]  # (λ, λ) for one rate
    losses: dict[str, float]
    steps: int
    patch: int = 128
    downscale: float = 1.0
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
    roi: RoiRecipe | None = None
    init: InitRecipe | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def variable_rate(self) -> bool:
        return self.lmbda[0] != self.lmbda[1]


REQUIRED = ("architecture", "lambda", "losses", "steps")
#: Optional number fields: their type and range; their defaults are :class:`Recipe`'s.
NUMBERS = {
    "patch": (int, 64, 1024),
    "downscale": (float, 1.0, 16.0),
    "batch": (int, 1),
    "N": (int, 1),
    "M": (int, 1),
    "correlation": (float, 0.0),
    "lr": (float, 0.0),
    "aux_lr": (float, 0.0),
    "gamma": (float, 0.0),
    "seed": (int, 0),
    "validate_every": (int, 1),
    "validate_images": (int, 1),
}
LISTS = ("milestones", "validate_lambdas")
TABLES = ("gan", "roi", "init")
GAN_FIELDS = {
    "loss": str,
    "weight": float,
    "beta": list,
    "heads": str,
    "levels": int,
    "lr": float,
    "start": int,
    "losses": dict,
}
ROI_FIELDS = {"masks": str, "salient": float, "background": float, "saliency": str}
INIT_FIELDS = {"file": str, "sha256": str}


def _defaults(cls) -> dict:
    """The defaults a recipe dataclass declares for its fields."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def _number(value, where: str, kind=float, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise RecipeError(f"{where} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RecipeError(f"{where} = {value!r} is out of range [{low}, {high}]")
    return kind(value)


def _lambda(value, where: str) -> float:
    return _number(value, where, float, *LAMBDA_LIMITS)


def _table(value, where: str, fields: dict) -> dict:
    """A sub-table of the recipe, with no field it does not know."""
    if not isinstance(value, dict):
        raise RecipeError(f"{where} must be a table ([{where}])")
    unknown = set(value) - set(fields)
    if unknown:
        raise RecipeError(f"{where}.{sorted(unknown)[0]} is not a field; fields: {', '.join(fields)}")
    return value


def _loss_field(where: str, term: str) -> str:
    """``<where>.<term>`` as TOML spells it (quoted when it has a colon)."""
    return f'{where}."{term}"' if ":" in term else f"{where}.{term}"


def _losses(table, where: str, train: dict, empty: bool = False) -> dict[str, float]:
    """A checked table of distortion = weight (``where``: its field, for messages)."""
    if not isinstance(table, dict) or not (table or empty):
        raise RecipeError(f"{where} must be a table of distortion = weight, e.g. {{ mse = 1.0 }}")
    for term, weight in table.items():
        field_name = _loss_field(where, term)
        parsed = LossTerm.parse(term)
        if parsed.distortion not in DISTORTIONS and parsed.model is None:
            raise RecipeError(
                f"{field_name} is not a loss; choose from "
                f"{', '.join(DISTORTIONS)} or \"combined:MODEL.json\", optionally "
                "prefixed main: (selective-detail's main decoder) and roi: (mask "
                "weighted)"
            )
        if parsed.masked and "roi" not in train:
            raise RecipeError(
                f"{field_name} weighs by masks given with the data; add a "
                "[train.roi] table naming their subfolder: masks = \"masks\""
            )
        if parsed.main and not architecture(train["architecture"]).main_decoder:
            raise RecipeError(
                f"{field_name}: main: scores the main decoder of architecture "
                f"{_having('main_decoder')}, which {train['architecture']!r} does not have"
            )
        _number(weight, field_name, float, 0.0)
    return {k: float(v) for k, v in table.items()}


def _saliency(value, source: Path | None) -> str | None:
    """train.roi.saliency: a built-in method's name, or a network's file (made absolute)."""
    if value is None or value in saliency.BUILTIN:
        return value
    if not isinstance(value, str) or not saliency.is_network(value):
        raise RecipeError(
            f"train.roi.saliency = {value!r} is unknown; choose from "
            f"{', '.join(saliency.BUILTIN)} or give a network's file "
            f"({', '.join(saliency.NETWORK_SUFFIXES)}) relative to the recipe"
        )
    file = Path(value)
    file = file if file.is_absolute() else (source.parent if source else Path()) / file
    if not file.is_file():
        raise RecipeError(
            f"train.roi.saliency: {file} does not exist; give the saliency "
            "network's file (torch.export.save) relative to the recipe"
        )
    return str(file)


def _roi(train: dict, source: Path | None) -> RoiRecipe | None:
    if "roi" not in train:
        return None
    raw = _table(train["roi"], "train.roi", ROI_FIELDS)
    masks = raw.get("masks")
    if not isinstance(masks, str) or Path(masks).name != masks or masks in ("", ".", ".."):
        raise RecipeError(
            f"train.roi.masks = {masks!r} must name the mask subfolder of each "
            "training folder, e.g. \"masks\" for DIR/train/masks/<image stem>.png"
        )
    raw = {**_defaults(RoiRecipe), **raw}
    roi = RoiRecipe(
        masks,
        _number(raw["salient"], "train.roi.salient", float, 0.0),
        _number(raw["background"], "train.roi.background", float, 0.0),
        _saliency(raw["saliency"], source),
    )
    if not roi.salient + roi.background:
        raise RecipeError(
            "train.roi.salient and train.roi.background are both 0; give the salient region a weight"
        )
    gan_terms = train["gan"].get("losses", {}) if isinstance(train.get("gan"), dict) else {}
    if not any(LossTerm.parse(term).masked for term in [*train["losses"], *gan_terms]):
        raise RecipeError(
            "train.roi is given but no train.losses term uses it; prefix the terms "
            "to weight by the masks with roi:, e.g. { \"roi:ms-ssim\" = 1.0 }"
        )
    return roi


def _init(train: dict, source: Path | None) -> InitRecipe | None:
    if "init" not in train:
        return None
    raw = _table(train["init"], "train.init", INIT_FIELDS)
    if not isinstance(raw.get("file"), str) or not raw["file"]:
        raise RecipeError(
            "train.init.file must name the model file to start from, e.g. "
            "{ file = \"base.pth\", sha256 = \"…\" }"
        )
    digest = raw.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
        raise RecipeError(
            "train.init.sha256 must be the 64 hex digits of the file's SHA-256 "
            "(`sha256sum FILE`), so that the recipe names what it starts from"
        )
    file = Path(raw["file"])
    return InitRecipe(file if file.is_absolute() else (source.parent if source else Path()) / file, digest)


def _check_table(train, name: str, source: Path | None) -> None:
    """The [train] table exists, has every required field and no unknown one, and names an
    architecture evalkit trains."""
    if not isinstance(train, dict):
        raise RecipeError(
            f"{source or name}: no [train] table; a recipe is a zoo file (codecs/*.toml) "
            "file with a [train] table (see evalkit/train/recipe.py)"
        )
    for key in REQUIRED:
        if key not in train:
            raise RecipeError(f"train.{key} is missing from {source or name}")
    known = [*REQUIRED, *NUMBERS, *LISTS, *TABLES]
    unknown = set(train) - set(known)
    if unknown:
        raise RecipeError(f"train.{sorted(unknown)[0]} is not a recipe field; fields: {', '.join(known)}")
    if train["architecture"] not in TRAINABLE:
        raise RecipeError(
            f"train.architecture = {train['architecture']!r} is unknown; choose from {', '.join(TRAINABLE)}"
        )


def _having(quality: str) -> str:
    """The trainable architectures with ``quality`` (an :class:`Architecture` attribute), named
    for a message."""
    return " or ".join(f"'{name}'" for name in TRAINABLE if getattr(architecture(name), quality))


def _conditioned(train: dict) -> bool:
    """Whether the recipe's architecture takes λ (and β) as inputs (kind variable-rate)."""
    return architecture(train["architecture"]).conditioned


def _lambdas(train: dict) -> tuple[float, float]:
    """train.lambda: one λ, or a [lo, hi] range for a variable-rate architecture."""
    raw = train["lambda"]
    if not isinstance(raw, list):
        return (_lambda(raw, "train.lambda"),) * 2
    if len(raw) != 2:
        raise RecipeError("train.lambda must be one number or a [lo, hi] range")
    lmbda = (_lambda(raw[0], "train.lambda[0]"), _lambda(raw[1], "train.lambda[1]"))
    if not lmbda[0] < lmbda[1]:
        raise RecipeError(f"train.lambda range {raw} must have lo < hi")
    if not _conditioned(train):
        raise RecipeError(
            f"train.lambda is a range, which only architecture {_having('conditioned')} can learn; give one λ"
        )
    return lmbda


def _options(train: dict, lmbda: tuple[float, float]) -> dict:
    """The optional number and list fields the recipe gives, checked."""
    options = {
        key: _number(train[key], f"train.{key}", *limits) for key, limits in NUMBERS.items() if key in train
    }
    padding = architecture(train["architecture"]).padding
    if options.get("patch", 0) % padding:
        raise RecipeError(f"train.patch = {options['patch']} must be a multiple of {padding}")
    if "milestones" in train:
        options["milestones"] = tuple(_number(v, "train.milestones", int, 0) for v in train["milestones"])
    if "validate_lambdas" in train:
        options["validate_lambdas"] = tuple(
            _number(v, "train.validate_lambdas", float, lmbda[0] * 0.999, lmbda[1] * 1.001)
            for v in train["validate_lambdas"]
        )
    return options


def _gan(train: dict) -> GanRecipe | None:
    if "gan" not in train:
        return None
    raw = {**_defaults(GanRecipe), "losses": {}, **_table(train["gan"], "train.gan", GAN_FIELDS)}
    if raw["loss"] not in GAN_LOSSES:
        raise RecipeError(f"train.gan.loss = {raw['loss']!r} is unknown; choose from {', '.join(GAN_LOSSES)}")
    if raw["heads"] not in HEADS:
        raise RecipeError(f"train.gan.heads = {raw['heads']!r}; choose from {', '.join(HEADS)}")
    raw_beta = list(raw["beta"]) if isinstance(raw["beta"], (list, tuple)) else [raw["beta"]] * 2
    if len(raw_beta) != 2 or raw_beta[0] > raw_beta[1]:
        raise RecipeError("train.gan.beta must be one number or a [lo, hi] range with lo <= hi")
    beta = tuple(_number(v, "train.gan.beta", float, 0.0) for v in raw_beta)
    if beta[0] != beta[1] and not _conditioned(train):
        raise RecipeError(
            f"train.gan.beta is a range, which only architecture {_having('conditioned')} "
            "takes as an input; give one β"
        )
    return GanRecipe(
        loss=raw["loss"],
        weight=_number(raw["weight"], "train.gan.weight", float, 0.0),
        beta=beta,
        heads=raw["heads"],
        levels=_number(raw["levels"], "train.gan.levels", int, 1),
        lr=_number(raw["lr"], "train.gan.lr", float, 0.0),
        start=_number(raw["start"], "train.gan.start", int, 0),
        losses=_losses(raw["losses"], "train.gan.losses", train, empty=True),
    )


def _check_combined_models(recipe: Recipe) -> None:
    """Every combined:MODEL.json term names a file that exists."""
    gan_losses = recipe.gan.losses if recipe.gan else {}
    for where, terms in (("train.losses", recipe.losses), ("train.gan.losses", gan_losses)):
        for term in terms:
            model = LossTerm.parse(term).model
            if model is not None and not model.is_file():
                raise RecipeError(
                    f"{_loss_field(where, term)}: {model} does not exist; fit it "
                    "first with `evalkit fit --out` and give its path (from the "
                    "working folder)"
                )


def _check_whole(recipe: Recipe) -> None:
    """What only the recipe as a whole decides: the GAN loss's needs and the patch size the
    scored metrics need."""
    gan = recipe.gan
    if gan and gan.loss == "hrrgan" and not recipe.variable_rate:
        raise RecipeError(
            "train.gan.loss = \"hrrgan\" compares each output with a higher-rate "
            f"one, so it needs architecture {_having('conditioned')} and a train.lambda range"
        )
    every_term = [LossTerm.parse(term) for term in [*recipe.losses, *(gan.losses if gan else ())]]
    models = {term.model: CombinationModel.load(term.model) for term in every_term if term.model}
    for path, model in models.items():
        model.check_trainable(f"the loss combined:{path}")
    scored = [
        m for term in every_term for m in (models[term.model].metrics if term.model else [term.distortion])
    ]
    for name in dict.fromkeys(m for m in scored if m in METRICS):
        if recipe.patch < METRICS[name].min_side:
            raise RecipeError(
                f"train.patch = {recipe.patch}: the {name} loss (alone or in a "
                f"combined metric) needs patches of at least "
                f"{METRICS[name].min_side} pixels"
            )


def parse_recipe(data: dict, name: str, source: Path | None = None) -> Recipe:
    """The recipe in a zoo file's parsed TOML, every field checked."""
    train = data.get("train")
    _check_table(train, name, source)
    lmbda = _lambdas(train)
    losses = _losses(train["losses"], "train.losses", train)
    options, gan = _options(train, lmbda), _gan(train)
    recipe = Recipe(
        name=name,
        architecture=train["architecture"],
        lmbda=lmbda,
        losses=losses,
        steps=_number(train["steps"], "train.steps", int, 1),
        gan=gan,
        roi=_roi(train, source),
        init=_init(train, source),
        source=source,
        **options,
    )
    _check_combined_models(recipe)
    _check_whole(recipe)
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and check the recipe in a zoo file."""
    path = Path(path)
    return parse_recipe(read_toml(path, "recipe (recipes are codecs/<name>.toml)"), path.stem, path)
