"""The comparison table and the importers of public studies: small fixtures of each format, with
malformed rows that must give clear errors."""

import numpy as np
import pandas as pd
import pytest
from needs import unavailable

from evalkit.errors import InputError
from evalkit.study import comparisons as cmp
from evalkit.study.crowd import Crowd, CrowdModel, simulate_responses, synthetic_design


def own_responses():
    design = synthetic_design(
        ["jpeg", "webp"], images=2, bpp=[0.5, 1.0], judgements_per_pair=2, trials_per_assignment=4, seed=0
    )
    return simulate_responses(design, Crowd(CrowdModel({"jpeg": 0.0, "webp": 1.0}, seed=0)))


def test_evalkit_responses_become_a_comparison_table():
    r = own_responses()
    table = cmp.from_responses(r, "demo")
    assert list(table.columns) == cmp.COLUMNS + [cmp.PIVOT]
    pairs, sentinels = r[r["kind"] == "pair"], r[r["kind"] == "sentinel"]
    assert len(table) == len(pairs) + len(sentinels)  # repeats are not judgements
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
        r.loc[r["kind"] != "repeat", "response_ms"].to_numpy() / 1000
    )
    stimuli = cmp.stimuli_from_responses(r)
    assert list(stimuli.columns) == cmp.STIMULUS_COLUMNS
    assert sorted(stimuli.loc[stimuli["image"] == "img000", "stimulus"]) == [
        "jpeg@0.5",
        "jpeg@1",
        "reference",
        "webp@0.5",
        "webp@1",
    ]


def test_abandoned_answers_are_left_out():
    r = own_responses().assign(abandoned=False)
    r.loc[r.index[0], "abandoned"] = True
    assert len(cmp.from_responses(r, "demo")) == len(cmp.from_responses(r.iloc[1:], "demo"))


def valid_table():
    return pd.DataFrame(
        {
            "rater": ["w1", "w2"],
            "image": ["2", "2"],
            "left": ["reference", "c1-l3"],
            "right": ["c1-l10", "c1-l4"],
            "answer": ["left", "not_sure"],
            "boosted": [False, True],
            "trap": [True, False],
            "expected": ["left", ""],
            "response_time_s": [1.5, np.nan],
            "condition": ["PTC", "BTC"],
        }
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="answer"), "lacks column(s) answer"),
        (
            lambda t: t.assign(answer=["left", "skip"]),
            "'answer' must hold one of left, right, not_sure; row 1",
        ),
        (lambda t: t.assign(trap=[1, 0]), "'trap' must be bool"),
        (
            lambda t: t.assign(expected=["", ""]),
            "'expected' must hold 'left' or 'right' on a trap row; row 0",
        ),
        (lambda t: t.assign(expected=["left", "right"]), "'' on a row that is not a trap; row 1"),
        (lambda t: t.assign(rater=["w1", None]), "'rater' must hold non-empty strings; row 1"),
        (lambda t: t.assign(image=["2", 2]), "'image' must hold non-empty strings; row 1"),
        (lambda t: t.assign(response_time_s=["1", "2"]), "'response_time_s' must be float seconds"),
        (lambda t: t.assign(response_time_s=[1.0, -2.0]), "seconds ≥ 0"),
        (lambda t: t.assign(right=["reference", "c1-l4"]), "other than the row's left one; row 0"),
    ],
)
def test_a_table_that_does_not_fit_is_refused_naming_the_column(change, message):
    assert cmp.check_comparisons(valid_table()) is not None
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cmp.check_comparisons(change(valid_table()))


def test_a_stimuli_table_lists_each_stimulus_once():
    stimuli = pd.DataFrame(
        {
            "image": ["2", "2"],
            "stimulus": ["c1-l3", "c1-l3"],
            "codec": ["1", "1"],
            "level": [3.0, 3.0],
            "file": ["a.png", "a.png"],
        }
    )
    with pytest.raises(InputError, match="lists stimulus 'c1-l3' of image '2' twice"):
        cmp.check_stimuli(stimuli)
    cmp.check_stimuli(stimuli.iloc[:1])


