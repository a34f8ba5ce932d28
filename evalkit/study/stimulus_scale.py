"""Each distorted stimulus scaled against its own source: JND per image, anchored at 0.

Where :mod:`evalkit.study.ranking` puts codecs on one scale per bpp, centred on their mean, a
study of distortion levels (JPEG AIC-3: Testolina et al., arXiv 2410.09501; Jenadeleh et al.,
arXiv 2504.06301) asks how far each distorted image is from its source. Per source image:

* **Thurstone Case V with the source fixed at 0** (pwcmp's ``fix0``): P(i judged better than j) =
  Φ((q_i − q_j) / σ), σ = 1 / Φ⁻¹(0.75), so 1 unit — one JND — is 75 % of judgements; q ≤ 0 for a
  distorted image, −q its distance from the source in JND. Fitted by maximum a posteriori
  (BFGS on the exact log posterior and its gradient).
* **Boosted comparisons** (AIC-3's BTC: artefacts amplified, zoomed, flickered) see the same
  differences magnified: P(i better than j | boosted) = Φ(g·(q_i − q_j) / σ), with one gain g per
  source image fitted jointly with the plain comparisons, so boosted answers sharpen the plain
  (JND) scale instead of defining their own. This is the AIC-3 papers' rescaling of boosted scale
  values back to the plain scale, in its simplest (proportional) form. With no plain comparison
  of an image, g is not identifiable: it is fixed at 1 and the scale is in boosted units (noted).
* **"Not sure"** answers (:data:`~evalkit.study.comparisons.NOT_SURE`) count half a judgement each
  way (``not_sure="split"``) or are left out (``"drop"``). Trap questions are checks, not data.
* **Priors**: ``"distance"`` is pwcmp's Gaussian distance prior (Perez-Ortiz & Mantiuk 2017,
  ``pw_scale``'s default): each compared pair's distance is as likely as it would make the
  counts observed on every compared pair (unanimous counts moved one judgement inward), so a pair
  one side won every time is placed where the rest of the data puts such pairs, not at infinity;
  ``"normal"`` is ranking's weak N(0, 10²) on each score (a lone 10–0 link then lands near 4–5
  JND whatever the truth); ``"none"`` is pure maximum likelihood (finite only without a split).

Intervals: a stimulus's from a bootstrap over raters (its image's scale depends on its image's
answers only); the per-(codec, level) summary — the mean over images — from the two-level
bootstrap over raters and images of :mod:`evalkit.study.ranking`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats
from tqdm import tqdm

from ..errors import InputError
from . import comparisons as cmp
from .ranking import JOD_SIGMA, PRIOR_SD, _draws, split_links

PRIORS = ("distance", "normal", "none")
_PRIOR_FLOOR = 0.1  # pwcmp's log(prior + 0.1): a pair's prior never vanishes


def answers(comparisons: pd.DataFrame, not_sure: str = "split") -> pd.DataFrame:
    """The judgements of a comparison table that are not traps (the comparison table's columns
    plus winner, loser and weight: ½ for each half of a split "not sure",
    :func:`~evalkit.study.comparisons.judgements`)."""
    table = cmp.check_comparisons(comparisons)
    return cmp.judgements(table[~table[cmp.TRAP]], not_sure)


def _log_prior(d: np.ndarray, counts: np.ndarray) -> tuple[float, np.ndarray]:
    """pwcmp's Gaussian distance prior, log Σ, and its gradient in ``d``, for entries with scaled
    distances ``d`` (one per ordered compared pair and mode; P(first better) = Φ(d)) and their
    counts (n_better, n_total): prior_p = Σ_m Φ(d_p)^k_m (1 − Φ(d_p))^(n_m − k_m) / Σ_p' (the same
    for p'), unanimous counts moved one judgement inward, and log(prior_p + 0.1) summed over p.
    Entries with equal (k, n) give equal columns m, summed once with their multiplicity — the
    value of pwcmp's full matrix at a fraction of its cost."""
    k, n = counts[:, 0], counts[:, 1]
    unanimous = (k == 0) | (k == n)
    k = np.where(unanimous & (k == 0), np.minimum(1.0, n), np.where(unanimous, k - 1, k))
    unique, multiplicity = np.unique(np.c_[k, n], axis=0, return_counts=True)
    ku, nu = unique[:, 0], unique[:, 1]
    log_p, log_q = special.log_ndtr(d), special.log_ndtr(-d)
    log_aux = np.outer(log_p, ku) + np.outer(log_q, nu - ku)  # (entries, unique)
    share = np.exp(log_aux - special.logsumexp(log_aux, axis=0))  # softmax over entries
    prior = share @ multiplicity
    v = 1.0 / (prior + _PRIOR_FLOOR)
    slope = np.outer(_mills(d), ku) - np.outer(_mills(-d), nu - ku)  # d log_aux / d d
    grad = (multiplicity * share * slope * (v[:, None] - v @ share)).sum(axis=1)
    return float(np.log(prior + _PRIOR_FLOOR).sum()), grad


