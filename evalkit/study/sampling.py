"""Active studies (``sampling = "active"``): the next assignment from every answer stored so far,
and the stopping rule (``stop_when``).

The study's planned pairs (every pair at matched bpp, as :func:`~evalkit.study.design.plan_pairs`
finds them) are the candidates of :class:`~evalkit.study.active.PairGraph`. When a rater claims
and no assignment is free, :meth:`ActiveSampler.plan` picks the assignment's pairs by ASAP's
expected information gain from the judgements so far (screened as the analysis screens them:
a rater excluded by :class:`~evalkit.study.screening.ScreeningRules` adds nothing) and the pairs
other raters hold unanswered (pending), alternates each pair's sides from one time it is asked to
the next, and adds sentinels and repeats as a planned design does. The same code serves the web
app (through :func:`database_state`) and the in-process simulation of the benchmark and tests
(:func:`simulate_active`).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .active import Candidate, Gap, Judgement, PairGraph, precision
from .config import StudyConfig
from .design import PlannedTrial, Sentinel, assignment_of_pairs
from .screening import ScreeningRules, screen

PairKey = tuple[str, float, frozenset]          # image, target bpp, the two codecs


@dataclass(frozen=True)
class StudyState:
    """What the sampler reads: every stored response (the columns of
    :func:`~evalkit.study.analysis.responses`, ``abandoned`` included), the pair trials that
    raters hold unanswered, and how often each pair has been put in a trial."""
    responses: pd.DataFrame
    pending: list[PairKey]
    asked: Counter


@dataclass(frozen=True)
class Progress:
    """How far a study is from its ``stop_when``: judgements kept, the widest gap interval, and
    the reason it is complete (None while it is not)."""
    judgements: int
    gaps: list[Gap]
    complete: str | None

    @property
    def widest(self) -> float:
        return max((g.width for g in self.gaps), default=float("inf"))


def pair_key(image: str, target_bpp: float, a: str, b: str) -> PairKey:
    return image, float(target_bpp), frozenset((a, b))


class ActiveSampler:
    """Plans the assignments of one active study (and judges its stopping rule)."""

    def __init__(self, config: StudyConfig, pairs, sentinels: dict[str, Sentinel],
                 rules: ScreeningRules = ScreeningRules()):
        self.config, self.pairs, self.sentinels, self.rules = config, list(pairs), sentinels, rules
        self.graph = PairGraph([Candidate(ctx["image"], float(ctx["target_bpp"]), a.codec, b.codec)
                                for a, b, ctx in self.pairs])
        self.keys = [pair_key(c.image, c.target_bpp, c.a, c.b) for c in self.graph.candidates]
        self.number = {key: n for n, key in enumerate(self.keys)}

    def judgements(self, responses: pd.DataFrame) -> list[Judgement]:
        """The pair judgements the posterior uses: of leases not abandoned, from raters the
        screening keeps."""
        if responses.empty:
            return []
        kept = responses[~responses["abandoned"]] if "abandoned" in responses else responses
        excluded = screen(kept, self.rules).query("excluded")["rater"]
        r = kept[(kept["kind"] == "pair") & ~kept["rater"].isin(excluded)]
        loser = np.where(r["chosen_codec"] == r["left_codec"], r["right_codec"], r["left_codec"])
        return [Judgement(i, float(b), w, l) for i, b, w, l in
                zip(r["image"], r["target_bpp"], r["chosen_codec"], loser)]

    def plan(self, number: int, state: StudyState, rng: np.random.Generator) -> list[PlannedTrial]:
        """Assignment ``number``'s trials: the pairs of most expected information, sides
        alternating with the times each pair was asked, then sentinels and repeats."""
        pending = [self.number[k] for k in state.pending if k in self.number]
        chosen = self.graph.choose(self.judgements(state.responses), pending,
                                   self.config.trials_per_assignment, rng)
        return assignment_of_pairs(number, [(self.pairs[n], state.asked[self.keys[n]] % 2 == 1) for n in chosen],
                                   self.config, self.sentinels, rng)

    def progress(self, responses: pd.DataFrame) -> Progress:
        """The study's judgements and gap intervals, and whether ``stop_when`` is met."""
        judgements = self.judgements(responses)
        gaps = precision(self.graph, judgements)
        progress = Progress(len(judgements), gaps, None)
        rule = self.config.stop_when
        if "judgements" in rule and len(judgements) >= rule["judgements"]:
            return replace(progress, complete=f"{len(judgements)} judgements collected (budget {rule['judgements']})")
        if "gap_ci_jod" in rule and gaps and progress.widest < rule["gap_ci_jod"]:
            return replace(progress, complete=f"every gap between neighbouring codecs is known to "
                                              f"±{progress.widest / 2:.2f} JOD (95 %; target width "
                                              f"{rule['gap_ci_jod']:g} JOD)")
        return progress


