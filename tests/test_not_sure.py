"""The ternary answer: a "not sure" option in study.toml, the button and its key on the real task
page (Flask's test client on SQLite and PostgreSQL, and headless Chromium), and what every
analysis does with it — half a win each way or left out, as the study says."""

import pytest
from serving import in_thread
from study_fixtures import ADMIN_TOKEN, copy_study

from evalkit.errors import InputError
from evalkit.study import ranking, responses
from evalkit.study.analyze import analyze, format_report
from evalkit.study.comparisons import from_responses, settle_not_sure
from evalkit.study.config import load_config, not_sure_rule
from evalkit.study.screening import ScreeningRules
from webapp import create_app


def study_with(built_study, folder, line):
    return load_config(copy_study(built_study, folder, line))


@pytest.mark.parametrize(
    "line, message",
    [
        ("not_sure = true", "not_sure must be one of false, \"split\", \"drop\", got true"),
        ('not_sure = "half"', "'split' .* or 'drop'"),
        (
            'not_sure = "split"\nsampling = "active"\nstop_when = { judgements = 10 }',
            "not offered in active studies",
        ),
    ],
)
def test_study_files_say_whether_and_how(built_study, tmp_path, line, message):
    with pytest.raises(InputError, match=message):
        study_with(built_study, tmp_path / "s", line + "\n")


def test_off_by_default(built_study):
    assert built_study.not_sure is False and not_sure_rule(built_study) == "split"


def post(client, session, trial, choice):
    return client.post(
        "/api/response",
        json={
            "token": session["token"],
            "trial": trial,
            "choice": choice,
            "response_ms": 1500.0,
            "magnifier_ms": 0.0,
            "viewport_w": 1600,
            "viewport_h": 900,
            "device_pixel_ratio": 1.0,
        },
    )


def test_not_sure_through_the_app_the_export_and_the_analysis(built_study, tmp_path, database_url):
    plain = create_app(
        built_study, f"sqlite:///{tmp_path / 'plain.sqlite'}", admin_token=ADMIN_TOKEN
    ).test_client()
    session = plain.post("/api/session", json={"rater": "x"}).json
    refused = post(plain, session, session["trials"][0]["id"], "not_sure")
    assert refused.status_code == 400 and "'left' or 'right'" in refused.json["error"]
    assert b"choose-not-sure" not in plain.get("/task").data

    study = study_with(built_study, tmp_path / "ns", 'not_sure = "split"\n')
    app = create_app(study, database_url, admin_token=ADMIN_TOKEN)
    client = app.test_client()
    assert b'id="choose-not-sure"' in client.get("/task").data
    engine = app.extensions["evalkit"]["engine"]
    for rater in ("a", "b"):
        s = client.post("/api/session", json={"rater": rater}).json
        for n, t in enumerate(s["trials"]):
            assert post(client, s, t["id"], "not_sure" if n % 3 == 0 else "left").status_code == 201
    stored = responses.responses(engine)
    unsure = stored[stored["choice"] == "not_sure"]
    assert len(unsure) == 8 and (unsure["chosen_codec"] == "").all()

    pairs = stored[stored["kind"] == "pair"]
    unsure_pairs = int((pairs["choice"] == "not_sure").sum())
    split = responses.judgement_table(engine, not_sure="split")
    dropped = responses.judgement_table(engine, not_sure="drop")
    votes = lambda t: float((t["n_a"] + t["n_b"]).sum())
    assert votes(split) == len(pairs) and votes(dropped) == len(pairs) - unsure_pairs
    assert unsure_pairs > 0 and (split["n_a"] % 1 != 0).any()  # halves

    comps = ranking.comparisons(settle_not_sure(stored, "split"))
    assert comps["weight"].sum() == len(pairs)
    assert (
        from_responses(stored, "ns")["answer"].value_counts()["not_sure"]
        == (unsure["kind"] != "repeat").sum()
    )

    rules = ScreeningRules(None, None, 0.0, None)
    for rule, said in (("split", "counted as half a win each way"), ("drop", "left out")):
        result = analyze(stored, rules, n_boot=20, not_sure=rule)
        text = format_report(result)
        assert f"not sure: {unsure_pairs} pair answer(s), {said}" in text
        counted = result.views["all"].pairs["judgements"].sum()
        assert counted == (len(pairs) if rule == "split" else len(pairs) - unsure_pairs)


def test_the_not_sure_button_and_key_in_chromium(browser, built_study, tmp_path):
    study = study_with(built_study, tmp_path / "ns", 'not_sure = "drop"\n')
    with in_thread(study, f"sqlite:///{tmp_path / 'ns.sqlite'}") as (app, base):
        page = browser.new_page(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/task?rater=unsure")
        page.check("#consent")
        page.click("#start")
        page.wait_for_selector("#task:not([hidden])")
        assert page.is_visible("#choose-not-sure") and "Not sure" in page.inner_text("#choose-not-sure")
        page.click("#choose-not-sure")
        page.wait_for_function("document.getElementById('progress').textContent === 'Question 2 of 10'")
        page.keyboard.press("n")
        page.wait_for_function("document.getElementById('progress').textContent === 'Question 3 of 10'")
        page.keyboard.press("f")
        page.wait_for_function("document.getElementById('progress').textContent === 'Question 4 of 10'")
        assert errors == []
        stored = responses.responses(app.extensions["evalkit"]["engine"])
        assert stored["choice"].tolist() == ["not_sure", "not_sure", "left"]
