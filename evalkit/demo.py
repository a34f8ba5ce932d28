"""``evalkit demo``: the whole chain on the bundled sample photos — compress, measure, report.

Offline and on a CPU in a few minutes. A metric whose network weights cannot be found (LPIPS,
FID/KID) is left out with a note naming the missing file and how to get it; the rest of the
report is still written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .compress import compress
from .datasets import resolve_images
from .metrics import MetricEngine, WeightsError, write_table
from .metrics.registry import DEFAULT_METRICS, METRICS, label
from .report.build import ReportOptions, write_report
from .report.tables import codec_summary

DEMO_BPP = (0.25, 0.5, 0.75, 1.0)


def _short(name: str) -> str:
    """A metric's label without its unit or variant: ``LPIPS (Alex)`` → ``LPIPS``."""
    return label(METRICS[name].column).split(" (")[0]


def stages() -> list[tuple[str, list[str]]]:
    """The metrics shown by default (registry), one stage per network they load (those that load
    none first), so that missing weights for one network leave out only its stage."""
    networks: dict[str | None, list[str]] = {None: []}
    for name, m in METRICS.items():
        if m.shown:
            networks.setdefault(m.network, []).append(name)
    return [(" and ".join(map(_short, names)), names) for names in networks.values() if names]


@dataclass
class DemoResult:
    report: Path
    notes: list[str]  # what was left out and why
    errors: list[str]  # images or codecs that failed while compressing
    summary: pd.DataFrame  # per codec: BD-rates against the default anchor, flagged points (codec_summary)


def run_demo(
    codecs: list[str],
    out: str | Path = "runs/demo",
    targets=DEMO_BPP,
    weights_dir=None,
    device: str | None = None,
    workers: int | None = None,
    study: bool = False,
    progress: bool = True,
) -> DemoResult:
    """Compress, measure (stage by stage) and report; with ``study``, also run the example study
    with a simulated crowd (:mod:`evalkit.demo_study`) and add its sections to the report."""
    out = Path(out)
    compressed = compress(
        resolve_images("samples"), codecs, list(targets), out, workers=workers, progress=progress
    )
    pairs, sets, notes = compressed.manifest, None, []
    for name, metrics in stages():
        engine = MetricEngine(metrics, device=device, weights_dir=weights_dir)
        try:
            result = engine.evaluate(pairs, root=out, progress=progress)
        except WeightsError as exc:
            notes.append(f"{name} left out: {exc}")
            continue
        pairs, sets = result.pairs, result.sets if result.sets is not None else sets
    write_table(pairs, out / "metrics.csv")
    (out / "metrics_sets.csv").unlink(missing_ok=True)  # never a stale table from an earlier run
    if sets is not None:
        write_table(sets, out / "metrics_sets.csv")
    study_folder = None
    if study:
        from .demo_study import run_study

        fitted = [m for m in DEFAULT_METRICS if METRICS[m].column in pairs.columns]
        missing = [m for m in DEFAULT_METRICS if m not in fitted]
        if missing:
            notes.append(
                f"the study's combined metric is fitted on {' and '.join(map(_short, fitted))} "
                f"only (no {' and '.join(map(_short, missing))} weights)"
            )
        study_folder = run_study(
            out / "study", fitted, weights_dir=weights_dir, device=device, progress=progress
        ).out_dir
    report = write_report(
        out,
        out / "report.html",
        ReportOptions(
            title="evalkit demo: codecs on the bundled sample photos", notes=notes, study=study_folder
        ),
    )
    return DemoResult(report, notes, compressed.errors, codec_summary(pairs))