# --- AIC-3 ----------------------------------------------------------------------------------------

from evalkit.cli import main  # noqa: E402
from evalkit.study import imports  # noqa: E402

AIC3_HEADER = (
    "assignment,worker,method,task,question_id,img_num,codec_left,codec_right,codec_pivot,dlevel_left,"
    "dlevel_right,dlevel_pivot,img_left,img_right,img_pivot,is_same,is_cross,is_bias,is_trap,"
    "question_order,response,submission_time,response_time,reload_count,toggle_count,resolution"
)


def aic3_row(worker=11, method="PTC", image=2, left=(6, 3), right=(6, 7), trap=0, response="right", ms=2500):
    name = lambda c, l: (
        f"{method}_{image:05d}_0ref_00.png"
        if c == 0
        else f"{method}_{image:05d}_{['', 'AVIF', 'JPEG-1', 'JPEG-2000', 'JPEG-XL', 'VVC', 'JPEG-AI'][c]}_{l:02d}.png"
    )
    return (
        f"a1,{worker},{method},1,7,{image},{left[0]},{right[0]},0,{left[1]},{right[1]},0,{name(*left)},"
        f"{name(*right)},{name(0, 0)},1,0,0,{trap},1,{response},2024-12-10T15:51:28.255Z,{ms},0,1,1920x1080"
    )


AIC3_ROWS = [
    aic3_row(response="right"),  # right (level 7) named worse
    aic3_row(worker=12, response="left"),  # left (level 3) named worse
    aic3_row(worker=12, response="notsure"),
    aic3_row(worker=13, response="skip"),
    aic3_row(worker=13, left=(6, 8), right=(6, 8), response="left"),  # bias check: one stimulus twice
    aic3_row(worker=13, left=(0, 0), right=(6, 10), trap=1, response="right", ms=30000),
    aic3_row(worker=13, image=10, left=(1, 2), right=(3, 5), response="left"),
]


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_aic3_triplets_become_comparisons_of_the_better_side(tmp_path):
    ptc = write(tmp_path / "ptc.csv", [AIC3_HEADER, *AIC3_ROWS])
    btc = write(
        tmp_path / "btc.csv",
        [
            AIC3_HEADER.replace(",toggle_count", ""),
            aic3_row(method="BTC", response="left").replace(",0,1,1920", ",0,1920"),
        ],
    )
    result = imports.read_aic3([ptc, btc])
    c = result.comparisons
    assert list(c["rater"]) == ["PTC-11", "PTC-12", "PTC-12", "PTC-13", "PTC-13", "BTC-11"]
    # the worker names the side that differs more from the pivot; the table names the better side
    assert list(c["answer"]) == ["left", "right", "not_sure", "left", "right", "right"]
    assert list(c["left"][:1]) == ["c6-l3"] and list(c["right"][:1]) == ["c6-l7"]
    trap = c[c["trap"]].iloc[0]
    assert (trap["left"], trap["right"], trap["expected"], trap["answer"]) == (
        "reference",
        "c6-l10",
        "left",
        "left",
    )
    assert trap["response_time_s"] == pytest.approx(30.0)
    assert list(c["boosted"]) == [False] * 5 + [True]
    assert set(c["pivot"]) == {"reference"} and list(c["condition"]) == ["PTC"] * 5 + ["BTC"]
    assert result.skipped == {"PTC": {"skip": 1, "same stimulus on both sides (bias check)": 1}}
    summary = result.summary()
    assert (
        summary["PTC"]["answers"] == 5 and summary["PTC"]["not_sure"] == 1 and summary["BTC"]["answers"] == 1
    )
    s = result.stimuli.set_index(["image", "stimulus"])
    assert s.loc[("2", "c6-l7"), "file"] == "PTC_00002_JPEG-AI_07.png"  # BTC's boosted file's plain name
    assert s.loc[("10", "c3-l5"), ["codec", "level"]].tolist() == ["JPEG-2000", 5.0]
    assert s.loc[("2", "reference"), "codec"] == ""


