"""Active studies (``sampling = "active"``): the next assignment from every answer stored so far,
and the stopping rule (``stop_when``).

The study's planned pairs (every pair at matched bpp, as :func:`~evalkit.study.design.plan_pairs`
finds them) are the candidates of :class:`~evalkit.study.active.PairGraph`. When a rater claims
and no assignment is free, :meth:`ActiveSampler.plan` picks the assignment's pairs by ASAP's
expected information gain from the judgements so far (screened as the analysis screens them:
a rater excluded by :class:`~evalkit.study.screening.ScreeningRules` adds nothing) and the pairs
other raters hold unanswered (pending), alternates each pair's sides from one time it is asked to
the next, and adds sentinels and repeats as a planned design does. The same code serves the web
app (through :class:`LivePlanner`, which keeps the study's state incrementally) and the in-process
simulation of the benchmark and tests (:func:`simulate_active`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .active import Candidate, Gap, Judgement, PairGraph, counted, precision
from .config import StudyConfig
from .design import PlannedTrial, Sentinel, assignment_of_pairs
from .screening import ScreeningRules, screen

PairKey = tuple[str, float, frozenset]  # image, target bpp, the two codecs


@dataclass(frozen=True)
class StudyState:
    """What the sampler reads: the judgements the posterior uses (screened; a list, or a tally
    ``Counter[Judgement]``), the pair trials that raters hold unanswered, and how often each pair
    has been put in a trial."""

    judgements: list[Judgement] | Counter
    pending: list[PairKey]
    asked: Counter


@dataclass(frozen=True)
class Progress:
    """How far a study is from its ``stop_when``: judgements kept, the widest gap interval, the
    reason it is complete (None while it is not), and the pair trials leased and not answered yet
    (``in_flight``), which the judgement budget counts."""

    judgements: int
    gaps: list[Gap]
    complete: str | None
    in_flight: int = 0

    @property
    def widest(self) -> float:
        return max((g.width for g in self.gaps), default=float("inf"))


def pair_key(image: str, target_bpp: float, a: str, b: str) -> PairKey:
    return image, float(target_bpp), frozenset((a, b))


class ActiveSampler:
    """Plans the assignments of one active study (and judges its stopping rule)."""

    def __init__(
        self,
        config: StudyConfig,
        pairs,
        sentinels: dict[str, Sentinel],
        rules: ScreeningRules = ScreeningRules(),
    ):
        self.config, self.pairs, self.sentinels, self.rules = config, list(pairs), sentinels, rules
        self.graph = PairGraph(
            [Candidate(ctx["image"], float(ctx["target_bpp"]), a.codec, b.codec) for a, b, ctx in self.pairs]
        )
        self.keys = [pair_key(c.image, c.target_bpp, c.a, c.b) for c in self.graph.candidates]
        self.number = {key: n for n, key in enumerate(self.keys)}

    def kept(self, responses: pd.DataFrame) -> pd.DataFrame:
        """The pair answers the posterior uses: of leases not abandoned, from raters the screening
        keeps (it judges each rater on their own answers only)."""
        if responses.empty:
            return responses
        kept = responses[~responses["abandoned"]] if "abandoned" in responses else responses
        excluded = screen(kept, self.rules).query("excluded")["rater"]
        return kept[(kept["kind"] == "pair") & ~kept["rater"].isin(excluded)]

    def judgements(self, responses: pd.DataFrame) -> list[Judgement]:
        """The pair judgements the posterior uses (:meth:`kept`)."""
        return judgements_of(self.kept(responses))

    def plan(self, number: int, state: StudyState, rng: np.random.Generator) -> list[PlannedTrial]:
        """Assignment ``number``'s trials: the pairs of most expected information, sides
        alternating with the times each pair was asked, then sentinels and repeats."""
        pending = [self.number[k] for k in state.pending if k in self.number]
        chosen = self.graph.choose(state.judgements, pending, self.config.trials_per_assignment, rng)
        return assignment_of_pairs(
            number,
            [(self.pairs[n], state.asked[self.keys[n]] % 2 == 1) for n in chosen],
            self.config,
            self.sentinels,
            rng,
        )

    def progress(self, responses: pd.DataFrame) -> Progress:
        """The study's judgements and gap intervals, and whether ``stop_when`` is met."""
        return self.judged(self.judgements(responses))

    def judged(
        self, judgements: list[Judgement] | Counter, in_flight: int = 0, gaps: bool = True
    ) -> Progress:
        """:meth:`progress` from the kept judgements (a list or a tally) and the pair trials
        leased and not answered yet. The judgement budget counts those in flight: raters who
        claim at once would otherwise each find it unmet, and all their answers together
        overshoot it. ``gaps=False`` leaves the gap intervals out (a claim needs them only for
        ``stop_when.gap_ci_jod``)."""
        total = int(sum(times for _, times in counted(judgements)))
        gaps = precision(self.graph, judgements) if gaps else []
        progress = Progress(total, gaps, None, in_flight)
        rule = self.config.stop_when
        if "judgements" in rule and total + in_flight >= rule["judgements"]:
            made = f" and {in_flight} being made" if in_flight else ""
            return replace(
                progress, complete=f"{total} judgements collected{made} (budget {rule['judgements']})"
            )
        if "gap_ci_jod" in rule and gaps and progress.widest < rule["gap_ci_jod"]:
            return replace(
                progress,
                complete=f"every gap between neighbouring codecs is known to "
                f"±{progress.widest / 2:.2f} JOD (95 %; target width "
                f"{rule['gap_ci_jod']:g} JOD)",
            )
        return progress