def database_state(engine) -> StudyState:
    """The sampler's view of a served study: stored responses, and the pair trials of leases in
    progress that have no answer yet."""
    from .analysis import responses
    from .database import Assignment, Response, Trial

    now = time.time()
    with Session(engine) as s:
        trials = s.execute(select(Trial.id, Trial.image, Trial.target_bpp, Trial.left_codec, Trial.right_codec,
                                  Assignment.lease, Assignment.expires_s, Assignment.finished_at)
                           .join(Assignment, Assignment.id == Trial.assignment_id)
                           .where(Trial.kind == "pair")).all()
        answered = set(s.execute(select(Response.trial_id, Response.lease)).all())
    asked = Counter(pair_key(t.image, t.target_bpp, t.left_codec, t.right_codec) for t in trials)
    pending = [pair_key(t.image, t.target_bpp, t.left_codec, t.right_codec) for t in trials
               if t.finished_at is None and t.lease > 0 and (t.expires_s or 0) > now
               and (t.id, t.lease) not in answered]
    return StudyState(responses(engine), pending, asked)


class LivePlanner:
    """The :class:`~evalkit.study.database.Planner` of a served active study: reads the
    database at each claim. Assignment n's random choices (tie breaks, sides of sentinels, order)
    are seeded by the study's seed and n."""

    def __init__(self, engine, sampler: ActiveSampler):
        self.engine, self.sampler = engine, sampler
        self._noticed = (None, None)               # (what the responses were, progress) for the page

    def progress(self) -> Progress:
        from .analysis import responses
        return self.sampler.progress(responses(self.engine))

    def complete(self) -> str | None:
        return self.progress().complete

    def notice(self) -> str | None:
        """:meth:`complete` for the task page, which every rater loads: worked out again only
        when a response was stored or a lease expired since the last time (two counts), not by
        reading and screening every response at each page load."""
        from .database import Assignment, Response

        with Session(self.engine) as s:
            now = s.execute(select(func.count(Response.id), func.max(Response.id))).one()
            expired = s.scalar(select(func.count()).select_from(Assignment).where(
                Assignment.finished_at.is_(None), Assignment.lease > 0, Assignment.expires_s <= time.time()))
        key = (*now, expired)
        seen, progress = self._noticed
        if key != seen:
            progress = self.progress()
            self._noticed = (key, progress)
        return progress.complete

    def plan(self, number: int) -> list[PlannedTrial]:
        rng = np.random.default_rng([self.sampler.config.seed, number])
        return self.sampler.plan(number, database_state(self.engine), rng)


def simulate_active(sampler: ActiveSampler, crowd, judgements: int, concurrency: int = 4,
                    seed: int = 0) -> pd.DataFrame:
    """An active study answered in-process by ``crowd`` (a :class:`~evalkit.study.crowd.Crowd`)
    until it holds ``judgements`` pair answers: ``concurrency`` raters at a time claim an
    assignment each (the later ones seeing the earlier ones' pairs as pending), then answer. The
    responses in the table :func:`~evalkit.study.crowd.simulate_responses` gives."""
    from .crowd import RESPONSE_COLUMNS, answer_assignment

    rng = np.random.default_rng(seed)
    answered = pd.DataFrame(columns=RESPONSE_COLUMNS)
    asked, number = Counter(), 0
    while (answered["kind"] == "pair").sum() < judgements:
        batch = []
        for _ in range(concurrency):
            number += 1
            pending = [pair_key(t.image, t.target_bpp, t.left.codec, t.right.codec)
                       for trials in batch for t in trials if t.kind == "pair"]
            trials = sampler.plan(number, StudyState(answered, pending, asked), rng)
            asked.update(pair_key(t.image, t.target_bpp, t.left.codec, t.right.codec)
                         for t in trials if t.kind == "pair")
            batch.append(trials)
        answers = [answer_assignment(crowd, number - len(batch) + k + 1, trials) for k, trials in enumerate(batch)]
        answered = pd.concat([answered, *answers], ignore_index=True)
    pairs = np.flatnonzero(answered["kind"] == "pair")
    return answered.iloc[:pairs[judgements - 1] + 1] if len(pairs) > judgements else answered
