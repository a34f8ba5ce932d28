"""Study design: the trials raters see, at truly matched bpp, balanced and counterbalanced.

* Pairs: for each image and target bpp, every pair of codecs (or each codec against the anchor),
  kept only if the two reconstructions' achieved bpp differ by at most ``bpp_tolerance``
  (relative); every pair left out is reported, loudly.
* Counterbalancing: a pair's judgements alternate which codec is on the left.
* Assignments: the pair × judgement slots are dealt round by round in a shuffled order and
  filled into assignments of ``trials_per_assignment``; a slot whose pair the assignment being
  filled already holds waits for the next one, so each pair gets its judgements and no
  assignment holds a pair twice (an unlabelled repeat would count as an independent vote).
  With fewer pairs than ``trials_per_assignment`` an assignment holds each pair once (so it is
  smaller), unless ``allow_pair_repeats``.
* Quality control: sentinel trials compare a faithful copy of the original (JPEG quality 95)
  with a strongly degraded one (quality 3); the faithful copy is the right answer, and neither
  side is the reference itself, so a sentinel cannot be told by an image identical to the
  middle one. Repeat trials show an earlier trial of the same assignment again, sides swapped,
  to measure a rater's consistency.
* Order is shuffled per assignment. Everything is deterministic under the study's seed.
"""

from __future__ import annotations

import io
import itertools
import json
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import InputError
from ..files import write_json
from ..images import load_image, save_png
from .config import StudyConfig

SENTINEL_JPEG_QUALITY = 3  # blocky enough that anyone paying attention sees it
FAITHFUL_JPEG_QUALITY = 95  # the sentinel's right answer: indistinguishable from the original by eye


NO_PAIRS = (
    "no pair of reconstructions is at a matched bpp; raise bpp_tolerance or check the codecs' "
    "flags in the manifest"
)


class BppMismatchWarning(UserWarning):
    """A pair was left out because its two sides are not at the same bpp."""


@dataclass(frozen=True)
class Side:
    codec: str  # "faithful" and "degraded" for sentinels
    path: str  # relative to the study's output folder
    bpp: float | None


@dataclass(frozen=True)
class PlannedTrial:
    id: str
    kind: str  # "pair", "sentinel" or "repeat"
    image: str
    target_bpp: float | None
    reference: str
    left: Side
    right: Side
    correct: str | None = None  # sentinels: the side showing the faithful copy
    repeat_of: str | None = None


class CandidatePair(NamedTuple):
    """Two reconstructions at matched bpp that a study may compare; ``context`` holds the image,
    target_bpp and reference they share (as trials.json stores it: ``[a, b, context]``)."""

    a: Side
    b: Side
    context: dict


class Sentinel(NamedTuple):
    """An image's sentinel files, relative to the study's output folder."""

    reference: str
    faithful: str  # JPEG quality 95: the right answer
    degraded: str  # JPEG quality 3


