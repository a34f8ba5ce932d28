"""The comparison table and the importers of public studies: small fixtures of each format, with
malformed rows that must give clear errors."""
import numpy as np
import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.study import comparisons as cmp
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design


def own_responses():
    design = synthetic_design(["jpeg", "webp"], images=2, bpp=[0.5, 1.0], judgements_per_pair=2,
                              trials_per_assignment=4, seed=0)
    return simulate_responses(design, Crowd(CrowdModel({"jpeg": 0.0, "webp": 1.0}, seed=0)))


def test_evalkit_responses_become_a_comparison_table():
    r = own_responses()
    table = cmp.from_responses(r, "demo")
    assert list(table.columns) == cmp.COLUMNS + [cmp.PIVOT]
    pairs, sentinels = r[r["kind"] == "pair"], r[r["kind"] == "sentinel"]
    assert len(table) == len(pairs) + len(sentinels)          # repeats are not judgements
    assert table["trap"].sum() == len(sentinels)
    traps = table[table["trap"]]
    assert set(traps["left"]) | set(traps["right"]) == {"faithful", "degraded"}
    assert (traps["expected"] == sentinels["correct"].to_numpy()).all()
    plain = table[~table["trap"]]
    assert (plain["expected"] == "").all() and not table["boosted"].any()
    assert set(plain["left"]) | set(plain["right"]) == {"jpeg@0.5", "webp@0.5", "jpeg@1", "webp@1"}
    # the side answered names the codec the rater chose
    chosen = np.where(plain["answer"] == "left", plain["left"], plain["right"])
    assert list(chosen) == [f"{c}@{b:g}" for c, b in zip(pairs["chosen_codec"], pairs["target_bpp"])]
    assert table["response_time_s"].to_numpy() == pytest.approx(
        r.loc[r["kind"] != "repeat", "response_ms"].to_numpy() / 1000)
    stimuli = cmp.stimuli_from_responses(r)
    assert list(stimuli.columns) == cmp.STIMULUS_COLUMNS
    assert sorted(stimuli.loc[stimuli["image"] == "img000", "stimulus"]) == [
        "jpeg@0.5", "jpeg@1", "reference", "webp@0.5", "webp@1"]


def test_abandoned_answers_are_left_out():
    r = own_responses().assign(abandoned=False)
    r.loc[r.index[0], "abandoned"] = True
    assert len(cmp.from_responses(r, "demo")) == len(cmp.from_responses(r.iloc[1:], "demo"))


def valid_table():
    return pd.DataFrame({"rater": ["w1", "w2"], "image": ["2", "2"], "left": ["reference", "c1-l3"],
                         "right": ["c1-l10", "c1-l4"], "answer": ["left", "not_sure"],
                         "boosted": [False, True], "trap": [True, False], "expected": ["left", ""],
                         "response_time_s": [1.5, np.nan], "condition": ["PTC", "BTC"]})


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="answer"), "lacks column(s) answer"),
    (lambda t: t.assign(answer=["left", "skip"]), "'answer' must hold one of left, right, not_sure; row 1"),
    (lambda t: t.assign(trap=[1, 0]), "'trap' must be bool"),
    (lambda t: t.assign(expected=["", ""]), "'expected' must hold 'left' or 'right' on a trap row; row 0"),
    (lambda t: t.assign(expected=["left", "right"]), "'' on a row that is not a trap; row 1"),
    (lambda t: t.assign(rater=["w1", None]), "'rater' must hold non-empty strings; row 1"),
    (lambda t: t.assign(image=["2", 2]), "'image' must hold non-empty strings; row 1"),
    (lambda t: t.assign(response_time_s=["1", "2"]), "'response_time_s' must be float seconds"),
    (lambda t: t.assign(response_time_s=[1.0, -2.0]), "seconds ≥ 0"),
    (lambda t: t.assign(right=["reference", "c1-l4"]), "other than the row's left one; row 0"),
])
def test_a_table_that_does_not_fit_is_refused_naming_the_column(change, message):
    assert cmp.check_comparisons(valid_table()) is not None
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cmp.check_comparisons(change(valid_table()))


def test_a_stimuli_table_lists_each_stimulus_once():
    stimuli = pd.DataFrame({"image": ["2", "2"], "stimulus": ["c1-l3", "c1-l3"], "codec": ["1", "1"],
                            "level": [3.0, 3.0], "file": ["a.png", "a.png"]})
    with pytest.raises(InputError, match="lists stimulus 'c1-l3' of image '2' twice"):
        cmp.check_stimuli(stimuli)
    cmp.check_stimuli(stimuli.iloc[:1])
