"""Study storage through SQLAlchemy: SQLite (WAL) in the study folder by default, PostgreSQL by URL.

Rules the web app relies on, enforced here and by the schema:

* a response is committed before :func:`record_response` returns, so the page is told "stored"
  only for what is on disk;
* one response per trial (a unique constraint): a re-sent response — retry, double click,
  reload — is stored once; a different answer to an answered trial is refused;
* an assignment belongs to the first rater who claims it, and every request about it must carry
  the secret session token issued with that claim.
"""
from __future__ import annotations

import fcntl
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache

from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint,
                        bindparam, case, create_engine, event, func, insert, select, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..errors import InputError
from .design import Design, assignment_id


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Assignment(Base):
    __tablename__ = "assignments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    rater: Mapped[str | None] = mapped_column(String(128), index=True)
    source: Mapped[str | None] = mapped_column(String(16))         # mturk, prolific or lab
    external: Mapped[dict | None] = mapped_column(JSON)            # hitId, assignmentId, …
    token: Mapped[str | None] = mapped_column(String(64), unique=True)
    claimed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(String(2000))


class Trial(Base):
    __tablename__ = "trials"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    image: Mapped[str] = mapped_column(String(256))
    target_bpp: Mapped[float | None] = mapped_column(Float)
    reference: Mapped[str] = mapped_column(String(512))
    left_codec: Mapped[str] = mapped_column(String(64))
    left_path: Mapped[str] = mapped_column(String(512))
    left_bpp: Mapped[float | None] = mapped_column(Float)
    right_codec: Mapped[str] = mapped_column(String(64))
    right_path: Mapped[str] = mapped_column(String(512))
    right_bpp: Mapped[float | None] = mapped_column(Float)
    correct: Mapped[str | None] = mapped_column(String(8))
    repeat_of: Mapped[str | None] = mapped_column(String(32))


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("trial_id", name="one_response_per_trial"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    rater: Mapped[str] = mapped_column(String(128), index=True)
    choice: Mapped[str] = mapped_column(String(8))                 # "left" or "right"
    chosen_codec: Mapped[str] = mapped_column(String(64))
    left_codec: Mapped[str] = mapped_column(String(64))
    right_codec: Mapped[str] = mapped_column(String(64))
    response_ms: Mapped[float] = mapped_column(Float)
    magnifier_ms: Mapped[float] = mapped_column(Float)
    viewport_w: Mapped[int]
    viewport_h: Mapped[int]
    device_pixel_ratio: Mapped[float] = mapped_column(Float)
    stored_at: Mapped[datetime] = mapped_column(default=_now)
    # Flip layout only: how often the rater toggled, and how long each side was on screen.
    flips: Mapped[int | None] = mapped_column(Integer)
    left_view_ms: Mapped[float | None] = mapped_column(Float)
    right_view_ms: Mapped[float | None] = mapped_column(Float)


def connect(url: str):
    """An engine for ``url``; SQLite gets WAL, a busy timeout and full durability."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, pool_pre_ping=not sqlite,   # a server may drop idle connections
                           connect_args={"timeout": 30} if sqlite else {})
    if sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")   # a committed response survives a crash
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    Base.metadata.create_all(engine)
    return engine


@contextmanager
def _writer(engine):
    """One SQLite writer at a time across processes, queued by the kernel (flock) rather than by
    SQLite's busy handler, which sleeps in steps of up to 100 ms and so turns contention between
    gunicorn workers into latency. A no-op for server databases, which queue writers themselves."""
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not path:
        yield
        return
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_design(engine, design: Design) -> int:
    """Insert the design's assignments and trials (once; a reload changes nothing). Returns how
    many assignments were added."""
    with Session(engine) as s, s.begin():
        existing = set(s.scalars(select(Assignment.id)))
        added = 0
        for number, trials in enumerate(design.assignments, start=1):
            aid = assignment_id(number)
            if aid in existing:
                continue
            s.add(Assignment(id=aid, position=number))
            s.flush()
            for k, t in enumerate(trials, start=1):
                s.add(Trial(id=t.id, assignment_id=aid, position=k, kind=t.kind, image=t.image,
                            target_bpp=t.target_bpp, reference=t.reference,
                            left_codec=t.left.codec, left_path=t.left.path, left_bpp=t.left.bpp,
                            right_codec=t.right.codec, right_path=t.right.path,
                            right_bpp=t.right.bpp, correct=t.correct, repeat_of=t.repeat_of))
            added += 1
    return added


class StudyError(InputError):
    """A request the study refuses; ``status`` is the HTTP status the web app answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def claim(engine, rater: str, source: str, external: dict | None = None) -> Assignment:
    """The rater's unfinished assignment, or the next unclaimed one, with its session token.

    Raises StudyError(409) when every assignment is taken. Concurrent claims cannot take the
    same assignment: the update only succeeds while the row is still unclaimed.
    """
    with Session(engine, expire_on_commit=False) as s:
        mine = s.scalars(select(Assignment).where(Assignment.rater == rater,
                                                  Assignment.finished_at.is_(None))).first()
        if mine:
            return mine
        while True:
            free = s.scalars(select(Assignment.id).where(Assignment.rater.is_(None))
                             .order_by(Assignment.position).limit(1)).first()
            if free is None:
                raise StudyError(409, "every assignment of this study is taken; thank you for your interest")
            token = secrets.token_urlsafe(32)
            done = s.execute(update(Assignment).where(Assignment.id == free, Assignment.rater.is_(None))
                             .values(rater=rater, source=source, external=external, token=token,
                                     claimed_at=_now()))
            s.commit()
            if done.rowcount == 1:
                return s.get(Assignment, free)


def assignment_for(engine, token: str) -> Assignment:
    with Session(engine, expire_on_commit=False) as s:
        found = s.scalars(select(Assignment).where(Assignment.token == token)).first() if token else None
    if found is None:
        raise StudyError(403, "unknown session: reload the task page")
    return found


def trials_of(engine, assignment_id: str) -> list[Trial]:
    with Session(engine, expire_on_commit=False) as s:
        return list(s.scalars(select(Trial).where(Trial.assignment_id == assignment_id)
                              .order_by(Trial.position)))


def answered(engine, assignment_id: str) -> dict[str, str]:
    with Session(engine) as s:
        return dict(s.execute(select(Response.trial_id, Response.choice)
                              .where(Response.assignment_id == assignment_id)).all())


@cache
def _insert_response_statement():
    """INSERT … SELECT that stores an answer only if the token owns the trial's unfinished
    assignment; built once, with bound parameters, so every request reuses its compiled form."""
    t, a = Trial.__table__, Assignment.__table__
    choice = bindparam("choice", type_=String)
    values = [bindparam(n, type_=Float) for n in ("response_ms", "magnifier_ms")]
    viewport = [bindparam(n, type_=Integer) for n in ("viewport_w", "viewport_h")]
    flip = [bindparam("flips", type_=Integer), bindparam("left_view_ms", type_=Float),
            bindparam("right_view_ms", type_=Float)]
    source = (select(t.c.id, a.c.id, a.c.rater, choice,
                     case((choice == "left", t.c.left_codec), else_=t.c.right_codec),
                     t.c.left_codec, t.c.right_codec, *values, *viewport,
                     bindparam("dpr", type_=Float), bindparam("stored_at", type_=DateTime), *flip)
              .select_from(t.join(a, a.c.id == t.c.assignment_id))
              .where(t.c.id == bindparam("trial"), a.c.token == bindparam("token"),
                     a.c.finished_at.is_(None)))
    columns = ["trial_id", "assignment_id", "rater", "choice", "chosen_codec", "left_codec",
               "right_codec", "response_ms", "magnifier_ms", "viewport_w", "viewport_h",
               "device_pixel_ratio", "stored_at", "flips", "left_view_ms", "right_view_ms"]
    return insert(Response.__table__).from_select(columns, source).returning(Response.__table__.c.id)


def record_response(engine, token: str, trial_id: str, choice: str, response_ms: float,
                    magnifier_ms: float, viewport_w: int, viewport_h: int, dpr: float,
                    flips: int | None = None, left_view_ms: float | None = None,
                    right_view_ms: float | None = None) -> bool:
    """Store one answer; True if stored now, False if this same answer was already stored.
    ``flips`` and the view times come from the flip layout (None for side by side).

    The common case is one statement and one commit. Only when nothing was inserted does it
    look up why: StudyError 403 (unknown token), 404 (trial not in this assignment), 409
    (answered differently before, or the assignment is finished)."""
    values = {"choice": choice, "trial": trial_id, "token": token, "response_ms": response_ms,
              "magnifier_ms": magnifier_ms, "viewport_w": viewport_w, "viewport_h": viewport_h,
              "dpr": dpr, "stored_at": _now(), "flips": flips, "left_view_ms": left_view_ms,
              "right_view_ms": right_view_ms}
    try:
        with _writer(engine), engine.begin() as connection:
            if connection.execute(_insert_response_statement(), values).first() is not None:
                return True
    except IntegrityError:
        pass
    assignment = assignment_for(engine, token)
    with Session(engine) as s:
        trial = s.get(Trial, trial_id)
        if trial is None or trial.assignment_id != assignment.id:
            raise StudyError(404, f"trial {trial_id!r} is not part of this assignment")
        previous = s.scalar(select(Response.choice).where(Response.trial_id == trial_id))
    if previous == choice:
        return False
    if previous is None:
        raise StudyError(409, "this assignment is already finished")
    raise StudyError(409, f"trial {trial_id!r} was already answered '{previous}'; the first answer stands")


def finish(engine, assignment: Assignment, comment: str | None) -> None:
    """Mark the assignment finished once every trial has a stored answer (else StudyError 409)."""
    with Session(engine) as s, s.begin():
        total = s.scalar(select(func.count()).select_from(Trial).where(Trial.assignment_id == assignment.id))
        done = s.scalar(select(func.count()).select_from(Response)
                        .where(Response.assignment_id == assignment.id))
        if done < total:
            raise StudyError(409, f"{total - done} of {total} answers are not stored yet")
        row = s.get(Assignment, assignment.id)
        if row.finished_at is None:
            row.finished_at, row.comment = _now(), comment
