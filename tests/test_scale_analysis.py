"""Metrics benchmarked against people on a comparison table, the per-condition scale analysis,
its report section and ``evalkit study scale``, on simulated raters whose scale is known."""

import numpy as np
import pytest
from comparison_fixtures import simulate, stimuli_table

from evalkit.errors import InputError
from evalkit.report.study_sections import study_sections
from evalkit.study.benchmark import benchmark, judgement_pairs
from evalkit.study.scale_analysis import analyze_scale, closing_note, write_scale_analysis
from evalkit.study.stimulus_scale import scale_stimuli


@pytest.fixture(scope="module")
def study():
    comparisons, truth = simulate({"a": 2.0, "b": 2.0, "c": 2.0}, raters=12, per_rater=60, seed=5)
    return comparisons, stimuli_table(truth)


def test_a_metric_that_follows_people_beats_one_that_does_not_and_stays_under_the_ceiling(study):
    comparisons, stimuli = study
    plain = comparisons[~comparisons["boosted"]]
    scale = scale_stimuli(plain, n_boot=0).scores
    result = benchmark(plain, stimuli, ["good", "noise"], scale=scale, n_boot=200)
    scores = result.scores.set_index("candidate")
    assert scores.index[0] in ("good", "good + noise")
    assert scores.loc["good", "2afc"] > scores.loc["noise", "2afc"] + 0.1
    assert scores.loc["good", "accuracy"] > 0.9 and scores.loc["noise", "accuracy"] < 0.75
    assert (
        scores.loc["good", "srocc"] > 0.85
        and scores.loc["good", "srocc"] > scores.loc["noise", "srocc"] + 0.3
    )
    ceiling = result.agreement["ceiling"]
    assert scores.loc["good", "2afc"] <= ceiling + 0.02
    assert scores.loc["good", "2afc_low"] < scores.loc["good", "2afc"] < scores.loc["good", "2afc_high"]
    pairs, left_out = judgement_pairs(plain, stimuli, ["good"])
    assert left_out > 0 and not (pairs["a"] == "reference").any()  # the source has no values
    with pytest.raises(InputError, match="no column vmaf"):
        benchmark(plain, stimuli, ["vmaf"])
    with pytest.raises(InputError, match="at least two source images"):
        benchmark(plain[plain["image"] == "a"], stimuli, ["good"])


def test_the_analysis_is_written_for_the_report_with_a_closing_note(study, tmp_path):
    comparisons, stimuli = study
    comparisons = comparisons.assign(condition=np.where(comparisons["boosted"], "BTC", "PTC"))
    excluded = {"r0"}
    result = analyze_scale(
        comparisons, stimuli, ["good", "noise"], excluded=excluded, n_boot=5, n_hypotheses=200
    )
    assert list(result.conditions) == ["BTC", "PTC", "together"]
    note = closing_note(result).set_index("condition")
    assert note.loc["together", "screened_share"] == pytest.approx(1 / 12)
    assert note.loc["together", "boost_gain"] == pytest.approx(2.0, rel=0.25)
    assert np.isnan(note.loc["PTC", "boost_gain"])  # plain comparisons only: no gain
    assert note.loc["BTC", "boost_gain"] == pytest.approx(2.0, rel=0.35)  # its scale against PTC's
    assert note.loc["PTC", "2afc good"] > note.loc["PTC", "2afc noise"]
    links = result.conditions["PTC"].links
    assert {"2afc_probit", "2afc_linear", "inliers_probit", "inliers_linear"} <= set(links.columns)
    analysis = tmp_path / "analysis"
    written = write_scale_analysis(result, analysis)
    assert (analysis / "scale_together.png").is_file() and (analysis / "benchmark_PTC.png").is_file()
    assert (analysis / "scale_report.txt").read_text().count("boost gain") >= 3
    files = tmp_path / "files"
    files.mkdir()
    sections = {s["id"]: s for s in study_sections(tmp_path, files)}
    assert {"study-scale", "study-benchmark"} <= set(sections)
    assert any(t["name"] == "closing_note" for t in sections["study-benchmark"]["tables"])
    assert len(written) > 10


def test_cli_scale_screens_scales_and_writes_the_analysis(tmp_path, capsys):
    from evalkit.cli import main

    comparisons, truth = simulate({"a": 2.0, "b": 2.0}, raters=6, per_rater=40, seed=7)
    comparisons.to_csv(tmp_path / "comparisons.csv", index=False)
    stimuli_table(truth).to_csv(tmp_path / "stimuli.csv", index=False)
    assert main(["study", "scale", str(tmp_path), "--bootstrap", "3", "--hypotheses", "100", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "screening: 0 rater(s) failed the traps" in printed and "boost gain" in printed
    assert "good" in printed and "noise" in printed  # every numeric column benchmarked
    assert (tmp_path / "analysis" / "raters_screening.csv").is_file()
    assert main(["study", "scale", str(tmp_path / "nowhere")]) == 2
