"""``evalkit study serve``: the task page and admin pages served with gunicorn."""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> argparse.ArgumentParser:
    sv = sub.add_parser("serve", help="serve the task page and admin pages with gunicorn")
    sv.add_argument("study", help="path to study.toml")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default: 4)")
    sv.add_argument(
        "--database",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db "
        "(default: SQLite in the study's out/ folder)",
    )
    sv.add_argument(
        "--admin-token",
        help="token for /admin/login (default: $EVALKIT_ADMIN_TOKEN, else a "
        "random one written to out/admin-token, never printed)",
    )
    return sv


def run(args, config) -> int:
    from ...study.config import database_url
    from ...study.server import admin_token, gunicorn_command, load_for_serving, serving_environment

    url = database_url(config, args.database)
    load_for_serving(config, url, args.workers)
    token, where = admin_token(config, args.admin_token)
    base = f"http://{args.host}:{args.port}"
    print(
        f"task page:   {base}/task?rater=ID  (MTurk and Prolific add their own parameters)\n"
        f"admin pages: {base}/admin/login  (log in with {where})",
        flush=True,
    )
    command = gunicorn_command(f"{args.host}:{args.port}", args.workers, access_log=True)
    os.execvpe(command[0], command, serving_environment(config, url, token))
