"""A simulated crowd whose true answer is known: for tests of the analysis, demos and load tests.

Each codec has a latent quality in JOD. A judgement of codec A against codec B on an image is
Thurstone Case V with three sources of spread: a per-(image, codec) deviation (``image_sd``), a
per-(rater, codec) deviation (``rater_sd``) and trial noise, whose spread is chosen so that the
three together have the standard deviation of the JOD scale (1 / Φ⁻¹(0.75)). Hence, over raters
and images, P(A preferred) = Φ((q_A − q_B) / σ_JOD): a difference of 1 JOD in ``quality`` is
75 % preference, and the analysis should recover ``quality`` (up to its mean) as the JOD scale.

A crowd can instead follow a known metric: ``reconstruction_quality`` gives each reconstruction
(by its path in the study) its latent quality in JOD — e.g. a multiple of its MS-SSIM, as
:func:`metric_following_quality` computes — which then takes the place of the codec's quality
and the image deviation; rater taste and trial noise stay as above (with ``image_sd = 0`` they
make up the whole σ_JOD, so a latent difference of 1 is again 75 % preference). The analysis
should then recover the metric's ranking, and a combined metric fitted on the judgements the
metric itself.

Raters come in four kinds: attentive ones, careless ones (random answers, fast), inverted ones
(who misread the task and pick the worse image — they fail sentinels), and attentive ones who
abandon the task halfway.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .config import StudyConfig
from .design import CandidatePair, Design, PlannedTrial, Sentinel, Side, assignment_id, build_design
from .ranking import JOD_SIGMA

KINDS = ("attentive", "careless", "inverted", "abandons")
#: Latent quality step between a study's codecs (JOD, in the order of study.toml) where nobody
#: says otherwise: ``evalkit study simulate`` without ``--quality``, and the demo's study.
JOD_STEP = 0.7


def evenly_spaced_quality(codecs: list[str], step: float = JOD_STEP) -> dict[str, float]:
    """The default latent quality per codec: ``step`` JOD apart, the first codec at 0.

    >>> evenly_spaced_quality(["jpeg", "webp", "avif"])
    {'jpeg': 0.0, 'webp': 0.7, 'avif': 1.4}
    """
    return {codec: step * n for n, codec in enumerate(codecs)}


@dataclass(frozen=True)
class CrowdModel:
    quality: dict[str, float]  # latent quality per codec, JOD (the same at every bpp)
    image_sd: float = 0.3  # JOD spread of a codec's quality from image to image
    rater_sd: float = 0.2  # JOD spread of a codec's quality from rater to rater
    careless: float = 0.1  # shares of rater kinds; the rest are attentive
    inverted: float = 0.05
    abandons: float = 0.1
    sentinel_lapse: float = 0.02  # attentive raters miss a sentinel this often
    median_response_s: float = 3.0  # attentive raters; careless ones answer in ~0.35 s
    seed: int = 0
    reconstruction_quality: dict[str, float] | None = None  # path → JOD, instead of quality

    def __post_init__(self):
        if self.trial_sd <= 0:
            raise InputError(
                f"image_sd = {self.image_sd} and rater_sd = {self.rater_sd} leave no room "
                f"for trial noise: 2·image_sd² + 2·rater_sd² must be below σ_JOD² = {JOD_SIGMA**2:.3f}"
            )
        shares = (self.careless, self.inverted, self.abandons)
        if min(shares) < 0 or sum(shares) > 1:
            raise InputError(
                "the shares of careless, inverted and abandoning raters must be ≥ 0 and sum to ≤ 1"
            )

    @property
    def trial_sd(self) -> float:
        left = JOD_SIGMA**2 - 2 * self.image_sd**2 - 2 * self.rater_sd**2
        return float(np.sqrt(left)) if left > 0 else 0.0


def _stable_seed(*parts) -> int:
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


@dataclass
class SimulatedRater:
    id: str
    kind: str
    offsets: dict[str, float]  # per-codec deviation of this rater's taste
    rng: np.random.Generator = field(repr=False)

    def stops_after(self, trials: int) -> int:
        """How many trials this rater answers before leaving."""
        return trials // 2 if self.kind == "abandons" else trials


class Reply(NamedTuple):
    """A simulated rater's answer to one trial."""

    choice: str  # "left" or "right"
    response_ms: float
    magnifier_ms: float