@pytest.mark.parametrize(
    "row, line, column, message",
    [
        (aic3_row(response="maybe"), 3, "response", "'maybe' is not left, right, notsure or skip"),
        (aic3_row(method="XYZ"), 3, "method", "is not PTC or BTC"),
        (aic3_row().replace(",6,6,0,3,7,0,", ",6,6,0,x,7,0,"), 3, "dlevel_left", "is not a whole number"),
        (aic3_row(left=(0, 4)), 3, "dlevel_left", "0 exactly where the codec is 0"),
        (aic3_row(trap=2), 3, "is_trap", "a whole number from 0 to 1"),
        (aic3_row(ms=-5), 3, "response_time", "a time ≥ 0"),
        (aic3_row(left=(6, 8), right=(5, 8), trap=1), 3, "is_trap", "equally distorted"),
    ],
)
def test_a_malformed_aic3_row_names_file_line_and_column(tmp_path, row, line, column, message):
    path = write(tmp_path / "bad.csv", [AIC3_HEADER, AIC3_ROWS[0], row])
    with pytest.raises(InputError) as error:
        imports.read_aic3(path)
    text = str(error.value)
    assert text.startswith(f"{path}, line {line}, column {column!r}: ") and message in text


def test_aic3_files_that_are_not_the_format_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"column\(s\) response, response_time missing"):
        imports.read_aic3(
            write(
                tmp_path / "a.csv",
                [AIC3_HEADER.replace(",response,", ",answer,").replace("response_time", "rt"), AIC3_ROWS[0]],
            )
        )
    with pytest.raises(
        InputError, match=r"b.csv: not a readable CSV file .*Expected 26 fields in line 3, saw 27"
    ):
        imports.read_aic3(write(tmp_path / "b.csv", [AIC3_HEADER, AIC3_ROWS[0], AIC3_ROWS[1] + ",extra"]))
    with pytest.raises(InputError, match="no such file"):
        imports.read_aic3(tmp_path / "missing.csv")


# --- CLIC and any CSV -----------------------------------------------------------------------------

CLIC = [
    "methodA,methodB,originalName,answerValue",
    "hific,bpg,img1.png,0",
    "bpg,hific,img1.png,0",
    "hific,jpeg,img2.png,1",
]


def test_clic_answers_name_the_preferred_method(tmp_path):
    result = imports.read_clic(write(tmp_path / "clic2022.csv", CLIC))
    c = result.comparisons
    winners = np.where(c["answer"] == "left", c["left"], c["right"])
    assert list(winners) == ["hific", "bpg", "jpeg"]
    assert set(c["rater"]) == {"clic"} and set(c["condition"]) == {"clic2022"} and not c["trap"].any()
    assert sorted(result.stimuli["stimulus"]) == ["bpg", "hific", "hific", "jpeg"]
    with pytest.raises(
        InputError, match=r"bad.csv, line 3, column 'answerValue': '2' is not an answer value \(0, 1\)"
    ):
        imports.read_clic(write(tmp_path / "bad.csv", [*CLIC[:2], "hific,bpg,img1.png,2"]))
    with pytest.raises(InputError, match=r"line 2, column 'methodB': '' is not a non-empty name"):
        imports.read_clic(write(tmp_path / "bad2.csv", [CLIC[0], "hific,,img1.png,1"]))


GENERIC = [
    "who,content,a,b,says,check,truth,ms",
    "r1,cat,jpeg,webp,B,0,,1200",
    "r1,cat,webp,jpeg,?,0,,800",
    "r2,cat,ref,jpeg,B,1,B,400",
    "r2,dog,jpeg,webp,x,0,,",
]
MAPPING = imports.ColumnMapping(
    rater="who",
    image="content",
    left="a",
    right="b",
    answer="says",
    answers={"A": "left", "B": "right", "?": "not_sure", "x": "skip"},
    answer_names="worse",
    trap="check",
    expected="truth",
    response_time="ms",
    time_unit_s=1e-3,
)