@dataclass(frozen=True)
class Design:
    """A study's trial set. A fixed design lists its assignments; an active one (``sampling =
    "active"``) lists none but keeps its candidate ``pairs`` and ``sentinels``, from which the
    server plans each assignment when it is claimed (:mod:`evalkit.study.sampling`)."""

    study: str
    seed: int
    assignments: list[list[PlannedTrial]]
    rejected: list[str]
    pairs: list[CandidatePair] = field(default_factory=list)
    sentinels: dict[str, Sentinel] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return not self.assignments and bool(self.pairs)

    def to_json(self) -> dict:
        return {
            "study": self.study,
            "seed": self.seed,
            "rejected": self.rejected,
            "assignments": [[asdict(t) for t in a] for a in self.assignments],
            "pairs": [[asdict(a), asdict(b), context] for a, b, context in self.pairs],
            "sentinels": {image: list(files) for image, files in self.sentinels.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Design:
        def trial(t):
            return PlannedTrial(**{**t, "left": Side(**t["left"]), "right": Side(**t["right"])})

        return cls(
            data["study"],
            data["seed"],
            [[trial(t) for t in a] for a in data["assignments"]],
            data["rejected"],
            [CandidatePair(Side(**a), Side(**b), context) for a, b, context in data.get("pairs", [])],
            {image: Sentinel(*files) for image, files in data.get("sentinels", {}).items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> Design:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no trial set; run 'evalkit study build' first")
        return cls.from_json(json.loads(path.read_text()))


def plan_pairs(manifest: pd.DataFrame, config: StudyConfig) -> tuple[list[CandidatePair], list[str]]:
    """Pairs of reconstructions at matched bpp, and a line for each pair left out."""
    pairs, rejected = [], []
    for (image, target), group in manifest.groupby(["image", "target_bpp"], sort=True):
        rows = {r["codec"]: r for r in group.to_dict("records")}
        names = [c for c in config.codecs if c in rows]
        if config.pairs == "anchor":
            combos = [(config.anchor, c) for c in names if c != config.anchor and config.anchor in rows]
        else:
            combos = list(itertools.combinations(names, 2))
        for a, b in combos:
            ra, rb = rows[a], rows[b]
            gap = abs(ra["bpp"] / rb["bpp"] - 1)
            if gap > config.bpp_tolerance:
                rejected.append(
                    f"{image} @ {target:g} bpp: {a} {ra['bpp']:.4f} vs {b} {rb['bpp']:.4f} "
                    f"bpp differ by {gap:.1%} > {config.bpp_tolerance:.1%}"
                )
                continue
            context = {"image": image, "target_bpp": float(target), "reference": ra["reference"]}
            pairs.append(
                CandidatePair(
                    Side(a, ra["reconstruction"], float(ra["bpp"])),
                    Side(b, rb["reconstruction"], float(rb["bpp"])),
                    context,
                )
            )
    return pairs, rejected


def assignment_id(number: int) -> str:
    return f"a{number:03d}"


def build_design(
    config: StudyConfig, pairs: list[CandidatePair], rejected: list[str], sentinels: dict[str, Sentinel]
) -> Design:
    """Assignments from planned pairs, with the sentinels of each image."""
    if not pairs:
        raise InputError(NO_PAIRS)
    per = config.trials_per_assignment
    rng = np.random.default_rng(config.seed)
    slots = []
    for round_ in range(config.judgements_per_pair):
        for index in rng.permutation(len(pairs)):
            slots.append((int(index), (round_ + int(index)) % 2 == 1))
    assignments = [
        assignment_of_pairs(
            number, [(pairs[index], swapped) for index, swapped in dealt], config, sentinels, rng
        )
        for number, dealt in enumerate(_deal(slots, per, config.allow_pair_repeats), start=1)
    ]
    return Design(config.name, config.seed, assignments, rejected)


def assignment_of_pairs(
    number: int,
    pairs: list[tuple[CandidatePair, bool]],
    config: StudyConfig,
    sentinels: dict[str, Sentinel],
    rng: np.random.Generator,
) -> list[PlannedTrial]:
    """Assignment ``number``: each planned pair shown with its sides swapped or not, plus the
    study's sentinels and repeats, in a shuffled order."""
    trials = []
    for (a, b, context), swapped in pairs:
        left, right = (b, a) if swapped else (a, b)
        trials.append(
            PlannedTrial(
                "", "pair", context["image"], context["target_bpp"], context["reference"], left, right
            )
        )
    return _finish_assignment(number, trials, config, sentinels, rng)


def _deal(slots: list[tuple[int, bool]], per: int, allow_repeats: bool) -> list[list[tuple[int, bool]]]:
    """Cut the slots, in order, into assignments of ``per``; a slot whose pair the current
    assignment already holds is kept back for the next assignment (unless repeats are allowed)."""
    pending, dealt = list(slots), []
    while pending:
        taken, held, pairs = [], [], set()
        for slot in pending:
            if len(taken) < per and (allow_repeats or slot[0] not in pairs):
                taken.append(slot)
                pairs.add(slot[0])
            else:
                held.append(slot)
        dealt.append(taken)
        pending = held
    return dealt


def _finish_assignment(number, trials, config, sentinels, rng) -> list[PlannedTrial]:
    images = sorted(sentinels)
    for _ in range(config.sentinels_per_assignment if images else 0):
        image = images[int(rng.integers(len(images)))]
        files = sentinels[image]
        original, worse = Side("faithful", files.faithful, None), Side("degraded", files.degraded, None)
        left_is_original = bool(rng.integers(2))
        trials.append(
            PlannedTrial(
                "",
                "sentinel",
                image,
                None,
                files.reference,
                original if left_is_original else worse,
                worse if left_is_original else original,
                correct="left" if left_is_original else "right",
            )
        )
    order = [trials[i] for i in rng.permutation(len(trials))]
    regular = [i for i, t in enumerate(order) if t.kind == "pair"]
    chosen = (
        sorted(
            rng.choice(regular, size=min(config.repeats_per_assignment, len(regular)), replace=False).tolist()
        )
        if regular
        else []
    )
    entries = [(t, i, None) for i, t in enumerate(order)]  # (trial, own index, index repeated)
    for position in reversed(chosen):  # later inserts never move earlier ones
        source = order[position]
        at = int(rng.integers(position + 1, len(entries) + 1))
        entries.insert(
            at, (replace(source, kind="repeat", left=source.right, right=source.left), None, position)
        )
    prefix = assignment_id(number)
    ids = {own: f"{prefix}t{k:02d}" for k, (_, own, _) in enumerate(entries, start=1) if own is not None}
    return [
        replace(t, id=f"{prefix}t{k:02d}", repeat_of=None if of is None else ids[of])
        for k, (t, _, of) in enumerate(entries, start=1)
    ]


def make_sentinels(manifest: pd.DataFrame, out_dir: Path) -> dict[str, Sentinel]:
    """Per image: its sentinel files; the copies are JPEG at quality 95 and 3, stored as PNG."""
    sentinels = {}
    for image, reference in manifest.groupby("image")["reference"].first().items():
        pixels = load_image(out_dir / "compress" / reference)
        copies = []
        for kind, quality in (("faithful", FAITHFUL_JPEG_QUALITY), ("degraded", SENTINEL_JPEG_QUALITY)):
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
            copies.append(f"sentinels/{image}-{kind}.png")
            save_png(np.asarray(Image.open(buffer).convert("RGB")), out_dir / copies[-1])
        sentinels[image] = Sentinel(f"compress/{reference}", *copies)
    return sentinels


def build_study(
    config: StudyConfig, strict: bool = False, progress: bool = True, workers: int | None = None
) -> Design:
    """Compress the study's images (reusing the compress cache; ``workers`` processes, default
    every core, as :func:`~evalkit.compress.compress`), plan, and write trials.json."""
    from ..compress import compress
    from ..datasets import image_spec_in, resolve_images

    result = compress(
        resolve_images(image_spec_in(config.images, config.folder)),
        config.codecs,
        config.bpp,
        config.out_dir / "compress",
        workers=workers,
        progress=progress,
    )
    if result.errors:
        raise InputError("compress failed: " + "; ".join(result.errors))
    manifest = result.manifest.assign(
        reference="compress/" + result.manifest["reference"],
        reconstruction="compress/" + result.manifest["reconstruction"],
    )
    pairs, rejected = plan_pairs(manifest, config)
    if rejected:
        message = f"{len(rejected)} pair(s) are not at matched bpp and are left out:\n  " + "\n  ".join(
            rejected
        )
        if strict:
            raise InputError(message)
        warnings.warn(message, BppMismatchWarning, stacklevel=2)
    sentinels = make_sentinels(result.manifest, config.out_dir)
    if config.sampling == "active":
        if not pairs:
            raise InputError(NO_PAIRS)
        design = Design(config.name, config.seed, [], rejected, pairs, sentinels)
    else:
        design = build_design(config, pairs, rejected, sentinels)
    write_json(config.trials_path, design.to_json())
    return design
