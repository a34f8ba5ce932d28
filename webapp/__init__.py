"""The 2AFC study web app: ``create_app()`` and its blueprints (task page and admin pages).

Everything that is not HTTP — trials, storage, analysis — lives in :mod:`evalkit.study`.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from flask import Flask, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError

from evalkit.study.config import StudyConfig, load_config
from evalkit.study.design import Design
from evalkit.study.database import StudyError, connect, load_design, study_secret

MAX_REQUEST_BYTES = 64 * 1024
def create_app(study: str | Path | StudyConfig, database_url: str | None = None,
               admin_token: str | None = None) -> Flask:
    """The app for one built study. ``database_url`` defaults to SQLite in the study's output
    folder; ``admin_token`` to ``$EVALKIT_ADMIN_TOKEN`` (a random one if neither is set)."""
    config = study if isinstance(study, StudyConfig) else load_config(study)
    design = Design.load(config.trials_path)
    engine = _open_storage(database_url or f"sqlite:///{config.database_path}", design)
    secret = study_secret(engine)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.extensions["evalkit"] = {
        "config": config, "engine": engine, "secret": secret,
        "images": _image_index(config, design, secret),
        "admin_token": admin_token or os.environ.get("EVALKIT_ADMIN_TOKEN") or secrets.token_urlsafe(24),
    }

    from .admin import admin
    from .task import task
    app.register_blueprint(task)
    app.register_blueprint(admin)

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
        return jsonify(error=str(exc)), exc.status

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


def _open_storage(url: str, design: Design, attempts: int = 5):
    """Connect and load the design; gunicorn workers starting together on a new database race to
    create the tables and rows, and the losers simply try again (everything is idempotent)."""
    for attempt in range(attempts):
        try:
            engine = connect(url)
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


def _image_index(config: StudyConfig, design: Design, secret: bytes) -> dict[str, Path]:
    sides = [(t.id, side, path) for trials in design.assignments for t in trials
             for side, path in (("reference", t.reference), ("left", t.left.path), ("right", t.right.path))]
    files = {path: (config.out_dir / path).resolve() for path in {path for _, _, path in sides}}
    return {image_id(secret, trial, side): files[path] for trial, side, path in sides}
