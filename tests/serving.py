"""A study served on loopback: by real gunicorn processes, for the load test and the benchmark;
by werkzeug in this process, for tests that look inside the app while a client drives it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import requests
from werkzeug.serving import make_server

from evalkit.study.config import StudyConfig
from evalkit.study.design import Design, assignment_id
from evalkit.study.server import free_port, gunicorn_command, wait_until_up
from webapp import create_app


@contextmanager
def in_thread(study: StudyConfig, database_url: str, admin_token: str = "t"):
    """The web app of ``study`` served on loopback by werkzeug's threaded server in this
    process: yields (app, base URL); shut down on exit."""
    app = create_app(study, database_url, admin_token=admin_token)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield app, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()


def many_assignments(source: StudyConfig, folder: Path, count: int) -> Path:
    """A copy of a built study whose trial set repeats its first assignment ``count`` times
    (same images), so that ``count`` raters can work at once — all from this one address, so
    it may hold that many leases (``claims_per_client``). Returns the new study.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text(
        (source.folder / "study.toml").read_text() + f"claims_per_client = {count}\n"
    )
    out = folder / "out"
    out.mkdir(exist_ok=True)
    for name in ("compress", "sentinels"):
        if not (out / name).exists():
            (out / name).symlink_to(source.out_dir / name)
    template = Design.load(source.trials_path).assignments[0]
    assignments = []
    for n in range(1, count + 1):
        ids = {t.id: f"{assignment_id(n)}t{k:02d}" for k, t in enumerate(template, start=1)}
        assignments.append([replace(t, id=ids[t.id], repeat_of=ids.get(t.repeat_of)) for t in template])
    design = Design(source.name, source.seed, assignments, [])
    (out / "trials.json").write_text(json.dumps(design.to_json()))
    return folder / "study.toml"


class Gunicorn:
    """``gunicorn --workers N webapp.wsgi:app`` in its own process group (so that a SIGKILL takes
    the master and every worker, like a crashed machine)."""

    def __init__(self, study_toml: Path, database_url: str, workers: int = 4, **options):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "EVALKIT_STUDY": str(study_toml),
            "EVALKIT_DATABASE_URL": database_url,
            "EVALKIT_ADMIN_TOKEN": "load-test",
        }
        self.command = gunicorn_command(f"127.0.0.1:{self.port}", workers, **options)
        self.process = None

    def start(self, timeout: float = 60) -> Gunicorn:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command, env=self.env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=self.log
        )
        try:
            wait_until_up(self.url, self.process, self.log, timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stderr(self) -> str:
        """Everything the server has logged so far (a file, so a chatty server never blocks)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class SlowClients:
    """``count`` connections that hold the server the way slow or hostile clients do: half send
    a request's header lines one every 2 s, half send a POST body one byte every 0.5 s; each
    reconnects when the server closes it. Runs on its own event loop thread until ``stop()``."""

    def __init__(self, port: int, count: int = 50):
        self.port, self.count = port, count
        self.connections = 0  # opened, reconnects included
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> SlowClients:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    async def _run(self):
        await asyncio.gather(*(self._hold(headers=k % 2 == 0) for k in range(self.count)))

    async def _hold(self, headers: bool):
        if headers:
            head, drip, every = b"GET /task HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n", 2.0
        else:
            head = (
                b"POST /api/response HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 60000\r\n\r\n"
            )
            drip, every = b" ", 0.5
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.connections += 1
                writer.write(head)
                while not self._stop.is_set():
                    try:
                        if await asyncio.wait_for(reader.read(1024), every) == b"":
                            break  # the server hung up: come back
                    except TimeoutError:
                        writer.write(drip)
                        await writer.drain()
                writer.close()
            except OSError:
                await asyncio.sleep(0.1)


def rater_latencies(
    base_url: str, seconds: float, raters: int = 10, think: float = 0.2, prefix: str = "normal"
) -> tuple[list[float], list[str]]:
    """``raters`` threads that, for ``seconds``, each take assignment after assignment and answer
    it as the page does (session, one image, answers); returns every request's latency in
    seconds and the failures (errors, timeouts, unexpected statuses)."""
    latencies, failures, lock = [], [], threading.Lock()
    deadline = time.time() + seconds

    def timed(http, method, path, **kw):
        start = time.perf_counter()
        try:
            r = http.request(method, base_url + path, timeout=10, **kw)
        except requests.RequestException as exc:
            with lock:
                failures.append(f"{path}: {exc!r}")
            return None
        with lock:
            latencies.append(time.perf_counter() - start)
            if r.status_code >= 400:
                failures.append(f"{path}: HTTP {r.status_code}")
        return r

    def rater(n):
        http, k = requests.Session(), 0
        while time.time() < deadline:
            k += 1
            body = {"rater": f"{prefix}-{n}-{k}", "token": secrets.token_urlsafe(32)}
            r = timed(http, "POST", "/api/session", json=body)
            if r is None or r.status_code != 200:
                return
            session = r.json()
            timed(http, "GET", session["trials"][0]["left"])
            for trial in session["trials"]:
                if time.time() >= deadline:
                    return
                time.sleep(think)
                timed(
                    http,
                    "POST",
                    "/api/response",
                    json={
                        "token": session["token"],
                        "trial": trial["id"],
                        "choice": "left",
                        "response_ms": 800,
                        "magnifier_ms": 0,
                        "viewport_w": 1280,
                        "viewport_h": 800,
                        "device_pixel_ratio": 1,
                    },
                )

    threads = [threading.Thread(target=rater, args=(n,)) for n in range(raters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures
