"""Study analysis on data whose answer is known: direct maximum-likelihood fits, and a simulated
crowd with a latent quality per codec, careless raters and a known noise level."""

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import optimize, stats

from evalkit.errors import InputError
from evalkit.study import ranking
from evalkit.study.agreement import rater_agreement
from evalkit.study.analyze import analyze, format_report, write_analysis
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design
from evalkit.study.screening import ScreeningRules

QUALITY = {"jpeg": 0.0, "webp": 0.7, "avif": 1.4, "jxl": 2.0}


def crowd_responses(seed=0, images=12, judgements=6, bpp=(0.5,), **model):
    design = synthetic_design(
        list(QUALITY),
        images=images,
        bpp=list(bpp),
        judgements_per_pair=judgements,
        trials_per_assignment=24,
        seed=seed,
    )
    crowd = Crowd(CrowdModel(QUALITY, seed=seed, **model))
    return simulate_responses(design, crowd), crowd


# --- the fits against a direct maximum-likelihood fit -------------------------------------------

WINS = np.array([[0, 31, 44, 12], [19, 0, 35, 9], [6, 15, 0, 4], [8, 11, 16, 0]], dtype=float)


def direct_fit(wins, log_cdf):
    """Maximise Σ W_ij log F(q_i − q_j) over q with q_0 = 0 by Nelder–Mead (no gradients, no prior)."""
    k = len(wins)
    nll = lambda free: (
        -sum(
            wins[i, j] * log_cdf(np.r_[0, free][i] - np.r_[0, free][j])
            for i, j in itertools.product(range(k), repeat=2)
            if wins[i, j]
        )
    )
    free = optimize.minimize(
        nll, np.zeros(k - 1), method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000}
    ).x
    q = np.r_[0, free]
    return q - q.mean()


def test_thurstone_matches_direct_maximum_likelihood():
    direct = direct_fit(WINS, lambda d: stats.norm.logcdf(d / ranking.JOD_SIGMA))
    assert ranking.thurstone_jod(WINS, prior_sd=1e6) == pytest.approx(direct, abs=1e-4)
    # two codecs: the closed form, and 1 JOD is 75 % preference
    assert np.diff(ranking.thurstone_jod(np.array([[0, 3.0], [9, 0]]), prior_sd=1e6))[0] == pytest.approx(
        ranking.JOD_SIGMA * stats.norm.ppf(0.75), abs=1e-6
    )
    assert ranking.JOD_SIGMA * stats.norm.ppf(0.75) == pytest.approx(1.0)


def test_bradley_terry_by_choix_matches_direct_maximum_likelihood():
    direct = direct_fit(WINS, lambda d: -np.log1p(np.exp(-d * ranking.BT_UNIT)))
    assert ranking.bradley_terry(WINS, prior_sd=1e6) == pytest.approx(direct, abs=1e-4)
    assert np.diff(ranking.bradley_terry(np.array([[0, 1.0], [3, 0]]), prior_sd=1e6))[0] == pytest.approx(
        1.0, abs=1e-6
    )


def test_the_weak_prior_keeps_separated_data_finite_and_barely_moves_real_data():
    assert np.all(np.isfinite(ranking.thurstone_jod(np.array([[0, 20.0], [0, 0]]))))
    assert ranking.thurstone_jod(WINS) == pytest.approx(ranking.thurstone_jod(WINS, prior_sd=1e6), abs=0.01)


# --- a simulated crowd ---------------------------------------------------------------------------


def test_ranking_recovers_the_latent_order_with_both_methods():
    responses, _ = crowd_responses(seed=3, bpp=(0.25, 1.0))
    scores = ranking.rank(responses, n_boot=50).scores
    truth = sorted(QUALITY, key=QUALITY.get, reverse=True)
    for (_, method), group in scores.groupby(["target_bpp", "method"]):
        assert list(group.sort_values("rank")["codec"]) == truth, method
    jod = scores[scores["method"] == "thurstone"].groupby("codec")["score"].mean()
    centred = pd.Series(QUALITY) - np.mean(list(QUALITY.values()))
    assert np.abs(jod - centred[jod.index]).max() < 0.35


