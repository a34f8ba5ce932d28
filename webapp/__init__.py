"""The 2AFC study web app: ``create_app()`` and its blueprints (task page and admin pages).

Everything that is not HTTP — trials, storage, analysis — lives in :mod:`evalkit.study`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import secrets
import threading
import time
from pathlib import Path

from flask import Flask, abort, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.datastructures import MultiDict

from evalkit.errors import InputError
from evalkit.study.config import StudyConfig, load_config
from evalkit.study.config import database_url as default_database
from evalkit.study.database import StudyComplete, StudyError, connect, load_design, study_secret, trials_after
from evalkit.study.design import Design
from evalkit.study.sampling import ActiveSampler, LivePlanner
from evalkit.study.server import THREADS_PER_WORKER

MAX_REQUEST_BYTES = 64 * 1024
# C0 control characters but tab and line breaks, and DEL: no rater id, token, answer, comment or
# admin form holds one; NUL cannot be stored in PostgreSQL text at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def check_text(text: str) -> None:
    """StudyError 400 for text a request may not carry: a lone surrogate (not valid Unicode) or a
    control character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StudyError(400, "text must be valid Unicode (no lone surrogates)") from None
    if _CONTROL.search(text):
        raise StudyError(400, "text cannot contain control characters (NUL and the like)")


def create_app(
    study: str | Path | StudyConfig,
    database_url: str | None = None,
    admin_token: str | None = None,
    workers: int = 1,
) -> Flask:
    """The app for one built study. ``database_url`` defaults to SQLite in the study's output
    folder; ``admin_token`` to ``$EVALKIT_ADMIN_TOKEN`` (a random one if neither is set);
    ``workers``: how many processes serve the study, each with its share of a PostgreSQL
    server's connections."""
    config = study if isinstance(study, StudyConfig) else load_config(study)
    design = Design.load(config.trials_path)
    if (config.sampling == "active") != design.active:
        raise InputError(
            f"{config.trials_path} was built for a {'fixed' if config.sampling == 'active' else 'active'} "
            f"design but study.toml says sampling = {config.sampling!r}: run 'evalkit study build' again"
        )
    engine = _open_storage(default_database(config, database_url), design, workers)
    secret = study_secret(engine)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.extensions["evalkit"] = {
        "config": config,
        "engine": engine,
        "secret": secret,
        "images": ImageIndex(engine, secret, config.out_dir),
        "planner": LivePlanner(engine, ActiveSampler(config, design.pairs, design.sentinels))
        if design.active
        else None,
        "admin_token": admin_token or os.environ.get("EVALKIT_ADMIN_TOKEN") or secrets.token_urlsafe(24),
    }

    from .admin import admin
    from .task import task

    app.register_blueprint(task)
    app.register_blueprint(admin)

    @app.before_request
    def checked_at_the_edge():
        """Before any view: a body over the limit is 413 however it is sent, and no query or form
        value (key or value) may hold a control character (a NUL reached the database)."""
        _read_chunked_body()
        forms = request.form if request.mimetype in _FORMS else MultiDict()
        for values in (request.args, forms):
            for key, value in values.items(multi=True):
                check_text(key)
                check_text(value)

    @app.after_request
    def headers(response):
        """No page leaks its URL to another site; nothing private is kept by a cache."""
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith(("/api/", "/admin")):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(StudyError)
    def study_error(exc: StudyError):
        return jsonify(error=str(exc), complete=isinstance(exc, StudyComplete)), exc.status

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def http_error(exc):
        if request.path.startswith(("/api/", "/img/", "/admin/export")):
            return jsonify(error=exc.description), exc.code
        return f"<h1>{exc.code}</h1><p>{exc.name}</p>", exc.code

    return app


def _read_chunked_body() -> None:
    """A body sent without Content-Length (chunked) is read here, whole, and a 413 answers one
    over ``MAX_REQUEST_BYTES``: werkzeug stops reading such a body at the limit and says
    nothing (``LimitedStream.readall``), so the view would get the first 64 KiB as if whole."""
    environ = request.environ
    if request.content_length is not None or not environ.get("wsgi.input_terminated"):
        return
    stream, body = environ["wsgi.input"], b""
    while len(body) <= MAX_REQUEST_BYTES:
        chunk = stream.read(MAX_REQUEST_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > MAX_REQUEST_BYTES:
        abort(413, f"the request body is over {MAX_REQUEST_BYTES // 1024} KiB")
    environ["wsgi.input"] = io.BytesIO(body)


def _open_storage(url: str, design: Design, workers: int, attempts: int = 5):
    """Connect (a connection for each of a worker's threads, up to its share of ``workers``'
    on a server database) and load the design; gunicorn
    workers starting together on a new database race to create the tables and rows, and the
    losers simply try again (everything is idempotent)."""
    for attempt in range(attempts):
        try:
            engine = connect(url, threads=THREADS_PER_WORKER, workers=workers)
            load_design(engine, design)
            return engine
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def image_id(secret: bytes, trial: str, side: str) -> str:
    """The opaque name of one side ("reference", "left", "right") of one trial: an HMAC under the
    study's secret, so it tells nothing of the codec or the trial's kind, no two trials share one,
    and no path ever comes from a request."""
    return hmac.new(secret, f"image:{trial}:{side}".encode(), hashlib.sha256).hexdigest()[:32]


class ImageIndex:
    """Opaque image names (:func:`image_id`) → files, for every trial in the database. An active
    study adds trials while it runs, in any worker: a name not known yet makes the index read
    the assignments added since it last looked (one indexed query; a made-up name finds none)."""

    def __init__(self, engine, secret: bytes, out_dir: Path):
        self.engine, self.secret, self.out_dir = engine, secret, out_dir
        self.files: dict[str, Path] = {}
        self.seen = 0  # assignments indexed: positions 1 … seen
        self.lock = threading.Lock()
        self._read()

    def get(self, name: str) -> Path | None:
        if name not in self.files:
            with self.lock:
                self._read()
        return self.files.get(name)

    def _read(self) -> None:
        trials, self.seen = trials_after(self.engine, self.seen)
        for t in trials:
            for side, path in (("reference", t.reference), ("left", t.left_path), ("right", t.right_path)):
                self.files[image_id(self.secret, t.id, side)] = (self.out_dir / path).resolve()
