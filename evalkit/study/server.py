"""How a study is served: the gunicorn command line for the web app (``webapp.wsgi:app``), and
:func:`served`, which runs it on a free loopback port for as long as a ``with`` block lasts.

It lives here, not in ``webapp``, so that ``evalkit study serve``, the demo, the loop and the
tests can start the server without importing the web app; gunicorn's workers import it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import requests

from .config import StudyConfig
from .database import accepted_connections, connect, load_design, pool_size
from .design import Design

THREADS_PER_WORKER = 64


def gunicorn_command(
    bind: str,
    workers: int = 4,
    worker_class: str = "gthread",
    threads: int = THREADS_PER_WORKER,
    access_log: bool = False,
) -> list[str]:
    """How ``evalkit study serve`` (and the load tests) run the app. Threaded workers, because a
    sync worker serves one connection at a time, so a few clients that trickle their headers or
    bodies stall the whole study (measured: bench/study_slow_clients.py); a thread stuck on a
    slow client leaves the worker's other threads serving. URLs never carry secrets, so the
    access log holds none. Each worker is told how many there are (``EVALKIT_WORKERS``: its
    share of a PostgreSQL server's connections) and runs BLAS on one thread (a plan's small
    matrix inverses waking a BLAS thread pool cost milliseconds each on a busy machine, and
    the worker's own threads serve the requests in parallel)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        bind,
        "--worker-class",
        worker_class,
        "--backlog",
        "2048",
        "--control-socket",
        control_socket(bind),
        "--env",
        f"EVALKIT_WORKERS={workers}",
        "--env",
        "OPENBLAS_NUM_THREADS=1",
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return command + (["--access-logfile", "-"] if access_log else []) + ["webapp.wsgi:app"]


def control_socket(bind: str) -> str:
    """gunicorn's control socket for the server at ``bind``: one per address, so two servers on
    one host do not share gunicorn's default (the second would replace the first's, and the
    first to stop would remove the other's)."""
    name = "".join(c if c.isalnum() or c in ".-" else "-" for c in bind)
    return os.path.join(tempfile.gettempdir(), f"evalkit-gunicorn-{os.getuid()}", f"{name}.ctl")


def load_for_serving(config: StudyConfig, database_url: str, workers: int | None = None) -> None:
    """``config``'s trial set loaded into the database once, before gunicorn's workers start;
    given ``workers``, a PostgreSQL server is checked to accept at least a connection for each
    (each worker's pool holds one per thread, up to its share: :func:`~evalkit.study.database.pool_size`),
    else InputError says what to change."""
    engine = connect(database_url)
    load_design(engine, Design.load(config.trials_path))
    if workers and engine.dialect.name == "postgresql":
        pool_size(accepted_connections(engine), workers, THREADS_PER_WORKER)


def serving_environment(config: StudyConfig, database_url: str, admin_token: str) -> dict[str, str]:
    """The environment gunicorn's workers read (``webapp.wsgi``) to serve ``config``'s study."""
    return {
        **os.environ,
        "EVALKIT_STUDY": str(config.folder / "study.toml"),
        "EVALKIT_DATABASE_URL": database_url,
        "EVALKIT_ADMIN_TOKEN": admin_token,
    }


def admin_token(config: StudyConfig, given: str | None = None) -> tuple[str, str]:
    """The admin pages' token and where its owner finds it: ``given``, else
    ``$EVALKIT_ADMIN_TOKEN``, else a random one written to ``out/admin-token`` (mode 0600). Never
    printed: terminals and logs are kept; the file is the owner's alone."""
    token = given or os.environ.get("EVALKIT_ADMIN_TOKEN")
    if token:
        return token, "the token you gave"
    token = secrets.token_urlsafe(24)
    token_file = config.out_dir / "admin-token"
    token_file.touch(mode=0o600)
    token_file.write_text(token + "\n")
    return token, f"the token in {token_file}"


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(config: StudyConfig, database_url: str, workers: int = 2, timeout: float = 60):
    """The study served by gunicorn on a free 127.0.0.1 port in its own process group; yields the
    base URL and stops the server (SIGTERM, then SIGKILL after 10 s) on the way out, error or not."""
    load_for_serving(config, database_url)
    env = serving_environment(config, database_url, secrets.token_urlsafe(24))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            gunicorn_command(f"127.0.0.1:{port}", workers),
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_until_up(url, process, log, timeout)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def wait_until_up(url: str, process: subprocess.Popen, log, timeout: float) -> None:
    """Return once the server ``process`` answers ``url``/task with 200, polling every 0.2 s;
    a :class:`RuntimeError` with the end of its ``log`` if it exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/task", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    log.seek(0)
    raise RuntimeError(
        f"the study server did not start at {url}:\n{log.read().decode(errors='replace')[-2000:]}"
    )