def test_a_mapped_csv_reads_answers_traps_and_times(tmp_path):
    result = imports.read_csv_mapped(write(tmp_path / "any.csv", GENERIC), MAPPING)
    c = result.comparisons
    assert list(c["answer"]) == ["left", "not_sure", "left"]  # answers named the worse side
    assert list(c["trap"]) == [False, False, True] and list(c["expected"]) == ["", "", "left"]
    assert c["response_time_s"].tolist() == pytest.approx([1.2, 0.8, 0.4])
    assert result.skipped == {"any": {"skip": 1}}
    parsed = imports.ColumnMapping.parse(
        [
            "rater=who",
            "image=content",
            "left=a",
            "right=b",
            "answer=says",
            "trap=check",
            "expected=truth",
            "response_time=ms",
        ],
        ["A=left", "B=right", "?=not_sure", "x=skip"],
        answer_names="worse",
        time_unit_s=1e-3,
    )
    assert parsed == MAPPING


@pytest.mark.parametrize(
    "words, answers, message",
    [
        (["rater=who", "image=content"], [], "must name the CSV column of left, right, answer"),
        (
            ["rater=who", "image=content", "left=a", "right=b", "answer=says", "colour=c"],
            [],
            "unknown column",
        ),
        (["rater=who", "image=content", "left=a", "right=b", "answer=says"], ["A=best"], "not best"),
        (["rater", "image=content"], [], "'rater' is not NAME=VALUE"),
    ],
)
def test_a_bad_column_mapping_is_refused(words, answers, message):
    with pytest.raises(InputError, match=message):
        imports.ColumnMapping.parse(words, answers)


def test_a_malformed_mapped_row_names_its_line(tmp_path):
    rows = [*GENERIC[:3], "r2,cat,ref,jpeg,B,yes,B,400"]
    with pytest.raises(InputError, match=r"line 4, column 'check': 'yes' is not 0, 1, true or false"):
        imports.read_csv_mapped(write(tmp_path / "any.csv", rows), MAPPING)
    rows = [*GENERIC[:3], "r2,cat,ref,jpeg,B,1,,400"]
    with pytest.raises(InputError, match=r"line 4, column 'truth': '' is not the right answer of a trap"):
        imports.read_csv_mapped(write(tmp_path / "any.csv", rows), MAPPING)


# --- metric tables, files, the command ------------------------------------------------------------


def test_metric_tables_join_by_file_name_or_stimulus(tmp_path):
    result = imports.read_aic3(write(tmp_path / "ptc.csv", [AIC3_HEADER, *AIC3_ROWS]))
    metrics = pd.DataFrame(
        {
            "img_distorted": ["PTC_00002_JPEG-AI_03.png", "PTC_00002_JPEG-AI_07.png"],
            "codec": [6, 6],
            "PSNR-Y": [40.0, 33.0],
        }
    )
    joined = imports.join_metrics(result.stimuli, metrics, key="img_distorted").set_index(
        ["image", "stimulus"]
    )
    assert joined.loc[("2", "c6-l7"), "PSNR-Y"] == 33.0 and np.isnan(joined.loc[("2", "reference"), "PSNR-Y"])
    assert joined.loc[("2", "c6-l7"), "codec"] == "JPEG-AI"  # the stimuli's own codec column kept
    by_id = imports.join_metrics(
        result.stimuli, pd.DataFrame({"image": [2], "stimulus": ["c6-l3"], "lpips": [0.1]}), on="stimulus"
    )
    assert by_id.set_index("stimulus").loc["c6-l3", "lpips"] == 0.1
    with pytest.raises(InputError, match="two rows for 'PTC_00002_JPEG-AI_03.png'"):
        imports.join_metrics(result.stimuli, pd.concat([metrics, metrics]), key="img_distorted")
    with pytest.raises(InputError, match="lacks column"):
        imports.join_metrics(result.stimuli, metrics)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_tables_read_back_unchanged(tmp_path, fmt):
    result = imports.read_aic3(write(tmp_path / "ptc.csv", [AIC3_HEADER, *AIC3_ROWS]))
    comparisons_file, _ = imports.write(result, tmp_path / "out", fmt)
    pd.testing.assert_frame_equal(
        imports.read_comparisons(comparisons_file), result.comparisons, check_dtype=False
    )


