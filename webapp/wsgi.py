"""Entry point for gunicorn (``evalkit study serve`` sets these variables):
``EVALKIT_STUDY`` (study.toml), ``EVALKIT_DATABASE_URL`` (optional), ``EVALKIT_ADMIN_TOKEN``;
``EVALKIT_WORKERS`` (how many workers serve it) comes from ``gunicorn_command``."""

import os

from . import create_app

app = create_app(
    os.environ["EVALKIT_STUDY"],
    os.environ.get("EVALKIT_DATABASE_URL") or None,
    workers=int(os.environ.get("EVALKIT_WORKERS", "1")),
)
