"""Observer outliers and screening on data whose answer is known: pwcmp's ``pw_outlier_analysis``
reproduced on a worked example, MATLAB's type-5 quartiles, a likelihood that does not depend on
repeats, an absolute floor that still works when many raters are bad, trap screening and the
not-sure rules."""

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.study import comparisons as cmp
from evalkit.study import outliers, ranking, screening
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design

# The worked example: 7 observers × 2 scenes × 4 conditions, in pwcmp's layout (one row per
# observer, the 4×4 comparison matrix M(:)' in column order: M(i, j) = times i was preferred to j).
# Odd observers saw each pair 4 times, even ones twice; observer 7 answers the other way round.
SCENE_1 = [
    [0, 3, 1, 4, 1, 0, 1, 4, 3, 3, 0, 3, 0, 0, 1, 0],
    [0, 1, 2, 2, 1, 0, 2, 1, 0, 0, 0, 1, 0, 1, 1, 0],
    [0, 3, 2, 4, 1, 0, 3, 4, 2, 1, 0, 3, 0, 0, 1, 0],
    [0, 2, 2, 1, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 2, 0],
    [0, 1, 3, 4, 3, 0, 3, 4, 1, 1, 0, 1, 0, 0, 3, 0],
    [0, 1, 2, 2, 1, 0, 1, 1, 0, 1, 0, 0, 0, 1, 2, 0],
    [0, 0, 1, 0, 4, 0, 0, 1, 3, 4, 0, 2, 4, 3, 2, 0],
]
SCENE_2 = [
    [0, 3, 4, 3, 1, 0, 3, 3, 0, 1, 0, 2, 1, 1, 2, 0],
    [0, 2, 1, 2, 0, 0, 1, 2, 1, 1, 0, 1, 0, 0, 1, 0],
    [0, 4, 4, 3, 0, 0, 2, 2, 0, 2, 0, 3, 1, 2, 1, 0],
    [0, 2, 2, 2, 0, 0, 1, 1, 0, 1, 0, 2, 0, 1, 0, 0],
    [0, 4, 3, 3, 0, 0, 1, 4, 1, 3, 0, 3, 1, 0, 1, 0],
    [0, 1, 2, 2, 1, 0, 2, 2, 0, 0, 0, 1, 0, 0, 1, 0],
    [0, 2, 2, 1, 2, 0, 0, 1, 2, 4, 0, 0, 3, 3, 4, 0],
]
# [L, dist_L] = pw_outlier_analysis({SCENE_1, SCENE_2}) of pwcmp (github.com/mantiuk/pwcmp, HEAD
# of 2024) under GNU Octave 7.3 with the statistics package, pw_scale's option 'prior' set to
# 'none' (so that the scale is plain maximum likelihood, as thurstone_jod without its prior) and
# fminunc's tolerances at 1e-12.
PWCMP_L = [
    -0.6437895481,
    -0.3495377607,
    -0.5316334044,
    -0.4089791647,
    -0.6214294361,
    -0.4207784053,
    -1.6506172242,
]
PWCMP_DIST_L = [0.0247050626, 0, 0, 0, 0, 0, 4.4743680768]


def worked_example(repeat_rater: str | None = None, times: int = 1) -> pd.DataFrame:
    rows = []
    for scene, matrix in enumerate((SCENE_1, SCENE_2)):
        for observer, flat in enumerate(matrix, start=1):
            m = np.reshape(flat, (4, 4), order="F")
            copies = times if f"o{observer}" == repeat_rater else 1
            for i, j in zip(*np.nonzero(m)):
                rows += [(f"o{observer}", scene, f"c{i}", f"c{j}", 1.0)] * int(m[i, j]) * copies
    return pd.DataFrame(rows, columns=["rater", "scene", "winner", "loser", "weight"])


def plain_ml(wins):
    return ranking.thurstone_jod(wins, prior_sd=1e6)


def test_pwcmp_outlier_analysis_is_reproduced_on_a_worked_example():
    likelihoods = outliers.observer_likelihoods(worked_example(), "pwcmp", scale=plain_ml)
    table = outliers.flag(likelihoods, floor=None).set_index("rater").loc[[f"o{k}" for k in range(1, 8)]]
    assert table["log_likelihood"].to_numpy() == pytest.approx(PWCMP_L, abs=2e-5)
    assert table["outlier_score"].to_numpy() == pytest.approx(PWCMP_DIST_L, abs=2e-4)
    assert list(table.index[table["outlier"]]) == ["o7"]


def test_quartiles_are_matlabs_type_5():
    # Octave/MATLAB: quantile([1 2 3 4 10], 0.25) = 1.75, iqr([1 2 3 4 10]) = 3.75
    assert outliers.quartiles([1, 2, 3, 4, 10]) == pytest.approx((1.75, 5.5))
    assert np.quantile([1, 2, 3, 4, 10], 0.25) == 2.0  # numpy's default (type 7) differs


def test_the_bernoulli_likelihood_does_not_depend_on_repeats():
    once = outliers.observer_likelihoods(worked_example()).set_index("rater")
    thrice = outliers.observer_likelihoods(worked_example("o3", times=3)).set_index("rater")
    assert thrice.loc["o3", "judgements"] == 3 * once.loc["o3", "judgements"]
    assert thrice.loc["o3", "log_likelihood"] == pytest.approx(once.loc["o3", "log_likelihood"], abs=1e-9)
    assert thrice.loc["o3", "skill"] == pytest.approx(once.loc["o3", "skill"], abs=1e-9)
    binomial_once = outliers.observer_likelihoods(worked_example(), "pwcmp").set_index("rater")
    binomial_thrice = outliers.observer_likelihoods(worked_example("o3", times=3), "pwcmp").set_index("rater")
    assert binomial_thrice.loc["o3", "log_likelihood"] < binomial_once.loc["o3", "log_likelihood"] - 0.1


