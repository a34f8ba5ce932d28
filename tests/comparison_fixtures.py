"""Comparison tables (:mod:`evalkit.study.comparisons`) of simulated raters with a known scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from evalkit.study.comparisons import COLUMNS
from evalkit.study.ranking import JOD_SIGMA


def table(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


def row(rater, image, left, right, answer, boosted=False):
    return (rater, image, left, right, answer, boosted, False, "", np.nan, "sim")


def simulate(gains, levels=6, raters=30, per_rater=80, boosted_share=0.5, seed=0):
    """Raters comparing random pairs of an image's stimuli (the reference and ``levels``
    distortion levels with known scale values), half of them boosted by the image's gain."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for image, gain in gains.items():
        q = np.r_[0.0, -np.cumsum(rng.uniform(0.2, 0.8, levels))]
        names = ["reference"] + [f"l{n}" for n in range(1, levels + 1)]
        truth[image] = dict(zip(names, q))
        for r in range(raters):
            for _ in range(per_rater):
                i, j = rng.choice(len(names), 2, replace=False)
                boosted = bool(rng.random() < boosted_share)
                p = special.ndtr((gain if boosted else 1.0) * (q[i] - q[j]) / JOD_SIGMA)
                rows.append(
                    row(f"r{r}", image, names[i], names[j], "left" if rng.random() < p else "right", boosted)
                )
    return table(rows), truth


def stimuli_table(truth, seed=0):
    """The stimuli of :func:`simulate` with two metric columns: ``good`` follows the true scale
    (small noise), ``noise`` does not; the reference has no metric values (as in AIC-4's table)."""
    rng = np.random.default_rng(seed)
    rows = []
    for image, scale in truth.items():
        for stimulus, q in scale.items():
            source = stimulus == "reference"
            rows.append(
                (
                    image,
                    stimulus,
                    "" if source else "codec",
                    np.nan if source else float(stimulus[1:]),
                    "" if source else f"{image}_{stimulus}.png",
                    np.nan if source else q + rng.normal(0, 0.05),
                    np.nan if source else rng.normal(),
                )
            )
    return pd.DataFrame(rows, columns=["image", "stimulus", "codec", "level", "file", "good", "noise"])