def judgements_of(pairs: pd.DataFrame) -> list[Judgement]:
    """The judgements of pair answers (rows with image, target_bpp, left/right/chosen codec)."""
    loser = np.where(pairs["chosen_codec"] == pairs["left_codec"], pairs["right_codec"], pairs["left_codec"])
    return [
        Judgement(i, float(b), w, l)
        for i, b, w, l in zip(pairs["image"], pairs["target_bpp"], pairs["chosen_codec"], loser)
    ]


@dataclass(frozen=True)
class Claim:
    """An active study as one claim sees it: its state and progress, the position of the last
    assignment planned so far, the other claims of this process waiting behind it, and how to
    plan new assignments from them (each assignment's random choices — tie breaks, sides of
    sentinels, order — seeded by the study's seed and its number)."""

    sampler: ActiveSampler
    state: StudyState
    progress: Progress
    last: int
    waiting: int = 0

    @property
    def complete(self) -> str | None:
        return self.progress.complete

    def plans(self, first: int) -> list[list[PlannedTrial]]:
        """Assignments ``first``, ``first + 1``, …: one, and one for each claim waiting while
        the judgement budget, counting the pairs of those planned before, is not reached —
        each planned with those before it pending, as if claimed one after another."""
        pending, asked = list(self.state.pending), Counter(self.state.asked)
        budget = self.sampler.config.stop_when.get("judgements", float("inf"))
        counted = self.progress.judgements + self.progress.in_flight
        planned: list[list[PlannedTrial]] = []
        for number in range(first, first + 1 + self.waiting):
            if planned and counted >= budget:
                break
            rng = np.random.default_rng([self.sampler.config.seed, number])
            trials = self.sampler.plan(number, StudyState(self.state.judgements, pending, asked), rng)
            pairs = [
                pair_key(t.image, t.target_bpp, t.left.codec, t.right.codec)
                for t in trials
                if t.kind == "pair"
            ]
            pending += pairs
            asked.update(pairs)
            counted += len(pairs)
            planned.append(trials)
        return planned


