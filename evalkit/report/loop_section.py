"""The report's first section for ``evalkit loop``: the question, and the second study's answer.

Reads the loop's ``answer.json`` (written by :mod:`evalkit.loop.stages`): the fitted metric
with its held-out 2AFC score, the two trained codecs, and per bpp the Thurstone JOD of each with
95 % intervals and the gap of the metric-trained codec over the MSE baseline (and, for a
simulated crowd, the gap its known preference implies).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError


def loop_section(path: str | Path) -> dict:
    """The template's ``loop`` context from ``answer.json``."""
    try:
        answer = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a loop answer file ({exc}); run `evalkit loop` first") from exc
    fit, codecs = answer["fit"], answer["train"]["codecs"]
    lo, hi = fit["ci"]
    rows = []
    for row in answer["answer"]:
        cells = {"bpp": f"{row['bpp']:g}"}
        for variant in ("combined", "mse"):
            score, low, high = row["scores"].get(codecs[variant], [float("nan")] * 3)
            cells[variant] = f"{score:+.2f} [{low:+.2f}, {high:+.2f}]"
        cells["gap"] = f"{row['gap']:+.2f} [{row['ci'][0]:+.2f}, {row['ci'][1]:+.2f}]"
        cells["p"] = f"{row['p']:.3f}"
        cells["truth"] = f"{row['truth']:+.2f}" if "truth" in row else "–"
        cells["verdict"] = row["verdict"]
        rows.append(cells)
    weights = ", ".join(f"{c:+.4g}·{m}" for m, c in zip(fit["metrics"], fit["coef"]))
    return {
        "question": answer["question"],
        "codecs": codecs,
        "rows": rows,
        "simulated": answer["simulated"],
        "fit": f"q = {weights}",
        "fit_score": f"{fit['score_2afc']:.3f} [{lo:.3f}, {hi:.3f}]",
        "judgements": fit["judgements"],
        "steps": answer["train"]["steps"],
        "weight": f"{answer['train']['weight']:.4g}",
        "base": answer["train"]["base"],
        "raters": answer["second_study"]["raters"],
        "experiment": answer["experiment"],
    }
