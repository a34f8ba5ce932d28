"""Per-stimulus scales anchored at the source, boosted comparisons, "not sure", the distance prior
and the prior notes, on data whose answer is known."""

import numpy as np
import pandas as pd
import pytest
from comparison_fixtures import row, simulate, table
from scipy import special

from evalkit.errors import InputError
from evalkit.study import ranking
from evalkit.study.ranking import JOD_SIGMA
from evalkit.study.stimulus_scale import scale_stimuli


def test_the_boosted_model_recovers_a_planted_gain_and_the_plain_scale():
    comparisons, truth = simulate({"a": 2.5, "b": 1.5})
    result = scale_stimuli(comparisons, prior="none", n_boot=30)
    gains = result.gains.set_index("image")
    for image, planted in (("a", 2.5), ("b", 1.5)):
        assert gains.loc[image, "gain"] == pytest.approx(planted, rel=0.15)
        assert gains.loc[image, "ci_low"] < planted < gains.loc[image, "ci_high"]
    errors = [s.scale - truth[s.image][s.stimulus] for s in result.scores.itertuples()]
    assert np.abs(errors).mean() < 0.2  # JND, plain units
    # Boosted answers treated as plain ones would stretch the scale by about the gain.
    as_plain = scale_stimuli(comparisons.assign(boosted=False), prior="none", n_boot=0).scores
    deepest = as_plain[(as_plain["image"] == "a") & (as_plain["stimulus"] == "l6")]["scale"].item()
    assert deepest < 1.3 * truth["a"]["l6"]


def test_the_scale_is_anchored_at_the_source_with_levels_averaged_over_images():
    comparisons, truth = simulate({"a": 2.0, "b": 2.0, "c": 2.0}, per_rater=40, seed=3)
    stimuli = pd.DataFrame(
        [
            (image, s, "" if s == "reference" else "codec", np.nan if s == "reference" else float(s[1:]), "")
            for image in truth
            for s in truth[image]
        ],
        columns=["image", "stimulus", "codec", "level", "file"],
    )
    result = scale_stimuli(comparisons, stimuli=stimuli, n_boot=20)
    reference = result.scores[result.scores["stimulus"] == "reference"]
    assert (reference[["scale", "ci_low", "ci_high"]].to_numpy() == 0).all()
    others = result.scores[result.scores["stimulus"] != "reference"]
    assert (others["scale"] < 0).all() and (others["ci_low"] <= others["scale"]).all()
    levels = result.levels.set_index("level")
    assert list(levels.index) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and (levels["images"] == 3).all()
    mean_truth = np.mean([truth[i]["l6"] for i in truth])
    assert levels.loc[6.0, "scale"] == pytest.approx(mean_truth, abs=0.4)
    assert levels.loc[6.0, "ci_low"] < levels.loc[6.0, "scale"] < levels.loc[6.0, "ci_high"]


def test_not_sure_split_half_each_way_or_dropped():
    rows = [row(f"r{n}", "x", "reference", "l1", "left") for n in range(8)]
    rows += [row(f"r{n}", "x", "reference", "l1", "right") for n in range(2)]
    rows += [row(f"r{n}", "x", "reference", "l1", "not_sure") for n in range(10)]
    comparisons = table(rows)
    split = scale_stimuli(comparisons, not_sure="split", prior="none", n_boot=0).scores
    dropped = scale_stimuli(comparisons, not_sure="drop", prior="none", n_boot=0).scores
    gap = lambda s: -s.loc[s["stimulus"] == "l1", "scale"].item()
    # 13 of 20 (split) and 8 of 10 (dropped) judged the reference better: Φ⁻¹(p)·σ JND.
    assert gap(split) == pytest.approx(special.ndtri(13 / 20) * JOD_SIGMA, abs=1e-4)
    assert gap(dropped) == pytest.approx(special.ndtri(8 / 10) * JOD_SIGMA, abs=1e-4)
    with pytest.raises(InputError, match="not_sure must be one of split, drop"):
        scale_stimuli(comparisons, not_sure="half")
    only_unsure = table([row("r", "x", "reference", "l1", "not_sure")])
    with pytest.raises(InputError, match="no comparisons to scale"):
        scale_stimuli(only_unsure, not_sure="drop")


def separated_design(seed=0):
    """Two groups of stimuli, each compared within itself 20 times per pair, joined only by one
    pair that one side won 10–0 (true gap 1.4 JND)."""
    rng = np.random.default_rng(seed)
    q = {"reference": 0.0, "l1": -0.4, "l2": -0.9, "l3": -2.3, "l4": -2.8}
    rows = []
    for a, b in [("reference", "l1"), ("l1", "l2"), ("reference", "l2"), ("l3", "l4")]:
        k = rng.binomial(20, special.ndtr((q[a] - q[b]) / JOD_SIGMA))
        rows += [row(f"r{n % 7}", "x", a, b, "left" if n < k else "right") for n in range(20)]
    rows += [row(f"r{n % 7}", "x", "l2", "l3", "left") for n in range(10)]
    return table(rows), q["l2"] - q["l3"]


def test_the_distance_prior_keeps_a_one_sided_link_near_what_the_data_show():
    comparisons, true_gap = separated_design()
    gap = {}
    for prior in ("distance", "normal"):
        result = scale_stimuli(comparisons, prior=prior, n_boot=0)
        s = result.scores.set_index("stimulus")["scale"]
        gap[prior] = s["l2"] - s["l3"]
        assert any(
            "l2 was judged better than l3 every time" in note and prior in note for note in result.notes
        )
    assert gap["normal"] > 3.0  # the N(0, 10²) prior: far beyond the truth
    assert abs(gap["distance"] - true_gap) < 0.6 * abs(gap["normal"] - true_gap)
    assert gap["distance"] < 3.0


def test_prior_notes_only_where_a_split_really_exists():
    # Every pair one-sided, but the wins form a cycle a > b > c > a: the data bound every distance.
    cycle = np.array([[0, 5, 0], [0, 0, 5], [5, 0, 0]], dtype=float)
    assert ranking.split_links(cycle) == []
    # a beat b every time and nothing leads back from b to a: a split.
    chain = np.array([[0, 5, 3], [0, 0, 4], [0, 2, 0]], dtype=float)
    assert ranking.split_links(chain) == [(0, 1), (0, 2)]
    connected = np.array([[0, 6, 9], [4, 0, 7], [1, 3, 0]], dtype=float)
    assert ranking.split_links(connected) == []
