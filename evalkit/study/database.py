"""Study storage through SQLAlchemy: SQLite (WAL) in the study folder by default, PostgreSQL by URL.

Rules the web app relies on, enforced here and by the schema:

* a response is committed before :func:`record_response` returns, so the page is told "stored"
  only for what is on disk;
* one response per trial and lease (a unique constraint): a re-sent response — retry, double
  click, reload — is stored once; a different answer to an answered trial is refused;
* identity: a claim is a *lease* of one assignment to one rater, bound to a session secret that
  only the rater's browser receives (the database keeps its SHA-256); a rater id alone never
  yields a session. A rater who lost the secret is told so, and the owner can release the lease;
* leases expire (``StudyConfig.lease_seconds``, the MTurk HIT's assignment duration): an
  unfinished assignment then returns to the pool, its answers kept under the old lease number
  (``responses.lease`` ≠ ``assignments.lease``: marked abandoned in exports);
* a rater holds at most ``assignments_per_rater`` assignments (finished or leased), enforced
  under a per-rater lock (a row of ``raters`` locked FOR UPDATE; SQLite's writer lock); one
  address at most ``claims_per_client`` leases in progress, whatever rater ids it sends
  (``client_leases``; an advisory lock per address);
* every answer carries the server's own timing (``server_ms``: since the lease's previous answer
  or session request) beside what the page reports;
* a finished assignment gets a completion code derived from the study's secret, stored in
  ``assignments.completion_code`` so the owner can check what a rater submits.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import secrets
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    inspect,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..errors import InputError
from .design import Design, PlannedTrial, Side, assignment_id


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class StudyMeta(Base):
    """Study-wide values: ``secret`` keys image URLs and completion codes (same in every worker)."""

    __tablename__ = "study_meta"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Rater(Base):
    """One row per rater id ever seen: the row claims lock, so one rater's concurrent first
    requests cannot take several assignments."""

    __tablename__ = "raters"
    id: Mapped[str] = mapped_column(String(160), primary_key=True)  # "<source>:<id>"
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Assignment(Base):
    __tablename__ = "assignments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    lease: Mapped[int] = mapped_column(Integer, default=0)  # claims so far; 0: never claimed
    rater: Mapped[str | None] = mapped_column(String(160), index=True)
    source: Mapped[str | None] = mapped_column(String(16))  # mturk, prolific or lab
    external: Mapped[dict | None] = mapped_column(JSON)  # hitId, assignmentId, …
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256 of the secret
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_s: Mapped[float | None] = mapped_column(Float)  # epoch s when the lease ends
    session_s: Mapped[float | None] = mapped_column(Float)  # epoch s of the last session request
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(String(2000))
    completion_code: Mapped[str | None] = mapped_column(String(32))


class ClientLease(Base):
    """The client (IP address) each lease was taken from: one client may hold at most
    ``StudyConfig.claims_per_client`` leases in progress, whatever rater ids it sends."""

    __tablename__ = "client_leases"
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), primary_key=True)
    lease: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(64), index=True)


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
    __table_args__ = (UniqueConstraint("trial_id", "lease", name="one_response_per_trial_and_lease"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    lease: Mapped[int] = mapped_column(Integer)
    rater: Mapped[str] = mapped_column(String(160), index=True)
    choice: Mapped[str] = mapped_column(String(8))  # "left", "right" or "not_sure"
    chosen_codec: Mapped[str] = mapped_column(String(64))  # "" for not sure
    left_codec: Mapped[str] = mapped_column(String(64))
    right_codec: Mapped[str] = mapped_column(String(64))
    response_ms: Mapped[float] = mapped_column(Float)  # as the page measured it
    server_ms: Mapped[float] = mapped_column(Float)  # as the server saw it
    received_s: Mapped[float] = mapped_column(Float)  # epoch seconds, server clock
    magnifier_ms: Mapped[float] = mapped_column(Float)
    viewport_w: Mapped[int]
    viewport_h: Mapped[int]
    device_pixel_ratio: Mapped[float] = mapped_column(Float)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # The layouts' measures (study/layouts.py); None where the study's layout has none.
    flips: Mapped[int | None] = mapped_column(Integer)
    left_view_ms: Mapped[float | None] = mapped_column(Float)
    right_view_ms: Mapped[float | None] = mapped_column(Float)
    flicker_cycles: Mapped[int | None] = mapped_column(Integer)


SPARE_CONNECTIONS = 10  # a PostgreSQL server's connections left to other clients (CLI, psql)


def connect(url: str, threads: int | None = None, workers: int = 1):
    """An engine for ``url``; SQLite gets WAL, a busy timeout and full durability. ``threads``:
    how many threads of this process may use it at once (a gunicorn worker's), one of
    ``workers`` such processes. A server database's pool then holds a connection for each
    thread (every request needs at most one), up to this process's share of what the server
    accepts (:func:`pool_size`); a thread that finds them all in use waits for one."""
    sqlite = url.startswith("sqlite")
    options = {
        "pool_pre_ping": not sqlite,  # a server may drop idle connections
        "connect_args": {"timeout": 30} if sqlite else _server_options(url),
    }
    engine = create_engine(url, **options)
    if threads and not sqlite:
        size = pool_size(accepted_connections(engine), workers, threads)
        engine.dispose()
        engine = create_engine(url, **options, pool_size=size, max_overflow=0)
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a committed response survives a crash
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    _check_folder(engine)
    _check_schema(engine)  # before creating anything: an old file is left as it was
    Base.metadata.create_all(engine)
    return engine


def _server_options(url: str) -> dict:
    """Connection options for a server database. psycopg (3) prepares a statement on the server
    once it has run 5 times, and PostgreSQL then plans it once for any parameters (a generic
    plan, after 5 more): for a range such as ``position > $1`` that plan guesses a third of the
    rows and hashes every trial of the study (15 ms at 20k answers, growing with the study,
    against 0.1 ms through the index with the value known). Every statement here is small and
    its best plan depends on its values, so none is prepared (``prepare_threshold=None``)."""
    return {"prepare_threshold": None} if make_url(url).get_driver_name() == "psycopg" else {}


def accepted_connections(engine) -> int:
    """How many connections a PostgreSQL server accepts from an ordinary role:
    ``max_connections`` less those it reserves (``superuser_reserved_connections`` and, from
    PostgreSQL 16, ``reserved_connections``)."""
    with engine.connect() as connection:
        settings = connection.exec_driver_sql(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            "coalesce(current_setting('reserved_connections', true), '0')::int"
        ).one()
    return settings[0] - settings[1] - settings[2]


def pool_size(accepted: int, workers: int, threads: int) -> int:
    """Connections in each of ``workers`` processes' pools: one per thread, up to an equal share
    of the ``accepted`` connections less ``SPARE_CONNECTIONS`` — so the workers together never
    ask a server for more than it accepts. InputError when a share is not even one."""
    share = (accepted - SPARE_CONNECTIONS) // workers
    if share < 1:
        raise InputError(
            f"the PostgreSQL server accepts {accepted} connections ({SPARE_CONNECTIONS} kept for "
            f"other clients), too few for {workers} server workers: serve with "
            f"--workers {max(1, accepted - SPARE_CONNECTIONS)} or fewer, or raise max_connections "
            "in postgresql.conf"
        )
    return min(threads, share)


def _sqlite_file(engine) -> str | None:
    """The file of a SQLite database (None for a server database; '' or ':memory:' in memory)."""
    return engine.url.database if engine.url.get_backend_name() == "sqlite" else None


def _check_folder(engine) -> None:
    """A SQLite file goes in a folder that exists (a study's out/, made by ``evalkit study
    build``): say so instead of SQLite's "unable to open database file"."""
    path = _sqlite_file(engine)
    if path and path != ":memory:" and not Path(path).parent.is_dir():
        raise InputError(
            f"{path}: its folder does not exist; build the study first "
            "('evalkit study build STUDY.toml') or give --database"
        )


def _check_schema(engine) -> None:
    """A database made by an older evalkit lacks columns: say so instead of failing mid-request."""
    found = inspect(engine)
    existing = set(found.get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {c["name"] for c in found.get_columns(table.name)}
        missing = sorted({c.name for c in table.columns} - have)
        if missing:
            raise InputError(
                f"{engine.url.render_as_string(hide_password=True)}: table {table.name!r} "
                f"lacks {missing}: this study database was made by an older evalkit. "
                "Keep it for its data and serve this study from a new database "
                "(move the file away, or give --database)"
            )


@contextmanager
def _writer(engine):
    """One SQLite writer at a time across processes, queued by the kernel (flock) rather than by
    SQLite's busy handler, which sleeps in steps of up to 100 ms and so turns contention between
    gunicorn workers into latency. A no-op for server databases, which queue writers themselves."""
    path = _sqlite_file(engine)
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
    """Insert the design's assignments and trials (once; a reload changes nothing) and the study's
    secret. Returns how many assignments were added."""
    with Session(engine) as s, s.begin():
        if s.get(StudyMeta, "secret") is None:
            s.add(StudyMeta(key="secret", value=secrets.token_hex(32)))
        existing = set(s.scalars(select(Assignment.id)))
        new = [
            (n, assignment_id(n), trials)
            for n, trials in enumerate(design.assignments, start=1)
            if assignment_id(n) not in existing
        ]
        if new:
            _insert_assignments(s, new)
        added = len(new)
    return added


def _insert_assignments(s: Session, new: list[tuple[int, str, list[PlannedTrial]]]) -> None:
    """Insert (position, id, trials) assignments, unclaimed, with their trials: the trials in one
    statement through the table (the ORM's bulk insert would split them by which fields are
    None: sentinels and repeats lack some)."""
    s.execute(insert(Assignment), [{"id": aid, "position": n, "lease": 0} for n, aid, _ in new])
    s.execute(
        insert(Trial.__table__),
        [
            {**_trial_row(t), "assignment_id": aid, "position": k}
            for _, aid, trials in new
            for k, t in enumerate(trials, start=1)
        ],
    )


_SIDES = ("left", "right")


def _trial_row(t: PlannedTrial) -> dict:
    """A planned trial as the columns of :class:`Trial`: each field by its name, a side's fields
    as ``<side>_<field>`` (``left_codec``, …)."""
    row = {f.name: getattr(t, f.name) for f in fields(PlannedTrial) if f.name not in _SIDES}
    for side in _SIDES:
        row.update({f"{side}_{name}": value for name, value in asdict(getattr(t, side)).items()})
    return row


def planned_trial(engine, trial_id: str) -> PlannedTrial | None:
    """A stored trial as the design module describes it (None if there is none): what a
    simulated crowd needs to know of an active study's trials, which no trials.json lists."""
    with Session(engine) as s:
        t = s.get(Trial, trial_id)
    if t is None:
        return None
    sides = {side: Side(*(getattr(t, f"{side}_{f.name}") for f in fields(Side))) for side in _SIDES}
    return PlannedTrial(
        **{f.name: sides[f.name] if f.name in sides else getattr(t, f.name) for f in fields(PlannedTrial)}
    )


def study_secret(engine) -> bytes:
    with Session(engine) as s:
        return bytes.fromhex(s.get(StudyMeta, "secret").value)


class StudyError(InputError):
    """A request the study refuses; ``status`` is the HTTP status the web app answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lock_rater(s: Session, rater: str) -> None:
    """Serialise one rater's claims: their row, inserted if new, locked until commit — in one
    statement (an upsert that leaves the row as it was locks it as an UPDATE does)."""
    dialect = s.get_bind().dialect.name
    statement = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](Rater.__table__)
    s.execute(
        statement.values(id=rater, first_seen=_now()).on_conflict_do_update(
            index_elements=[Rater.id], set_={"first_seen": Rater.first_seen}
        )
    )


class StudyComplete(StudyError):
    """The study's stopping rule is met: no new assignment is handed out (409)."""

    def __init__(self, reason: str):
        super().__init__(409, f"this study is complete: {reason}. No more answers are needed; thank you")


class Planning(Protocol):
    """An active study as one claim sees it."""

    complete: str | None  # why the study is complete, or None while it is not
    last: int  # the position of the last assignment planned so far (the claim read them all)

    def plans(self, first: int) -> list[list[PlannedTrial]]:
        """The trials of new assignments ``first``, ``first + 1``, …: one for this claim, and
        one for each other claim of this process waiting to claim, as far as the judgement
        budget goes (each planned with those before it pending)."""


class Planner(Protocol):
    """What an active study's sampler gives :func:`start_session` (see :mod:`evalkit.study.sampling`)."""

    def claiming(self) -> AbstractContextManager:
        """Counts a claim of this process while it lasts (the claims waiting are planned for
        together)."""

    def at_claim(self, session: Session) -> Planning:
        """The study as a claim sees it, read through the claim's own ``session``: a claim holds
        one connection and never asks the pool for a second (claims at once would each hold one
        and wait for another until the pool times out)."""


def start_session(
    engine,
    rater: str,
    source: str,
    external: dict | None,
    token: str,
    limit: int,
    lease_seconds: float,
    planner: Planner | None = None,
    client: str | None = None,
    client_limit: int | None = None,
) -> tuple[Assignment, str]:
    """The rater's assignment for this browser: resumed when ``token`` is the secret of one of
    their leases, else a new lease of the first free assignment bound to ``token`` (the page
    makes its secret before its first request, so a retry after a lost answer resumes; one is
    made here if none is given). Returns the assignment and the secret.

    StudyError 403: the rater has a lease in progress but this browser lacks its secret.
    StudyError 409: the rater reached ``limit`` assignments, none is free, or the secret is
    another lease's. Free means never claimed, or unfinished with its lease expired (the
    previous answers stay, marked by their lease number). An MTurk resume records the worker's
    current assignmentId. StudyError 429: ``client`` (the request's address) holds
    ``client_limit`` leases in progress already (a new rater id per claim does not get round it).

    An active study passes its ``planner``: new claims are taken one at a time (the SQLite writer
    lock; a transaction-scoped advisory lock on a server database), so each sees every pair the
    claims before it hold. A claim that finds an assignment planned and not yet claimed takes it;
    otherwise it is refused with :class:`StudyComplete` once the study is complete (its
    judgement budget counting the pairs leased and not answered yet), and when no assignment is
    free, new ones are planned and added: one for it and one for each claim of this process
    waiting behind it (within the budget), so a burst of claims plans together and the waiting
    claims find theirs ready.
    """
    now = time.time()
    counted = planner.claiming() if planner is not None else nullcontext()
    with counted, _writer(engine), Session(engine, expire_on_commit=False) as s, s.begin():
        _lock_rater(s, rater)
        mine = s.scalars(
            select(Assignment)
            .where(
                Assignment.rater == rater,
                or_(Assignment.finished_at.is_not(None), Assignment.expires_s > now),
            )
            .order_by(Assignment.position)
        ).all()
        resumed = _resume(mine, token, now, source, external)
        if resumed is not None:
            return resumed, token
        if any(row.finished_at is None for row in mine):
            raise StudyError(
                403,
                "this rater id has an assignment in progress in another browser "
                "(or this browser lost its session): continue there, or ask the "
                "study owner to release it",
            )
        if len(mine) >= limit:
            raise StudyError(409, f"you have done the {limit} assignment(s) one rater may take; thank you")
        token = token or secrets.token_urlsafe(32)
        _take_token(s, rater, token, now)
        if client is not None and client_limit:
            _check_client(s, client, client_limit, now)
        planning, free, candidate = None, _free(now), None
        if planner is not None:
            _lock_planning(s)
            candidate = _first_free(s, _UNCLAIMED)
            if candidate is None:
                planning = planner.at_claim(s)
                if planning.complete:
                    raise StudyComplete(planning.complete)
            else:
                free = _UNCLAIMED
        claim = {
            "rater": rater,
            "source": source,
            "external": external,
            "token_hash": _hash(token),
            "expires_s": now + lease_seconds,
            "session_s": now,
        }
        taken = _claim(s, claim, free, planning, candidate)
        if client is not None:
            s.add(ClientLease(assignment_id=taken.id, lease=taken.lease, client=client))
        return taken, token


def _check_client(s: Session, client: str, client_limit: int, now: float) -> None:
    """StudyError 429 if ``client`` holds ``client_limit`` leases in progress; its claims are
    taken one at a time (SQLite's writer lock; an advisory lock per client on a server, held
    until the claim commits — so the claim does everything it can before this)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"evalkit client:{client}"))))
    held = s.scalar(
        select(func.count())
        .select_from(ClientLease)
        .join(
            Assignment, (Assignment.id == ClientLease.assignment_id) & (Assignment.lease == ClientLease.lease)
        )
        .where(ClientLease.client == client, Assignment.finished_at.is_(None), Assignment.expires_s > now)
    )
    if held >= client_limit:
        raise StudyError(
            429,
            f"this address holds {held} assignments in progress, the most one "
            f"address may (claims_per_client); finish one first",
        )


def _resume(
    mine: list[Assignment], token: str, now: float, source: str, external: dict | None
) -> Assignment | None:
    """The rater's lease whose secret is ``token`` (its session time and MTurk ids brought up to
    date while unfinished), or None."""
    for row in mine:
        if token and hmac.compare_digest(row.token_hash, _hash(token)):
            if row.finished_at is None:
                row.session_s = now
                if source == "mturk":
                    row.external = external
            return row
    return None


def _take_token(s: Session, rater: str, token: str, now: float) -> None:
    """Make ``token`` free for a new lease: the secret of this rater's own expired lease may be
    used again; anyone else's may not (StudyError 409)."""
    s.execute(
        update(Assignment)
        .where(
            Assignment.token_hash == _hash(token),
            Assignment.rater == rater,
            Assignment.finished_at.is_(None),
            Assignment.expires_s <= now,
        )
        .values(token_hash=None)
    )
    if s.scalar(select(Assignment.id).where(Assignment.token_hash == _hash(token))) is not None:
        raise StudyError(409, "this session secret belongs to another session; reload the page")


_UNCLAIMED = Assignment.lease == 0


def _free(now: float):
    """Free: never claimed, or unfinished with its lease expired."""
    return or_(_UNCLAIMED, Assignment.finished_at.is_(None) & (Assignment.expires_s <= now))


def _first_free(s: Session, free) -> str | None:
    return s.scalars(select(Assignment.id).where(free).order_by(Assignment.position).limit(1)).first()


def _claim(
    s: Session, claim: dict, free, planning: Planning | None, candidate: str | None = None
) -> Assignment:
    """Lease the first assignment ``free`` selects (``candidate`` first, if the caller found
    one; planning some if the study is active and none is free) with the values of ``claim``;
    StudyError 409 when there is none. The lease is taken and read back in one statement."""
    while True:
        candidate = candidate or _first_free(s, free)
        if candidate is None and planning is not None:
            candidate = _add_planned(s, planning)
        if candidate is None:
            raise StudyError(409, "every assignment of this study is taken; thank you for your interest")
        taken = s.scalars(
            update(Assignment)
            .where(Assignment.id == candidate, free)
            .values(
                lease=Assignment.lease + 1, claimed_at=_now(), comment=None, completion_code=None, **claim
            )
            .returning(Assignment),
            execution_options={"populate_existing": True},
        ).first()
        if taken is not None:
            return taken
        candidate = None


def _lock_planning(s: Session) -> None:
    """Take an active study's claims one at a time until this transaction ends (on SQLite the
    writer lock already does)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(_PLAN_LOCK)))


def _add_planned(s: Session, planning: Planning) -> str:
    """Plan the next assignments and insert them (unclaimed) in this transaction; the first's id
    (numbered on from the last one the planner read, under the planning lock)."""
    first = planning.last + 1
    planned = planning.plans(first)
    _insert_assignments(s, [(n, assignment_id(n), trials) for n, trials in enumerate(planned, start=first)])
    return assignment_id(first)


_PLAN_LOCK = int.from_bytes(hashlib.sha256(b"evalkit: plan an assignment").digest()[:7], "big")


def release(engine, assignment: str) -> bool:
    """End an unfinished lease now, so the assignment returns to the pool (its answers kept)."""
    with _writer(engine), engine.begin() as connection:
        done = connection.execute(
            update(Assignment)
            .where(Assignment.id == assignment, Assignment.lease > 0, Assignment.finished_at.is_(None))
            .values(expires_s=time.time())
        )
    return done.rowcount == 1


def assignment_for(engine, token: str) -> Assignment:
    """The lease whose secret is ``token``: StudyError 403 if none, 410 if it has expired."""
    with Session(engine, expire_on_commit=False) as s:
        found = (
            s.scalars(select(Assignment).where(Assignment.token_hash == _hash(token))).first()
            if token
            else None
        )
    if found is None:
        raise StudyError(403, "unknown session: reload the task page")
    if found.finished_at is None and found.expires_s <= time.time():
        raise StudyError(
            410,
            "the time for this assignment ran out and it went back to the pool; "
            "reload the task page to start another",
        )
    return found


def trials_of(engine, assignment_id: str) -> list[Trial]:
    with Session(engine, expire_on_commit=False) as s:
        return _trials(s, assignment_id)


def _trials(s: Session, assignment_id: str) -> list[Trial]:
    return list(s.scalars(select(Trial).where(Trial.assignment_id == assignment_id).order_by(Trial.position)))


def trials_after(engine, position: int) -> tuple[list[Trial], int]:
    """The trials of assignments after ``position``, and the last position there is."""
    with Session(engine, expire_on_commit=False) as s:
        last = s.scalar(select(func.max(Assignment.position))) or 0
        trials = list(
            s.scalars(
                select(Trial)
                .join(Assignment, Assignment.id == Trial.assignment_id)
                .where(Assignment.position > position, Assignment.position <= last)
            )
        )
    return trials, max(last, position)


def lease_view(engine, assignment: Assignment) -> tuple[list[Trial], dict[str, str]]:
    """What the page needs of a lease it starts or resumes: its trials and the current lease's
    stored answers by trial, read through one connection."""
    with Session(engine, expire_on_commit=False) as s:
        answers = s.execute(
            select(Response.trial_id, Response.choice).where(
                Response.assignment_id == assignment.id, Response.lease == assignment.lease
            )
        )
        return _trials(s, assignment.id), dict(answers.all())


@dataclass(frozen=True)
class Answer:
    """One answer as the task page sends it, checked by the web app. Each field but ``trial`` is
    stored in the :class:`Response` column of the same name; the fields after
    ``device_pixel_ratio`` are the layouts' measures (``study/layouts.py``), None where the
    study's layout has none."""

    trial: str
    choice: str  # "left", "right" or "not_sure" (where the study offers it)
    response_ms: float
    magnifier_ms: float
    viewport_w: int
    viewport_h: int
    device_pixel_ratio: float
    flips: int | None = None
    left_view_ms: float | None = None
    right_view_ms: float | None = None
    flicker_cycles: int | None = None


@cache
def _insert_response_statement():
    """INSERT … SELECT that stores an answer only if the token is the secret of the trial's
    unfinished, unexpired lease, with the server's timing; built once, with bound parameters
    (an :class:`Answer`'s fields, ``token_hash``, ``received_s``, ``stored_at``), so every
    request reuses its compiled form."""
    t, a, r = Trial.__table__, Assignment.__table__, Response.__table__
    earlier = r.alias("earlier")
    answer = {f.name: bindparam(f.name, type_=r.c[f.name].type) for f in fields(Answer) if f.name != "trial"}
    received = bindparam("received_s", type_=r.c.received_s.type)
    previous = (
        select(func.max(earlier.c.received_s))
        .where(earlier.c.assignment_id == a.c.id, earlier.c.lease == a.c.lease)
        .scalar_subquery()
    )
    since = case((previous > a.c.session_s, previous), else_=a.c.session_s)
    values = {
        "trial_id": t.c.id,
        "assignment_id": a.c.id,
        "lease": a.c.lease,
        "rater": a.c.rater,
        "chosen_codec": case(
            (answer["choice"] == "left", t.c.left_codec),
            (answer["choice"] == "right", t.c.right_codec),
            else_="",
        ),
        "left_codec": t.c.left_codec,
        "right_codec": t.c.right_codec,
        "server_ms": (received - since) * 1000,
        "received_s": received,
        "stored_at": bindparam("stored_at", type_=r.c.stored_at.type),
        **answer,
    }
    source = (
        select(*values.values())
        .select_from(t.join(a, a.c.id == t.c.assignment_id))
        .where(
            t.c.id == bindparam("trial"),
            a.c.token_hash == bindparam("token_hash"),
            a.c.finished_at.is_(None),
            a.c.expires_s > received,
        )
    )
    return insert(r).from_select(list(values), source).returning(r.c.id)


def record_response(engine, token: str, answer: Answer) -> bool:
    """Store one answer; True if stored now, False if this same answer was already stored.

    The common case is one statement and one commit. Only when nothing was inserted does it
    look up why: StudyError 403 (unknown token), 410 (lease expired), 404 (trial not in this
    assignment), 409 (answered differently before, or the assignment is finished)."""
    values = {**asdict(answer), "token_hash": _hash(token), "stored_at": _now(), "received_s": time.time()}
    try:
        with _writer(engine), engine.begin() as connection:
            if connection.execute(_insert_response_statement(), values).first() is not None:
                return True
    except IntegrityError:
        pass
    assignment = assignment_for(engine, token)
    with Session(engine) as s:
        trial = s.get(Trial, answer.trial)
        if trial is None or trial.assignment_id != assignment.id:
            raise StudyError(404, f"trial {answer.trial!r} is not part of this assignment")
        previous = s.scalar(
            select(Response.choice).where(
                Response.trial_id == answer.trial, Response.lease == assignment.lease
            )
        )
    if previous == answer.choice:
        return False
    if previous is None:
        raise StudyError(409, "this assignment is already finished")
    raise StudyError(
        409, f"trial {answer.trial!r} was already answered '{previous}'; the first answer stands"
    )


def completion_code(secret: bytes, assignment: str, lease: int) -> str:
    """A code per assignment and lease that only this study's secret produces (10 base32 chars)."""
    digest = hmac.new(secret, f"completion:{assignment}:{lease}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode()[:10]


def finish(engine, assignment: Assignment, comment: str | None, prefix: str = "") -> str:
    """Mark the lease finished once every trial has a stored answer (else StudyError 409), and
    return its completion code (``prefix`` + a code per assignment and lease); idempotent."""
    secret = study_secret(engine)
    with _writer(engine), Session(engine) as s, s.begin():
        total = s.scalar(select(func.count()).select_from(Trial).where(Trial.assignment_id == assignment.id))
        done = s.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.assignment_id == assignment.id, Response.lease == assignment.lease)
        )
        if done < total:
            raise StudyError(409, f"{total - done} of {total} answers are not stored yet")
        row = s.get(Assignment, assignment.id, with_for_update=True)
        if row.lease != assignment.lease:
            raise StudyError(410, "this assignment went back to the pool; reload the task page")
        if row.finished_at is None:
            row.finished_at, row.comment = _now(), comment
            row.completion_code = prefix + completion_code(secret, row.id, row.lease)
        return row.completion_code
