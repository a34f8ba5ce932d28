"""Active sampling (ASAP's EIG + spanning-tree batches) against the fixed design, on a simulated
crowd whose latent qualities are known.

Both designs get the same study (codecs × images at one bpp, 20 pairs + 2 sentinels + 2 repeats
per assignment) and the same crowd (10 % careless, 5 % inverted, 10 % abandoning raters). At each
budget of pair judgements the answers are screened and ranked exactly as ``evalkit study analyze``
does (``screening.screen``, then ``ranking.rank``: Thurstone JOD with the raters × images
bootstrap), and compared with the truth: RMSE of the centred JOD scores and the share of codecs
whose 95 % interval holds the true score. From the curves averaged over seeds: how many
judgements active sampling needs to reach the RMSE the fixed design has at its full budget.
Then the time to choose one assignment's batch for 10 and 50 conditions.

    .venv/bin/python bench/active_sampling.py [--seeds 8] [--per-pair 10] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.study.active import Candidate, Judgement, PairGraph
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design, synthetic_study
from evalkit.study.ranking import JOD_SIGMA, comparisons, rank, thurstone_jod, win_matrix
from evalkit.study.sampling import ActiveSampler, simulate_active
from evalkit.study.screening import screen

#: Latent JOD of the codecs at one bpp. "close": eight codecs within 4.3 JOD, as at a high rate
#: where most pairs are hard; "spread": ten codecs over 8 JOD, as at a low rate, where JPEG
#: against JPEG XL or a learned codec is a foregone conclusion that a fixed design still pays for.
SCENARIOS = {
    "close": {
        "jpeg": 0.0,
        "jpeg2000": 0.9,
        "webp": 1.3,
        "bpg": 2.4,
        "avif": 2.7,
        "jpegxl": 3.0,
        "learned-a": 4.0,
        "learned-b": 4.3,
    },
    "spread": {
        "jpeg": 0.0,
        "jpeg2000": 2.5,
        "webp": 3.0,
        "bpg": 4.2,
        "avif": 4.6,
        "jpegxl": 5.0,
        "vvc": 5.8,
        "learned-a": 6.6,
        "learned-b": 7.0,
        "learned-c": 8.0,
    },
}
QUALITY: dict[str, float] = {}  # the scenario being run
IMAGES, BPP, PER = 2, 0.5, 20


def kept(responses: pd.DataFrame) -> pd.DataFrame:
    excluded = screen(responses).query("excluded")["rater"]
    return responses[~responses["rater"].isin(excluded)]


def truth() -> np.ndarray:
    t = np.array([QUALITY[c] for c in sorted(QUALITY)])
    return t - t.mean()


def rmse(responses: pd.DataFrame) -> float:
    """RMSE of the Thurstone scores (as the analysis fits them) against the truth."""
    comps = comparisons(kept(responses))
    index = {c: n for n, c in enumerate(sorted(QUALITY))}
    wins = win_matrix(comps["winner"].map(index).to_numpy(), comps["loser"].map(index).to_numpy(), len(index))
    return float(np.sqrt(np.mean((thurstone_jod(wins) - truth()) ** 2)))


def coverage(responses: pd.DataFrame, n_boot: int, seed: int) -> float:
    scores = rank(kept(responses), list(QUALITY), n_boot=n_boot, methods=("thurstone",), seed=seed).scores
    true = dict(zip(sorted(QUALITY), truth()))
    return float(
        np.mean(
            [lo <= true[c] <= hi for c, lo, hi in zip(scores["codec"], scores["ci_low"], scores["ci_high"])]
        )
    )


def expected_rmse(responses: pd.DataFrame) -> float:
    """The RMSE the design's pair counts allow at best: √(trace(F⁺)/k) of the Fisher information
    F of those comparisons at the true scores (centred), i.e. without the noise of the answers.
    It tells how much any choice of pairs can gain in a scenario."""
    comps = comparisons(kept(responses))
    names = sorted(QUALITY)
    index, q = {c: n for n, c in enumerate(names)}, truth()
    fisher = np.zeros((len(names), len(names)))
    for i, j in zip(comps["winner"].map(index), comps["loser"].map(index)):
        z = (q[i] - q[j]) / JOD_SIGMA
        e = np.zeros(len(names))
        e[i], e[j] = 1.0, -1.0
        fisher += (
            stats.norm.pdf(z) ** 2 / (stats.norm.cdf(z) * stats.norm.sf(z)) / JOD_SIGMA**2 * np.outer(e, e)
        )
    return float(np.sqrt(np.trace(np.linalg.pinv(fisher)) / len(names)))


def prefix(responses: pd.DataFrame, judgements: int) -> pd.DataFrame:
    pairs = np.flatnonzero(responses["kind"].to_numpy() == "pair")
    return responses.iloc[: pairs[min(judgements, len(pairs)) - 1] + 1]


def curves(seeds: int, judgements: int, checkpoints: np.ndarray, n_boot: int):
    rows = []
    pairs_per_round = IMAGES * len(QUALITY) * (len(QUALITY) - 1) // 2
    for seed in range(seeds):
        crowd = Crowd(CrowdModel(QUALITY, image_sd=0.0, seed=100 + seed))
        fixed = simulate_responses(
            synthetic_design(
                list(QUALITY),
                IMAGES,
                [BPP],
                -(-judgements // pairs_per_round),
                trials_per_assignment=PER,
                seed=seed,
            ),
            crowd,
        )
        config, pairs, sentinels = synthetic_study(
            list(QUALITY),
            IMAGES,
            [BPP],
            seed=seed,
            sampling="active",
            trials_per_assignment=PER,
            stop_when={"judgements": judgements},
        )
        active = simulate_active(ActiveSampler(config, pairs, sentinels), crowd, judgements, seed=seed)
        for name, answers in (("fixed", fixed), ("active", active)):
            for n in checkpoints:
                rows.append((name, seed, int(n), rmse(prefix(answers, n))))
            rows.append((name, seed, -1, coverage(prefix(answers, judgements), n_boot, seed)))
            rows.append((name, seed, -2, expected_rmse(prefix(answers, judgements))))
        print(
            f"  seed {seed}: RMSE at {judgements} judgements fixed {rows[-len(checkpoints) - 5][3]:.3f}, "
            f"active {rows[-3][3]:.3f} JOD",
            flush=True,
        )
    return pd.DataFrame(rows, columns=["design", "seed", "judgements", "value"])


def needed(curve: pd.Series, target: float) -> float:
    """Judgements at which a (mean) RMSE curve first reaches ``target``, linearly interpolated."""
    n, r = curve.index.to_numpy(), curve.to_numpy()
    below = np.flatnonzero(r <= target)
    if not len(below):
        return float("nan")
    k = below[0]
    if k == 0:
        return float(n[0])
    return float(n[k - 1] + (n[k] - n[k - 1]) * (r[k - 1] - target) / (r[k - 1] - r[k]))


def choice_time(conditions: int, repeats: int = 20) -> float:
    """Median seconds to choose one assignment's batch for one image with ``conditions`` codecs,
    after 10 judgements per condition and with 3 other assignments pending."""
    rng = np.random.default_rng(0)
    names = [f"c{k:02d}" for k in range(conditions)]
    graph = PairGraph([Candidate("img", BPP, a, b) for k, a in enumerate(names) for b in names[k + 1 :]])
    quality = np.linspace(0, 5, conditions)
    judgements = []
    for _ in range(10 * conditions):
        i, j = rng.choice(conditions, 2, replace=False)
        i_wins = rng.random() < 0.5 + 0.5 * np.tanh(quality[i] - quality[j])
        judgements.append(Judgement("img", BPP, names[i if i_wins else j], names[j if i_wins else i]))
    pending = rng.choice(len(graph.candidates), 3 * PER).tolist()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        graph.choose(judgements, pending, PER, rng)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scenario(name: str, args) -> None:
    QUALITY.clear()
    QUALITY.update(SCENARIOS[name])
    pairs = IMAGES * len(QUALITY) * (len(QUALITY) - 1) // 2
    budget = args.per_pair * pairs
    checkpoints = np.unique(np.linspace(budget * 0.3, budget, 15).astype(int))
    print(
        f"\n== {name}: {len(QUALITY)} codecs × {IMAGES} images at {BPP} bpp, {args.seeds} seeds, fixed design "
        f"of {args.per_pair} judgements per pair = {budget}; latent JOD {QUALITY}"
    )
    table = curves(args.seeds, budget, checkpoints, args.bootstrap)
    mean = table[table["judgements"] > 0].groupby(["design", "judgements"])["value"].mean()
    cover = table[table["judgements"] == -1].groupby("design")["value"].mean()
    bound = table[table["judgements"] == -2].groupby("design")["value"].mean()
    target = mean["fixed"].iloc[-1]
    print(" judgements   RMSE fixed   RMSE active   (JOD, mean over seeds)")
    for n in checkpoints:
        print(f" {n:10d}   {mean['fixed'][n]:10.3f}   {mean['active'][n]:11.3f}")
    n_active = needed(mean["active"], target)
    print(
        f"fixed design at {budget} judgements: RMSE {target:.3f} JOD, 95 % interval coverage {cover['fixed']:.0%}"
    )
    print(
        f"active sampling at {budget} judgements: RMSE {mean['active'].iloc[-1]:.3f} JOD, "
        f"95 % interval coverage {cover['active']:.0%}"
    )
    reached = (
        f"active {n_active:.0f} → {1 - n_active / budget:.0%} fewer"
        if np.isfinite(n_active)
        else "active: not within the budget"
    )
    print(
        f"judgements to reach RMSE {target:.3f}: fixed {budget}, {reached} (target ≥ 30 % fewer; "
        f"coverage target ≥ 90 %)"
    )
    print(
        f"RMSE the final pair counts allow at best (Fisher information at the truth): fixed "
        f"{bound['fixed']:.3f}, active {bound['active']:.3f} JOD"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--per-pair", type=int, default=10, help="the fixed design's judgements per pair")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--scenarios", default="close,spread")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 50 bootstrap replicates")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.bootstrap = 2, 50
    for name in args.scenarios.split(","):
        scenario(name, args)
    print()
    for conditions, budget in ((10, 0.05), (50, 0.5)):
        seconds = choice_time(conditions)
        print(
            f"choosing a batch of {PER} for {conditions} conditions: {seconds * 1000:.1f} ms "
            f"(target < {budget * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