def test_the_import_command_writes_tables_and_refuses_bad_rows_in_one_line(tmp_path, capsys):
    good = write(tmp_path / "ptc.csv", [AIC3_HEADER, *AIC3_ROWS])
    metrics = tmp_path / "m.csv"
    pd.DataFrame({"img_distorted": ["PTC_00002_JPEG-AI_07.png"], "PSNR-Y": [33.0]}).to_csv(
        metrics, index=False
    )
    assert (
        main(
            [
                "study",
                "import",
                "aic3",
                str(good),
                "--out",
                str(tmp_path / "out"),
                "--metrics",
                str(metrics),
                "--key",
                "img_distorted",
                "--screen",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert '"not_sure": 1' in out and "screened out (traps: accuracy < 0.8" in out
    assert set(pd.read_csv(tmp_path / "out" / "raters.csv")["rater"]) == {"PTC-11", "PTC-12", "PTC-13"}
    assert "PSNR-Y" in pd.read_csv(tmp_path / "out" / "stimuli.csv")
    bad = write(tmp_path / "bad.csv", [AIC3_HEADER, aic3_row(response="maybe")])
    assert main(["study", "import", "aic3", str(bad), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.csv, line 2, column 'response'" in err
    assert (
        main(
            [
                "study",
                "import",
                "csv",
                str(write(tmp_path / "any.csv", GENERIC)),
                "--out",
                str(tmp_path / "o3"),
                "--map",
                "rater=who",
                "image=content",
                "left=a",
                "right=b",
                "answer=says",
                "--answers",
                "A=left",
                "B=right",
                "?=not_sure",
                "x=skip",
                "--answer-names",
                "worse",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "o3" / "comparisons.csv")) == 3


def test_the_aic3_study_imports_whole(shared_dir):
    folder = shared_dir / "data" / "aic3"
    files = sorted(folder.glob("JPEG_AIC_SDR_*_responses_*.csv"))
    if len(files) != 2:
        unavailable("the AIC-3 responses are not in the shared folder (data/aic3)")
    result = imports.read_aic3(files)
    summary = result.summary()
    for condition, rows, workers in (("PTC", 10290, 73), ("BTC", 85200, 386)):
        part = summary[condition]
        assert part["answers"] + sum(part["skipped"].values()) == rows and part["raters"] == workers
    # the direction worked out: traps are mostly answered right, and more so when boosted
    traps = result.comparisons[result.comparisons["trap"] & (result.comparisons["answer"] != "not_sure")]
    accuracy = (traps["answer"] == traps["expected"]).groupby(traps["condition"]).mean()
    assert accuracy["PTC"] > 0.7 and accuracy["BTC"] > 0.9  # 76 % and 96 %
    metrics = pd.read_csv(folder / "JPEG-AIC_metric_scores_no_jnd.csv")
    joined = imports.join_metrics(result.stimuli, metrics, key="img_distorted", columns=["PSNR-Y", "CVVDP"])
    distorted = joined[joined["stimulus"] != "reference"]
    assert distorted["PSNR-Y"].notna().all() and len(distorted) == 111


def test_aic3_plain_workers_are_screened_by_traps_and_the_floor(shared_dir):
    from evalkit.study import outliers, screening

    files = sorted((shared_dir / "data" / "aic3").glob("JPEG_AIC_SDR_PTC_JPEG_AI_responses_*.csv"))
    if not files:
        unavailable("the AIC-3 responses are not in the shared folder (data/aic3)")
    table = imports.read_aic3(files).comparisons
    found = outliers.comparison_outliers(table)
    assert not (found["outlier_score"] > outliers.OUTLIER_THRESHOLD).any()  # the relative cut-off: none
    assert found["outlier"].mean() > 0.15  # the floor: a quarter (19 of 73)
    traps = screening.trap_screening(table)
    assert 0.3 < traps["excluded"].mean() < 0.5  # 28 of 73