def _mills(z: np.ndarray) -> np.ndarray:
    """φ(z) / Φ(z), the derivative of log Φ, stable far in the tails."""
    return np.exp(stats.norm.logpdf(z) - special.log_ndtr(z))


@dataclass
class _Image:
    """One source image's comparison graph: its stimuli (the reference first) and, per mode
    (plain, boosted), the ordered pairs (better, worse) that occur."""

    stimuli: list[str]
    modes: dict[bool, tuple[np.ndarray, np.ndarray]]  # boosted → (better idx, worse idx) per row
    fit_gain: bool


def _fit(
    image: _Image, weights: dict[bool, np.ndarray], prior: str, start: np.ndarray | None = None
) -> np.ndarray:
    """θ = (q of every stimulus but the reference, log gain if fitted) at the posterior mode."""
    k = len(image.stimuli)
    data = {}
    for mode, (better, worse) in image.modes.items():
        wins = np.bincount(better * k + worse, weights=weights[mode], minlength=k * k).reshape(k, k)
        i, j = np.nonzero(wins)
        compared_i, compared_j = np.nonzero(np.triu(wins + wins.T, 1))
        data[mode] = (
            i,
            j,
            wins[i, j],
            compared_i,
            compared_j,
            np.c_[wins[compared_i, compared_j], (wins + wins.T)[compared_i, compared_j]],
        )

    def objective(theta):
        q = np.r_[0.0, theta[: k - 1]]
        value, grad_q, grad_gain = 0.0, np.zeros(k), 0.0
        prior_d, prior_counts, prior_links = [], [], []

        def chain(i, j, h, gain, boosted):
            """Add ∂/∂θ of a term whose derivative in each d = gain·(q_i − q_j)/σ is h."""
            nonlocal grad_q, grad_gain
            grad_q += (np.bincount(i, h, k) - np.bincount(j, h, k)) * gain / JOD_SIGMA
            if boosted and image.fit_gain:
                grad_gain += h @ (gain * (q[i] - q[j]) / JOD_SIGMA)

        for mode, (i, j, w, ci, cj, counts) in data.items():
            gain = np.exp(theta[-1]) if (mode and image.fit_gain) else 1.0
            z = gain * (q[i] - q[j]) / JOD_SIGMA
            value += w @ special.log_ndtr(z)
            chain(i, j, w * _mills(z), gain, mode)
            prior_d.append(gain * (q[ci] - q[cj]) / JOD_SIGMA)
            prior_counts.append(counts)
            prior_links.append((ci, cj, gain, mode))
        if prior == "distance":
            d = np.concatenate(prior_d)
            both = np.r_[d, -d]
            counts = np.vstack(prior_counts)
            flipped = np.c_[counts[:, 1] - counts[:, 0], counts[:, 1]]
            log_prior, grad = _log_prior(both, np.vstack([counts, flipped]))
            value += log_prior
            h = grad[: len(d)] - grad[len(d) :]
            offsets = np.cumsum([0] + [len(x) for x in prior_d])
            for (ci, cj, gain, mode), a, b in zip(prior_links, offsets[:-1], offsets[1:]):
                chain(ci, cj, h[a:b], gain, mode)
        elif prior == "normal":
            value -= q @ q / (2 * PRIOR_SD**2)
            grad_q -= q / PRIOR_SD**2
        gradient = np.r_[grad_q[1:], [grad_gain] if image.fit_gain else []]
        return -value, -gradient

    size = k - 1 + image.fit_gain
    theta0 = np.zeros(size) if start is None else start
    result = optimize.minimize(
        objective, theta0, jac=True, method="BFGS", options={"maxiter": 2000, "gtol": 1e-6}
    )
    return result.x


