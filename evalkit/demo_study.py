"""``evalkit demo --study``: the example 2AFC study, run end to end by a simulated crowd.

A copy of ``studies/samples-demo/study.toml`` under the demo's output folder (so the repository's
``studies/`` stays clean) is built, served by gunicorn on a free loopback port, answered over HTTP
by simulated raters whose latent quality per codec is known, analysed, and a combined metric is
fitted on its judgements (``evalkit fit``'s functions). The report then shows the study sections
(``evalkit.report.study_sections``) read from the copy's ``out/`` and ``out/analysis/``.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from .fit import compare_combinations, metric_values, read_judgements
from .study.analysis import responses
from .study.config import StudyConfig, load_config
from .study.crowd import Crowd, CrowdModel
from .study.database import connect, load_design
from .study.design import Design, build_study
from .study.report import analyze, write_analysis
from .study.screening import ScreeningRules
from .study.simulate import simulate_crowd

#: ``studies/samples-demo/study.toml``, through the link ``evalkit/demo_study.toml`` that the
#: package installs as package data.
EXAMPLE_STUDY = Path(__file__).resolve().parent / "demo_study.toml"
#: Latent quality steps between the study's codecs (JOD, in the order of study.toml), as
#: ``evalkit study simulate`` assumes by default.
JOD_STEP = 0.7
#: The crowd waits this fraction of each simulated response time, so the server's clock sees
#: attentive raters take ~1.2 s (median) and careless ones ~0.15 s: the fast-answer rule
#: (0.6 s) then screens out the careless ones and keeps the attentive ones.
TIME_SCALE = 0.4


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(config: StudyConfig, database_url: str, workers: int = 2, timeout: float = 60):
    """The study served by gunicorn on a free 127.0.0.1 port in its own process group; yields the
    base URL and stops the server (SIGTERM, then SIGKILL after 10 s) on the way out, error or not."""
    from .study.server import gunicorn_command

    load_design(connect(database_url), Design.load(config.trials_path))   # once, before the workers
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "EVALKIT_STUDY": str(config.folder / "study.toml"), "EVALKIT_DATABASE_URL": database_url,
           "EVALKIT_ADMIN_TOKEN": secrets.token_urlsafe(24)}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", workers), env=env,
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_until_up(url, process, log, timeout)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/task", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    log.seek(0)
    raise RuntimeError(f"the study server did not start at {url}:\n{log.read().decode(errors='replace')[-2000:]}")


def copy_example_study(folder: Path, source: Path = EXAMPLE_STUDY) -> StudyConfig:
    """``source``'s study.toml in ``folder``, with a fresh database (a rerun starts a new crowd)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text(source.read_text())
    config = load_config(folder / "study.toml")
    config.database_path.unlink(missing_ok=True)
    return config


def run_study(folder: Path, fit_metrics: list[str], weights_dir=None, device: str | None = None,
              bootstrap: int = 200, seed: int = 0, progress: bool = True) -> StudyConfig:
    """Build, serve, crowd, analyse and fit the example study in ``folder``; returns its config
    (its ``out/`` holds what the report's study sections show)."""
    config = copy_example_study(folder)
    design = build_study(config, progress=progress)
    url = f"sqlite:///{config.database_path}"
    quality = {codec: JOD_STEP * n for n, codec in enumerate(config.codecs)}
    crowd = Crowd(CrowdModel(quality, seed=seed))
    with served(config, url) as base:
        summary = simulate_crowd(design, base, crowd, len(design.assignments), concurrency=8,
                                 time_scale=TIME_SCALE, progress=progress)
    (config.out_dir / "simulated_raters.csv").write_text(
        "rater,kind\n" + "".join(f"{r},{k}\n" for r, k in summary.kinds.items()))
    options = {"weights_dir": weights_dir, "device": device}
    result = analyze(responses(connect(url)), ScreeningRules(), codecs=config.codecs, n_boot=bootstrap,
                     seed=seed, metrics=fit_metrics, root=config.out_dir, engine_options=options,
                     progress=progress)
    analysis = config.out_dir / "analysis"
    write_analysis(result, analysis)
    fit_combined(analysis / "judgements.csv", fit_metrics, config.out_dir / "combined.json", options, seed)
    return config


def fit_combined(judgements: Path, metrics: list[str], model_path: Path, engine_options: dict, seed: int = 0):
    """``evalkit fit`` on the study's judgements: every subset of ``metrics``, held-out 2AFC per
    subset written beside the model of all of them (``combined_2afc.csv``)."""
    table = metric_values(read_judgements(judgements), metrics, root=judgements.parent,
                          engine_options=engine_options)
    results, models = compare_combinations(table, metrics, folds=5, seed=seed, n_hypotheses=1000)
    models[tuple(metrics)].save(model_path)
    results.sort_values("2afc", ascending=False).drop(columns="weights_scaled").to_csv(
        model_path.with_name(f"{model_path.stem}_2afc.csv"), index=False)