class Crowd:
    """Raters drawn from a :class:`CrowdModel`; image deviations drawn once per (image, codec)."""

    def __init__(self, model: CrowdModel):
        self.model = model

    def image_offset(self, image: str, codec: str) -> float:
        rng = np.random.default_rng([self.model.seed, _stable_seed("image", image, codec)])
        return float(rng.normal(0, self.model.image_sd))

    def rater(self, rater_id: str, kind: str | None = None) -> SimulatedRater:
        """The rater called ``rater_id`` (the same one every time), of a kind drawn by the model's
        shares unless ``kind`` is given."""
        m = self.model
        rng = np.random.default_rng([m.seed, _stable_seed("rater", rater_id)])
        if kind is None:
            kind = rng.choice(
                KINDS, p=[1 - m.careless - m.inverted - m.abandons, m.careless, m.inverted, m.abandons]
            )
        return SimulatedRater(
            rater_id, str(kind), {c: float(rng.normal(0, m.rater_sd)) for c in m.quality}, rng
        )

    def latent(self, image: str, side: Side) -> float:
        """The true quality (JOD) of one side of a trial, before rater taste and trial noise."""
        if self.model.reconstruction_quality is not None:
            try:
                return self.model.reconstruction_quality[side.path]
            except KeyError:
                raise InputError(
                    f"the simulated crowd has no quality for {side.path}; give "
                    "reconstruction_quality for every image the study shows"
                ) from None
        return self.model.quality[side.codec] + self.image_offset(image, side.codec)

    def _utility(self, rater: SimulatedRater, image: str, side: Side) -> float:
        return self.latent(image, side) + rater.offsets[side.codec]

    def answer(self, rater: SimulatedRater, trial: PlannedTrial) -> Reply:
        """What ``rater`` answers on ``trial``, and how long it takes."""
        m, rng = self.model, rater.rng
        if rater.kind == "careless":
            choice = "left" if rng.random() < 0.5 else "right"
            return Reply(choice, float(rng.lognormal(np.log(350), 0.3)), 0.0)
        if trial.kind == "sentinel":
            right_answer = rng.random() >= m.sentinel_lapse
            choice = trial.correct if right_answer else ("left" if trial.correct == "right" else "right")
        else:
            margin = (
                self._utility(rater, trial.image, trial.left)
                - self._utility(rater, trial.image, trial.right)
                + rng.normal(0, m.trial_sd)
            )
            choice = "left" if margin > 0 else "right"
        if rater.kind == "inverted":
            choice = "left" if choice == "right" else "right"
        response = float(rng.lognormal(np.log(m.median_response_s * 1000), 0.5))
        return Reply(choice, response, float(response * rng.uniform(0, 0.6)))

    def preference(self, image: str, a: str, b: str) -> float:
        """True P(an attentive rater prefers ``a`` to ``b`` on ``image``) (rater taste and trial
        noise integrated out): the per-pair truth behind the agreement between raters."""
        m = self.model
        margin = m.quality[a] + self.image_offset(image, a) - m.quality[b] - self.image_offset(image, b)
        return float(stats.norm.cdf(margin / np.sqrt(m.trial_sd**2 + 2 * m.rater_sd**2)))


def metric_following_quality(
    design: Design, metric_name: str, jod_per_unit: float, root, engine_options: dict | None = None
) -> dict[str, float]:
    """Latent JOD of every reconstruction ``design`` shows (sentinels excepted): ±``jod_per_unit``
    × the metric on (reference, reconstruction), the sign making better images higher; computed
    by the metric engine on the study's files under ``root`` (its output folder)."""
    from ..metrics import MetricEngine, metric

    declared = metric(metric_name, "pair")
    sides = {(extra["reference"], side.path) for a, b, extra in shown_pairs(design) for side in (a, b)}
    table = pd.DataFrame(sorted(sides), columns=["reference", "reconstruction"])
    values = MetricEngine([metric_name], **(engine_options or {})).evaluate(table, root=root).pairs
    sign = 1.0 if declared.higher_is_better else -1.0
    return dict(zip(values["reconstruction"], sign * jod_per_unit * values[declared.column]))


