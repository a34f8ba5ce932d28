"""The report's study sections: whatever a study's analysis has written, one section per artefact.

A study's output folder (``studies/<name>/out/``, or its ``analysis/`` subfolder) holds tables
(CSV) and figures (PNG). Each known artefact gets its own titled section; files are matched by
name pattern, so ``ranking.csv`` and ``ranking.png`` belong to *rankings* and
``combined_2afc.csv`` (what ``evalkit fit`` writes beside its model) to the
metrics-against-people section. Anything else found there is shown
under "Other study results". The study's own code decides what to compute; the report only shows
it, so a new analysis output appears without a change here.
"""

from __future__ import annotations

import shutil
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd

from ..errors import InputError

#: Section → (title, file-name patterns), in page order. The names are those ``evalkit study
#: analyze`` writes into ``out/analysis/`` (its ``*_all`` variants, before screening, are left
#: out) and ``evalkit study export`` / ``evalkit fit`` write into ``out/``.
STUDY_ARTEFACTS = {
    "rankings": ("Rankings with 95 % confidence intervals", ("ranking*", "gaps*")),
    "preference": ("Preference matrices", ("preference*", "pairs*")),
    "quality": ("Rater screening", ("raters*", "quality*")),
    "scale": ("Scale per source image: JND from the source, boosted gain", ("scale*", "gains*", "levels*")),
    "benchmark": (
        "Metrics against people: held-out 2AFC beside the ceiling, probit and linear fits",
        ("benchmark*", "closing_note*"),
    ),
    "fit": ("Metrics against people: 2AFC agreement", ("agreement*", "metrics*", "*2afc*")),
}
MAX_ROWS = 200


def study_folder(path: str | Path) -> Path:
    """The output folder of a study given as its ``study.toml``, its folder, or the out folder."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    out = path / "out" if (path / "study.toml").is_file() else path
    if not out.is_dir():
        raise InputError(f"{path}: no study output folder; build, serve and export the study first")
    return out


def study_sections(path: str | Path, files: Path) -> list[dict]:
    """Sections for the artefacts found, each with its tables (records) and figures (copied into
    ``files``, linked relatively)."""
    out = study_folder(path)
    found = sorted(
        p
        for folder in (out, out / "analysis")
        if folder.is_dir()
        for p in folder.iterdir()
        if p.suffix in (".csv", ".png") and p.is_file()
    )
    found = [
        p
        for p in found
        if p.name not in ("responses.csv", "judgements.csv", "comparisons.csv")  # raw
        and not p.stem.endswith("_all")
    ]
    sections = {
        key: {"title": title, "tables": [], "figures": []} for key, (title, _) in STUDY_ARTEFACTS.items()
    }
    sections["other"] = {"title": "Other study results", "tables": [], "figures": []}
    for p in found:
        key = next(
            (
                k
                for k, (_, patterns) in STUDY_ARTEFACTS.items()
                if any(fnmatch(p.stem, pattern) for pattern in patterns)
            ),
            "other",
        )
        if p.suffix == ".png":
            target = files / f"study_{p.name}"
            shutil.copyfile(p, target)
            sections[key]["figures"].append({"name": p.stem, "src": f"{files.name}/{target.name}"})
        else:
            table = pd.read_csv(p)
            sections[key]["tables"].append(
                {
                    "name": p.stem,
                    "columns": list(table.columns),
                    "truncated": max(0, len(table) - MAX_ROWS),
                    "rows": [[_cell(v) for v in row] for row in table.head(MAX_ROWS).itertuples(index=False)],
                }
            )
    judgements = out / "judgements.csv"
    return [
        {"id": f"study-{k}", **s, "source": str(out), "judgements": judgements.is_file()}
        for k, s in sections.items()
        if s["tables"] or s["figures"]
    ]


def _cell(value) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:.4g}"
    return str(value)