def coverage(simulations, n_boot, seed=0, **spread):
    """Share of 95 % Thurstone intervals (one per codec and simulation) covering the true JOD."""
    centred = {c: q - np.mean(list(QUALITY.values())) for c, q in QUALITY.items()}
    hits = []
    for s in range(simulations):
        responses, _ = crowd_responses(seed=1000 + seed + s, careless=0, inverted=0, abandons=0, **spread)
        scores = ranking.rank(responses, n_boot=n_boot, seed=s, methods=("thurstone",)).scores
        hits += [row.ci_low <= centred[row.codec] <= row.ci_high for row in scores.itertuples()]
    return float(np.mean(hits)), len(hits)


def test_intervals_cover_the_truth_quick():
    # Strong image and rater effects: intervals that resampled judgements, or raters alone,
    # would be too narrow here.
    rate, n = coverage(simulations=15, n_boot=150, image_sd=0.8, rater_sd=0.4)
    print(f"coverage of 95 % intervals: {rate:.3f} over {n}")
    assert rate >= 0.85


@pytest.mark.slow
@pytest.mark.parametrize("image_sd, rater_sd", [(0.3, 0.2), (0.8, 0.4)])
def test_intervals_cover_the_truth_at_about_their_nominal_rate(image_sd, rater_sd):
    rate, n = coverage(simulations=100, n_boot=300, seed=50_000, image_sd=image_sd, rater_sd=rater_sd)
    print(f"coverage of 95 % intervals (image_sd {image_sd}, rater_sd {rater_sd}): {rate:.3f} over {n}")
    assert 0.90 <= rate <= 0.98  # measured: 0.963 (0.3, 0.2) and 0.910 (0.8, 0.4) over 400 each


def test_careless_and_inverted_raters_are_the_ones_excluded():
    responses, _ = crowd_responses(seed=5, images=16, careless=0.2, inverted=0.1, abandons=0.1)
    kinds = responses.groupby("rater")["rater_kind"].first()
    result = analyze(responses, n_boot=0)
    excluded = set(result.excluded["rater"])
    bad = set(kinds[kinds.isin(["careless", "inverted"])].index)
    good = set(kinds.index) - bad
    assert bad and bad <= excluded
    assert len(excluded & good) <= 0.1 * len(good)
    reasons = result.raters.set_index("rater")["reasons"]
    assert all("faster than" in reasons[r] for r in kinds[kinds == "careless"].index)
    assert all("sentinel accuracy" in reasons[r] for r in kinds[kinds == "inverted"].index)
    assert result.views["screened"].raters == len(kinds) - len(excluded)
    assert "excluded sim:" in format_report(result)
    everyone = analyze(responses, ScreeningRules(None, None, 0.6, None), n_boot=0)
    assert everyone.excluded.empty and "no rater excluded" in format_report(everyone)
    strict = analyze(responses, ScreeningRules(min_repeat_consistency=1.0), n_boot=0)
    assert any("repeat consistency" in r for r in strict.raters["reasons"])


def test_agreement_and_ceiling_match_the_simulated_noise():
    responses, crowd = crowd_responses(seed=7, images=24, judgements=40, careless=0, inverted=0, abandons=0)
    pairs = ranking.pair_counts(responses)
    truth = np.array([crowd.preference(p.image, p.codec_a, p.codec_b) for p in pairs.itertuples()])
    found = rater_agreement(responses)
    assert found["agreement"] == pytest.approx(np.mean(truth**2 + (1 - truth) ** 2), abs=0.015)
    assert found["ceiling"] == pytest.approx(np.mean(np.maximum(truth, 1 - truth)), abs=0.03)
    assert found["best_possible_on_these_judgements"] > found["ceiling"]


