"""The 2AFC study web app: ``create_app()`` and its blueprints (task page and admin pages).

Everything that is not HTTP — trials, storage, analysis — lives in :mod:`evalkit.study`.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from flask import Flask, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError

from evalkit.study.config import StudyConfig, load_config
from evalkit.study.design import Design
from evalkit.study.database import StudyError, connect, load_design

MAX_REQUEST_BYTES = 64 * 1024


def create_app(study: str | Path | StudyConfig, database_url: str | None = None,
               admin_token: str | None = None) -> Flask:
    """The app for one built study. ``database_url`` defaults to SQLite in the study's output
    folder; ``admin_token`` to ``$EVALKIT_ADMIN_TOKEN`` (a random one if neither is set)."""
    config = study if isinstance(study, StudyConfig) else load_config(study)
    design = Design.load(config.trials_path)
    engine = _open_storage(database_url or f"sqlite:///{config.database_path}", design)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.extensions["evalkit"] = {
        "config": config, "engine": engine, "images": _image_index(config, design),
        "admin_token": admin_token or os.environ.get("EVALKIT_ADMIN_TOKEN") or secrets.token_urlsafe(24),
    }

    from .admin import admin
    from .task import task
    app.register_blueprint(task)
    app.register_blueprint(admin)

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


def image_id(relative_path: str) -> str:
    """The opaque id a rater's browser uses for an image: no path ever comes from a request."""
    return hashlib.sha256(relative_path.encode()).hexdigest()[:20]


def _image_index(config: StudyConfig, design: Design) -> dict[str, Path]:
    paths = {p for trials in design.assignments for t in trials
             for p in (t.reference, t.left.path, t.right.path)}
    return {image_id(p): (config.out_dir / p).resolve() for p in paths}
