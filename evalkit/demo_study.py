"""``evalkit demo --study``: the example 2AFC study, run end to end by a simulated crowd.

A copy of ``studies/samples-demo/study.toml`` under the demo's output folder (so the repository's
``studies/`` stays clean) is built, served by gunicorn on a free loopback port, answered over HTTP
by simulated raters whose latent quality per codec is known, analysed, and a combined metric is
fitted on its judgements (``evalkit fit``'s functions). The report then shows the study sections
(``evalkit.report.study_sections``) read from the copy's ``out/`` and ``out/analysis/``.
"""

from __future__ import annotations

from pathlib import Path

from .fit import fit_judgements
from .study.analyze import analyze, write_analysis
from .study.config import StudyConfig, database_url, load_config
from .study.crowd import Crowd, CrowdModel, evenly_spaced_quality
from .study.database import connect
from .study.design import build_study
from .study.responses import responses
from .study.screening import ScreeningRules
from .study.simulate import crowd_on_served_study

#: ``studies/samples-demo/study.toml``, through the link ``evalkit/demo_study.toml`` that the
#: package installs as package data.
EXAMPLE_STUDY = Path(__file__).resolve().parent / "demo_study.toml"


def copy_example_study(folder: Path, source: Path = EXAMPLE_STUDY) -> StudyConfig:
    """``source``'s study.toml in ``folder``, with a fresh database (a rerun starts a new crowd)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text(source.read_text())
    config = load_config(folder / "study.toml")
    config.database_path.unlink(missing_ok=True)
    return config


def run_study(
    folder: Path,
    fit_metrics: list[str],
    weights_dir=None,
    device: str | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> StudyConfig:
    """Build, serve, crowd, analyse and fit the example study in ``folder``; returns its config
    (its ``out/`` holds what the report's study sections show)."""
    config = copy_example_study(folder)
    design = build_study(config, progress=progress)
    url = database_url(config)
    crowd = Crowd(CrowdModel(evenly_spaced_quality(config.codecs), seed=seed))
    crowd_on_served_study(config, design, url, crowd, progress=progress)
    options = {"weights_dir": weights_dir, "device": device}
    result = analyze(
        responses(connect(url)),
        ScreeningRules(),
        codecs=config.codecs,
        n_boot=bootstrap,
        seed=seed,
        metrics=fit_metrics,
        root=config.out_dir,
        engine_options=options,
        progress=progress,
    )
    analysis = config.out_dir / "analysis"
    write_analysis(result, analysis)
    fit_judgements(
        analysis / "judgements.csv",
        fit_metrics,
        config.out_dir / "combined.json",
        options,
        seed=seed,
        n_hypotheses=1000,
    )
    return config