# --- degenerate data -----------------------------------------------------------------------------


def judgements(rows, rater="r1"):
    """Responses from (image, bpp, left, right, chosen) tuples."""
    return pd.DataFrame(
        [
            {
                "rater": rater if isinstance(rater, str) else rater(n),
                "trial": f"t{n}",
                "kind": "pair",
                "image": image,
                "target_bpp": bpp,
                "left_codec": left,
                "right_codec": right,
                "choice": "left" if chosen == left else "right",
                "chosen_codec": chosen,
                "correct": None,
                "repeat_of": None,
                "response_ms": 2000.0,
                "magnifier_ms": 0.0,
            }
            for n, (image, bpp, left, right, chosen) in enumerate(rows)
        ]
    )


def no_nan_anywhere(result):
    for view in result.views.values():
        for table in (view.pairs, view.preferences, view.ranking.scores, view.ranking.gaps):
            assert not table.isna().any().any(), table
        assert all(v is None or v == v for v in view.agreement.values())


def test_a_codec_never_compared_and_a_disconnected_graph_are_reported_not_ranked():
    rows = (
        [("i1", 0.5, "a", "b", "a")] * 6
        + [("i1", 0.5, "a", "b", "b")] * 3
        + [("i2", 0.5, "c", "d", "c")] * 2
        + [("i2", 0.5, "c", "d", "d")]
    )
    result = analyze(
        judgements(rows, rater=lambda n: f"r{n % 3}"), codecs=["a", "b", "c", "d", "e"], n_boot=20
    )
    scores = result.views["all"].ranking.scores
    assert set(scores["codec"]) == {"a", "b"}
    notes = " ".join(result.views["all"].ranking.notes)
    assert "e was never compared" in notes and "c, d compared only among themselves" in notes
    no_nan_anywhere(result)


def test_one_rater_all_one_way_and_all_ties_give_messages_and_no_nan():
    one_way = [("i1", 0.5, "a", "b", "a"), ("i1", 0.5, "b", "a", "a"), ("i2", 0.5, "a", "b", "a")]
    result = analyze(judgements(one_way), n_boot=20)
    view = result.views["all"]
    notes = " ".join(view.ranking.notes)
    assert "a won all 3 comparisons with b" in notes and "one rater" in notes
    assert view.agreement["agreement"] is None and "two raters" in view.agreement["note"]
    no_nan_anywhere(result)
    ties = [
        ("i1", 1.0, "a", "b", "a"),
        ("i1", 1.0, "a", "b", "b"),
        ("i1", 1.0, "b", "c", "b"),
        ("i1", 1.0, "b", "c", "c"),
        ("i1", 1.0, "a", "c", "c"),
        ("i1", 1.0, "a", "c", "a"),
    ]
    result = analyze(judgements(ties, rater=lambda n: f"r{n}"), n_boot=20)
    assert result.views["all"].ranking.scores["score"].abs().max() < 1e-6
    assert (result.views["all"].ranking.gaps["p_value"] > 0.5).all()
    no_nan_anywhere(result)
    assert "n/a" not in format_report(result).split("agreement")[0]


def test_no_responses_is_a_clear_error():
    with pytest.raises(InputError, match="no responses"):
        analyze(judgements([]))


def test_written_tables_and_plots(tmp_path):
    responses, _ = crowd_responses(seed=2, bpp=(0.25, 1.0))
    written = write_analysis(analyze(responses, n_boot=30), tmp_path)
    names = {p.name for p in written}
    for stem in ("ranking", "preferences", "raters", "ranking_all"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
        assert Image.open(tmp_path / f"{stem}.png").size[0] > 300
        assert (tmp_path / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    table = pd.read_csv(tmp_path / "ranking.csv")
    assert set(table["method"]) == {"thurstone", "bradley_terry"} and not table.isna().any().any()
    assert "excluded" in pd.read_csv(tmp_path / "raters.csv").columns