class LivePlanner:
    """The :class:`~evalkit.study.database.Planner` of a served active study.

    A claim reads the study through the claim's own database session (so a claim needs one
    connection, never a second one that a full pool could withhold), and its cost does not grow
    with the study: the planner keeps what can no longer change — the pair trials of every
    assignment not finished yet (trials never change once planned), the answers of finished
    assignments (a finished lease is final), per rater, and the tally of judgements of the raters
    the screening keeps on them — and at each claim reads only the assignments planned since the
    last claim, the state of those that were open (unfinished) at the last claim, by their ids,
    and the current answers of those leased now or finished since (as many as raters at work):
    three statements, each through an index, so none reads more as the study grows. The
    finished are folded in; the raters of the leases in progress are screened again with their
    answers so far. It reads what is stored when it is made, so a server started on a large
    study pays for that before it serves."""

    def __init__(self, engine, sampler: ActiveSampler):
        self.engine, self.sampler = engine, sampler
        self._lock = threading.Lock()  # a worker's threads share what is kept
        self._pairs: dict[str, list[tuple[str, PairKey]]] = {}  # open assignment → (trial, pair)s
        self._settled: dict[str, pd.DataFrame] = {}  # rater → answers of their finished assignments
        self._kept: dict[str, Counter] = {}  # rater → judgements of those, if screening keeps them
        self._tally: Counter = Counter()  # the sum of _kept
        self._asked: Counter = Counter()  # pair → times put in a trial, …
        self._seen = 0  # … in assignments 1 … _seen
        self._noticed = (None, None)  # (the counts, progress) of notice()
        self._claims, self._counting = 0, threading.Lock()  # claims of this process under way
        self.progress()

    @contextmanager
    def claiming(self):
        """Counts a claim of this process while it lasts: :meth:`at_claim` plans for the others."""
        with self._counting:
            self._claims += 1
        try:
            yield
        finally:
            with self._counting:
                self._claims -= 1

    def at_claim(self, session: Session) -> Claim:
        """The study as a claim sees it, read through ``session`` (the claim's transaction)."""
        with self._lock:
            self._read_planned(session)
            leased, finished = self._open_now(session)
            answers = self._answers(session, leased + finished)
            self._fold_finished(finished, answers)
            answers = answers[answers["assignment"].isin(leased)]
            answered = set(answers["trial"])
            pending = [key for a in leased for trial, key in self._pairs[a] if trial not in answered]
            judgements = self._tally_with(answers)
            asked = Counter(self._asked)
            last, waiting = self._seen, max(self._claims - 1, 0)
        return Claim(
            self.sampler,
            StudyState(judgements, pending, asked),
            self.sampler.judged(
                judgements, in_flight=len(pending), gaps="gap_ci_jod" in self.sampler.config.stop_when
            ),
            last,
            waiting,
        )

    def progress(self) -> Progress:
        """Where the study stands now, every gap interval included (the admin page)."""
        with Session(self.engine) as s:
            claim = self.at_claim(s)
        return self.sampler.judged(claim.state.judgements, claim.progress.in_flight)

    def notice(self) -> str | None:
        """Why the study is complete (None while it is not), for the task page, which every
        rater loads: worked out again only when an answer was stored, a lease taken or one
        expired since the last time (three counts)."""
        from .database import Assignment, Response

        with Session(self.engine) as s:
            stored = s.execute(select(func.count(Response.id), func.max(Response.id))).one()
            leases = s.execute(
                select(
                    func.sum(Assignment.lease),
                    func.count().filter(
                        Assignment.finished_at.is_(None),
                        Assignment.lease > 0,
                        Assignment.expires_s <= time.time(),
                    ),
                )
            ).one()
        key = (*stored, *leases)
        seen, progress = self._noticed
        if key != seen:
            progress = self.progress()
            self._noticed = (key, progress)
        return progress.complete

    def _read_planned(self, s: Session) -> None:
        """The pair trials of the assignments planned since the last look (one statement)."""
        from .database import Assignment, Trial

        planned = s.execute(
            select(
                Assignment.position,
                Assignment.id,
                Trial.id.label("trial"),
                Trial.image,
                Trial.target_bpp,
                Trial.left_codec,
                Trial.right_codec,
            )
            .outerjoin(Trial, (Trial.assignment_id == Assignment.id) & (Trial.kind == "pair"))
            .where(Assignment.position > self._seen)
        ).all()
        for t in planned:
            pairs = self._pairs.setdefault(t.id, [])
            if t.trial is not None:
                key = pair_key(t.image, t.target_bpp, t.left_codec, t.right_codec)
                pairs.append((t.trial, key))
                self._asked[key] += 1
            self._seen = max(self._seen, t.position)

    def _open_now(self, s: Session) -> tuple[list[str], list[str]]:
        """Of the assignments open at the last look: those leased now (unexpired), and those
        finished since (one statement, so an assignment that finishes while a claim reads is
        one or the other, never both or neither)."""
        from .database import Assignment

        rows = s.execute(
            select(
                Assignment.id, Assignment.finished_at.is_not(None), Assignment.lease, Assignment.expires_s
            ).where(Assignment.id.in_(sorted(self._pairs)))
        ).all()
        now = time.time()
        leased = sorted(a for a, done, lease, expires in rows if not done and lease > 0 and expires > now)
        return leased, sorted(a for a, done, _, _ in rows if done)

    def _answers(self, s: Session, assignments: list[str]) -> pd.DataFrame:
        """The current leases' answers of ``assignments``, with their trials."""
        from .database import Assignment, Response
        from .responses import response_query

        query = response_query().where(
            Response.lease == Assignment.lease, Response.assignment_id.in_(assignments)
        )
        rows = s.execute(query).all() if assignments else []
        return pd.DataFrame(rows, columns=list(query.selected_columns.keys()))

    def _fold_finished(self, finished: list[str], answers: pd.DataFrame) -> None:
        """Fold in the answers of the assignments ``finished`` since the last look."""
        for assignment in finished:
            del self._pairs[assignment]
        answers = answers[answers["assignment"].isin(finished)]
        if answers.empty:
            return
        for rater, theirs in answers.groupby("rater"):
            self._settled[rater] = (
                pd.concat([self._settled[rater], theirs]) if rater in self._settled else theirs
            )
        for rater, counts in self._screened(answers["rater"].unique()).items():
            self._tally -= self._kept.pop(rater, Counter())
            if counts:
                self._kept[rater] = counts
                self._tally += counts

    def _tally_with(self, answers: pd.DataFrame) -> Counter:
        """The kept judgements of the finished assignments and of ``answers`` (leases in
        progress): each rater who has some of these is screened again on all their answers."""
        if answers.empty:
            return Counter(self._tally)
        tally = Counter(self._tally)
        for rater, counts in self._screened(answers["rater"].unique(), answers).items():
            tally -= self._kept.get(rater, Counter())
            tally += counts
        return tally

    def _screened(self, raters, more: pd.DataFrame | None = None) -> dict[str, Counter]:
        """Per rater, the judgements the screening keeps of their finished assignments' answers
        and of ``more`` (an empty tally for a rater it excludes)."""
        frames = [self._settled[r] for r in raters if r in self._settled] + (
            [more] if more is not None else []
        )
        kept = self.sampler.kept(pd.concat(frames, ignore_index=True))
        tallies = {r: Counter() for r in raters}
        for rater, pairs in kept.groupby("rater"):
            tallies[rater] = Counter(judgements_of(pairs))
        return tallies


def simulate_active(
    sampler: ActiveSampler, crowd, judgements: int, concurrency: int = 4, seed: int = 0
) -> pd.DataFrame:
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
            pending = [
                pair_key(t.image, t.target_bpp, t.left.codec, t.right.codec)
                for trials in batch
                for t in trials
                if t.kind == "pair"
            ]
            trials = sampler.plan(number, StudyState(sampler.judgements(answered), pending, asked), rng)
            asked.update(
                pair_key(t.image, t.target_bpp, t.left.codec, t.right.codec)
                for t in trials
                if t.kind == "pair"
            )
            batch.append(trials)
        answers = [
            answer_assignment(crowd, number - len(batch) + k + 1, trials) for k, trials in enumerate(batch)
        ]
        answered = pd.concat([answered, *answers], ignore_index=True)
    pairs = np.flatnonzero(answered["kind"] == "pair")
    return answered.iloc[: pairs[judgements - 1] + 1] if len(pairs) > judgements else answered