@dataclass(frozen=True)
class StimulusScale:
    """Per-stimulus scales, per-image boost gains, per-(codec, level) means, and notes."""

    scores: pd.DataFrame  # image, stimulus, scale, ci_low, ci_high, judgements
    gains: pd.DataFrame  # image, gain, ci_low, ci_high, plain, boosted (judgements)
    levels: pd.DataFrame  # codec, level, scale, ci_low, ci_high, images (empty without stimuli)
    notes: list[str]
    not_sure: str
    prior: str
    boosted_only: list[str]  # images with boosted comparisons only: their scale is in boosted units


def scale_stimuli(
    comparisons: pd.DataFrame,
    not_sure: str = "split",
    prior: str = "distance",
    stimuli: pd.DataFrame | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> StimulusScale:
    """Scale every stimulus of every image against its source (``reference`` = 0, JND units;
    see the module docstring), with bootstrap intervals; with a ``stimuli`` table
    (:data:`~evalkit.study.comparisons.STIMULUS_COLUMNS`), also the mean scale of each (codec,
    level) over the images, with intervals over raters and images."""
    if prior not in PRIORS:
        raise InputError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    table = answers(comparisons, not_sure)
    if table.empty:
        raise InputError("no comparisons to scale (only traps, or only 'not sure' answers dropped)")
    raters, rater_idx = np.unique(table["rater"].astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    rater_draws = _draws(rng, len(raters), n_boot)
    notes, images, fitted, boosted_only = [], {}, {}, []
    for name, group in table.groupby("image", sort=True):
        stimuli_here = sorted(
            set(group["winner"]) | set(group["loser"]), key=lambda s: (s != cmp.REFERENCE, s)
        )
        if stimuli_here[0] != cmp.REFERENCE:
            notes.append(f"image {name}: no comparison with the {cmp.REFERENCE}; not scaled")
            continue
        index = {s: n for n, s in enumerate(stimuli_here)}
        b, w = group["winner"].map(index).to_numpy(), group["loser"].map(index).to_numpy()
        _, labels = sparse.csgraph.connected_components(
            sparse.csr_matrix((np.ones(len(b)), (b, w)), shape=(len(index),) * 2), directed=False
        )
        keep = labels == labels[0]
        if not keep.all():
            lost = [s for s, k in zip(stimuli_here, keep) if not k]
            notes.append(
                f"image {name}: {', '.join(lost)} never linked to the {cmp.REFERENCE} by any "
                "chain of comparisons; not scaled"
            )
            stimuli_here = [s for s, k in zip(stimuli_here, keep) if k]
            index = {s: n for n, s in enumerate(stimuli_here)}
            group = group[group["winner"].isin(index) & group["loser"].isin(index)]
        boosted = group["boosted"].to_numpy(bool)
        modes = {
            mode: (
                group["winner"].map(index).to_numpy()[boosted == mode],
                group["loser"].map(index).to_numpy()[boosted == mode],
            )
            for mode in (False, True)
            if (boosted == mode).any()
        }
        fit_gain = len(modes) == 2
        if True in modes and not fit_gain:
            boosted_only.append(name)
            notes.append(
                f"image {name}: boosted comparisons only; the gain cannot be told from the "
                "scale, so the scale is in boosted units"
            )
        image = _Image(stimuli_here, modes, fit_gain)
        k = len(stimuli_here)
        all_wins = np.bincount(
            group["winner"].map(index) * k + group["loser"].map(index),
            weights=group["weight"],
            minlength=k * k,
        ).reshape(k, k)
        for winner, loser in split_links(all_wins):
            notes.append(
                f"image {name}: {stimuli_here[winner]} was judged better than {stimuli_here[loser]} "
                f"every time ({all_wins[winner, loser]:g}×) and no chain of answers leads back: "
                f"their distance is set by the {prior} prior"
            )
        rows = group.index.to_numpy()
        base = {mode: group["weight"].to_numpy()[boosted == mode] for mode in modes}
        point = _fit(image, base, prior)
        replicates = np.array(
            [
                _fit(
                    image,
                    {mode: base[mode] * draw[rater_idx[rows]][boosted == mode] for mode in modes},
                    prior,
                    start=point,
                )
                for draw in tqdm(
                    rater_draws, desc=f"bootstrap image {name}", unit="fit", disable=not progress
                )
            ]
        ).reshape(n_boot, len(point))
        images[name], fitted[name] = (image, group), (point, replicates)
    if not images:
        raise InputError("no image has comparisons with its reference: nothing to scale")
    tail = (1 - level) / 2
    score_rows, gain_rows = [], []
    for name, (image, group) in images.items():
        point, boot = fitted[name]
        k = len(image.stimuli)
        q = np.r_[0.0, point[: k - 1]]
        qb = np.c_[np.zeros(n_boot), boot[:, : k - 1]]
        lo, hi = np.quantile(qb, [tail, 1 - tail], axis=0) if n_boot else (q, q)
        seen = pd.concat([group["winner"], group["loser"]]).value_counts()
        for n, s in enumerate(image.stimuli):
            score_rows.append((name, s, q[n], lo[n], hi[n], float(seen.get(s, 0))))
        if image.fit_gain:
            g = np.exp(point[-1])
            glo, ghi = np.quantile(np.exp(boot[:, -1]), [tail, 1 - tail]) if n_boot else (g, g)
            counts = group.groupby("boosted")["weight"].sum()
            gain_rows.append((name, g, glo, ghi, float(counts.get(False, 0)), float(counts.get(True, 0))))
    scores = pd.DataFrame(
        score_rows, columns=["image", "stimulus", "scale", "ci_low", "ci_high", "judgements"]
    )
    gains = pd.DataFrame(gain_rows, columns=["image", "gain", "ci_low", "ci_high", "plain", "boosted"])
    levels = _levels(scores, fitted, images, stimuli, rng, n_boot, tail)
    return StimulusScale(scores, gains, levels, notes, not_sure, prior, boosted_only)


def _levels(scores, fitted, images, stimuli, rng, n_boot, tail) -> pd.DataFrame:
    """Mean scale per (codec, level) over the images that have it, with intervals from replicates
    that draw raters (already in each image's replicate fits) and images."""
    columns = ["codec", "level", "scale", "ci_low", "ci_high", "images"]
    if stimuli is None:
        return pd.DataFrame(columns=columns)
    cmp.check_stimuli(stimuli)
    names = list(images)
    image_draws = _draws(rng, len(names), n_boot)
    boot = {}
    for n, name in enumerate(names):  # noqa: B007
        image = images[name][0]
        k = len(image.stimuli)
        point, reps = fitted[name]
        boot[name] = pd.DataFrame(
            np.c_[np.r_[0.0, point[: k - 1]][None, :].T, np.c_[np.zeros(n_boot), reps[:, : k - 1]].T],
            index=image.stimuli,
        )
    table = scores[scores["stimulus"] != cmp.REFERENCE].merge(
        stimuli.astype({cmp.IMAGE: str})[cmp.STIMULUS_COLUMNS],
        left_on=["image", "stimulus"],
        right_on=[cmp.IMAGE, cmp.STIMULUS],
        how="inner",
    )
    rows = []
    for (codec, lvl), group in table.groupby([cmp.CODEC, cmp.LEVEL], sort=True):
        which = [names.index(i) for i in group["image"]]
        values = np.array([boot[i].loc[s].to_numpy() for i, s in zip(group["image"], group["stimulus"])])
        point = values[:, 0].mean()
        if n_boot:
            weights = image_draws[:, which]  # (n_boot, images here)
            total = weights.sum(axis=1)
            reps = np.where(total > 0, (weights * values[:, 1:].T).sum(axis=1) / np.maximum(total, 1), np.nan)
            lo, hi = np.nanquantile(reps, [tail, 1 - tail])
        else:
            lo = hi = point
        rows.append((codec, lvl, point, lo, hi, len(group)))
    return pd.DataFrame(rows, columns=columns)
