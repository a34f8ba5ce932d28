"""A study served by real gunicorn processes on loopback, for the load test and the benchmark."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import requests

from evalkit.study.config import StudyConfig
from evalkit.study.design import Design, assignment_id


def many_assignments(source: StudyConfig, folder: Path, count: int) -> Path:
    """A copy of a built study whose trial set repeats its first assignment ``count`` times
    (same images), so that ``count`` raters can work at once. Returns the new study.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text((source.folder / "study.toml").read_text())
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """``gunicorn --workers N webapp.wsgi:app`` in its own process group (so that a SIGKILL takes
    the master and every worker, like a crashed machine)."""

    def __init__(self, study_toml: Path, database_url: str, workers: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "EVALKIT_STUDY": str(study_toml), "EVALKIT_DATABASE_URL": database_url,
                    "EVALKIT_ADMIN_TOKEN": "load-test"}
        self.command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
                        f"127.0.0.1:{self.port}", "--backlog", "2048", "webapp.wsgi:app"]
        self.process = None

    def start(self, timeout: float = 60) -> "Gunicorn":
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(f"{self.url}/task", timeout=10).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start: {self.process.stderr.read().decode()[-2000:]}")

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