def shown_pairs(design: Design) -> list[CandidatePair]:
    """Every comparison a design can show, as ``CandidatePair(a, b, {image, target_bpp,
    reference})``: its candidate pairs when active, else the pair trials of its assignments."""
    if design.pairs:
        return design.pairs
    return [
        CandidatePair(
            t.left, t.right, {"image": t.image, "target_bpp": t.target_bpp, "reference": t.reference}
        )
        for a in design.assignments
        for t in a
        if t.kind == "pair"
    ]


class SimulatedResponse(NamedTuple):
    """A row of :func:`simulate_responses`: the columns of the study's raw responses that a
    simulation has, plus the rater's true kind."""

    rater: str
    assignment: str
    trial: str
    kind: str
    image: str
    target_bpp: float | None
    left_codec: str
    right_codec: str
    choice: str
    chosen_codec: str
    correct: str | None
    repeat_of: str | None
    response_ms: float
    magnifier_ms: float
    rater_kind: str


RESPONSE_COLUMNS = list(SimulatedResponse._fields)


def simulate_responses(design: Design, crowd: Crowd, kinds: list[str] | None = None) -> pd.DataFrame:
    """Every assignment of ``design`` answered by a new simulated rater (the k-th of kind
    ``kinds[k]`` if given), as a table with the columns of the study's raw responses plus the
    rater's true kind."""
    return pd.concat(
        [
            answer_assignment(crowd, number, trials, kinds[number - 1] if kinds else None)
            for number, trials in enumerate(design.assignments, start=1)
        ],
        ignore_index=True,
    )


def answer_assignment(
    crowd: Crowd, number: int, trials: list[PlannedTrial], kind: str | None = None
) -> pd.DataFrame:
    """Assignment ``number`` answered by the new simulated rater ``sim:<number>`` (of ``kind``, or
    drawn), as :func:`simulate_responses` tabulates it."""
    rater = crowd.rater(f"sim:{number:04d}", kind)
    rows = []
    for trial in trials[: rater.stops_after(len(trials))]:
        reply = crowd.answer(rater, trial)
        side = trial.left if reply.choice == "left" else trial.right
        rows.append(
            SimulatedResponse(
                rater.id,
                assignment_id(number),
                trial.id,
                trial.kind,
                trial.image,
                trial.target_bpp,
                trial.left.codec,
                trial.right.codec,
                reply.choice,
                side.codec,
                trial.correct,
                trial.repeat_of,
                reply.response_ms,
                reply.magnifier_ms,
                rater.kind,
            )
        )
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def synthetic_design(
    codecs: list[str],
    images: int,
    bpp: list[float],
    judgements_per_pair: int,
    trials_per_assignment: int = 20,
    sentinels: int = 2,
    repeats: int = 2,
    seed: int = 0,
) -> Design:
    """A study design over made-up images (no pixels): every codec pair on every image and bpp,
    dealt into assignments exactly as :func:`~evalkit.study.design.build_design` does."""
    config, pairs, sentinel_files = synthetic_study(
        codecs,
        images,
        bpp,
        seed=seed,
        judgements_per_pair=judgements_per_pair,
        trials_per_assignment=trials_per_assignment,
        sentinels_per_assignment=sentinels,
        repeats_per_assignment=repeats,
    )
    return build_design(config, pairs, [], sentinel_files)


def synthetic_study(codecs: list[str], images: int, bpp: list[float], **settings):
    """(config, planned pairs, sentinel files) of a study over made-up images: every codec pair
    on every image and bpp is a pair at matched bpp; ``settings`` are further study.toml keys."""
    config = StudyConfig(name="synthetic", images="none", codecs=list(codecs), bpp=list(bpp), **settings)
    names = [f"img{n:03d}" for n in range(images)]
    pairs = [
        CandidatePair(
            Side(a, f"{image}/{a}@{b_}.png", b_),
            Side(b, f"{image}/{b}@{b_}.png", b_),
            {"image": image, "target_bpp": b_, "reference": f"{image}.png"},
        )
        for image in names
        for b_ in bpp
        for a, b in itertools.combinations(codecs, 2)
    ]
    return (
        config,
        pairs,
        {
            image: Sentinel(f"{image}.png", f"{image}-faithful.png", f"{image}-degraded.png")
            for image in names
        },
    )
