"""How a study is served: the gunicorn command line for the web app (``webapp.wsgi:app``).

It lives here, not in ``webapp``, so that ``evalkit study serve``, the demo and the tests can start
the server without importing the web app; gunicorn's workers import it.
"""
from __future__ import annotations

import sys

THREADS_PER_WORKER = 64


def gunicorn_command(bind: str, workers: int = 4, worker_class: str = "gthread",
                     threads: int = THREADS_PER_WORKER, access_log: bool = False) -> list[str]:
    """How ``evalkit study serve`` (and the load tests) run the app. Threaded workers, because a
    sync worker serves one connection at a time, so a few clients that trickle their headers or
    bodies stall the whole study (measured: bench/study_slow_clients.py); a thread stuck on a
    slow client leaves the worker's other threads serving. URLs never carry secrets, so the
    access log holds none."""
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", bind,
               "--worker-class", worker_class, "--backlog", "2048"]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return command + (["--access-logfile", "-"] if access_log else []) + ["webapp.wsgi:app"]