def test_the_absolute_floor_flags_careless_raters_when_almost_half_are():
    codecs = {"a": 0.0, "b": 0.6, "c": 1.2, "d": 1.8, "e": 2.4}
    design = synthetic_design(
        list(codecs), images=4, bpp=[0.5], judgements_per_pair=8, trials_per_assignment=20, seed=1
    )
    rng = np.random.default_rng(1)
    kinds = np.where(rng.random(len(design.assignments)) < 0.45, "careless", "attentive").tolist()
    responses = simulate_responses(design, Crowd(CrowdModel(codecs, seed=1)), kinds)
    kind = responses.groupby("rater")["rater_kind"].first()
    table = outliers.outlier_scores(responses).set_index("rater")
    careless = kind[table.index] == "careless"
    assert careless.mean() > 0.4
    assert not (table["outlier_score"] > outliers.OUTLIER_THRESHOLD).any()  # the crowd-relative cut-off: none
    assert table.loc[careless, "outlier"].mean() >= 0.7  # the floor: most careless
    assert not table.loc[~careless, "outlier"].any()
    relative_only = outliers.outlier_scores(responses, floor=None)
    assert not relative_only["outlier"].any()


def comparison_table():
    """Two images, four stimuli, six raters; r6 answers the other way round and misses traps."""
    rng = np.random.default_rng(3)
    quality = {"reference": 3.0, "s1": 2.0, "s2": 1.0, "s3": 0.0}
    rows = []
    for rater in [f"r{k}" for k in range(1, 7)]:
        for image in ("1", "2"):
            for left, right in [
                ("reference", "s1"),
                ("s1", "s2"),
                ("s2", "s3"),
                ("s1", "s3"),
                ("reference", "s3"),
            ] * 3:
                p = 1 / (1 + np.exp(-(quality[left] - quality[right]) * 1.1))
                left_better = rng.random() < p
                if rater == "r6":
                    left_better = not left_better
                answer = "not_sure" if rng.random() < 0.1 else ("left" if left_better else "right")
                rows.append((rater, image, left, right, answer, False, False, "", 2.0, "X"))
            trap_answer = "right" if rater == "r6" else "left"
            rows.append((rater, image, "reference", "s3", trap_answer, False, True, "left", 1.0, "X"))
    return pd.DataFrame(rows, columns=cmp.COLUMNS)


def test_imported_comparisons_are_screened_by_traps_and_by_outliers():
    table = comparison_table()
    traps = screening.trap_screening(table).set_index("rater")
    assert traps.loc["r6", "excluded"] and traps.loc["r6", "trap_accuracy"] == 0
    assert not traps.drop("r6")["excluded"].any() and (traps["traps"] == 2).all()
    found = outliers.comparison_outliers(table).set_index("rater")
    assert found.loc["r6", "outlier"] and found["outlier_score"].idxmax() == "r6"
    assert found.loc["r6", "skill"] < 0 < found.drop("r6")["skill"].min()
    # half a not-sure each way, or none: the judgements counted differ by the not-sure answers
    unsure = ((table["answer"] == "not_sure") & ~table["trap"]).groupby(table["rater"]).sum()
    dropped = outliers.comparison_outliers(table, not_sure="drop").set_index("rater")
    assert (found["judgements"] - dropped["judgements"]).sort_index().to_numpy() == pytest.approx(
        unsure.sort_index().to_numpy()
    )
    with pytest.raises(InputError, match="whole judgements"):
        outliers.comparison_outliers(table, likelihood="pwcmp")


def test_not_sure_counts_half_a_win_each_way_or_none():
    table = pd.DataFrame(
        {
            "rater": ["a", "b", "c"],
            "image": "1",
            "left": "x",
            "right": "y",
            "answer": ["left", "not_sure", "right"],
            "boosted": False,
            "trap": False,
            "expected": "",
            "response_time_s": np.nan,
            "condition": "X",
        }
    )
    split = cmp.judgements(table, "split")
    assert list(zip(split["rater"], split["winner"], split["weight"])) == [
        ("a", "x", 1.0),
        ("b", "x", 0.5),
        ("b", "y", 0.5),
        ("c", "y", 1.0),
    ]
    assert list(cmp.judgements(table, "drop")["rater"]) == ["a", "c"]
    with pytest.raises(InputError, match="not_sure must be one of split, drop"):
        cmp.judgements(table, "half")


def test_screening_an_imported_table_gives_reasons_and_shares():
    table = comparison_table()
    screened = screening.screen_comparisons(table).set_index("rater")
    assert screened.loc["r6", "excluded"]
    assert (
        "trap accuracy 0% < 80%" in screened.loc["r6", "reasons"]
        and "outlier" in screened.loc["r6", "reasons"]
    )
    assert not screened.drop("r6")["excluded"].any()
    assert (
        screening.screen_comparisons(table, min_trap_accuracy=None)
        .loc[lambda d: d["rater"] == "r6", "reasons"]
        .str.startswith("outlier")
        .all()
    )
    shares = screening.screening_summary(screened.reset_index()).set_index("condition")
    assert shares.loc["all", "raters"] == 6 and shares.loc["all", "either"] == pytest.approx(1 / 6)
