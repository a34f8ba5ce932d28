"""An active study served for real, on SQLite and PostgreSQL: assignments planned at claim time,
concurrent claims, the stopping rule, the admin page, gunicorn with a simulated crowd over HTTP,
and the task page in headless Chromium."""

import re
import threading

import pandas as pd
import pytest
from serving import Gunicorn
from study_fixtures import ADMIN_TOKEN, BEARER, AdvancingClock

from evalkit.cli import main
from evalkit.study import database, responses
from evalkit.study.database import trials_of
from webapp import create_app


@pytest.fixture
def active_app(built_active_study, database_url, monkeypatch):
    monkeypatch.setattr(database, "time", AdvancingClock())
    return create_app(built_active_study, database_url, admin_token=ADMIN_TOKEN)


def claim(client, rater):
    return client.post("/api/session", json={"rater": rater})


def answer_all(client, session, engine):
    """Every trial answered, sentinels rightly (so the screening keeps the rater)."""
    correct = {t.id: t.correct for t in trials_of(engine, session["assignment"])}
    for trial in session["trials"]:
        reply = client.post(
            "/api/response",
            json={
                "token": session["token"],
                "trial": trial["id"],
                "choice": correct[trial["id"]] or "left",
                "response_ms": 2000,
                "magnifier_ms": 0,
                "viewport_w": 1280,
                "viewport_h": 800,
                "device_pixel_ratio": 1,
            },
        )
        assert reply.status_code == 201, reply.get_json()
    assert client.post("/api/finish", json={"token": session["token"]}).get_json()["done"]


def pair_set(engine, assignment):
    return {
        (t.image, t.target_bpp, frozenset((t.left_codec, t.right_codec)))
        for t in trials_of(engine, assignment)
        if t.kind == "pair"
    }


def test_claims_plan_assignments_that_avoid_pending_pairs(active_app):
    client, engine = active_app.test_client(), active_app.extensions["evalkit"]["engine"]
    first = claim(client, "r1").get_json()
    assert first["assignment"] == "a001"
    kinds = [t.kind for t in trials_of(engine, "a001")]
    assert kinds.count("pair") == 6 and kinds.count("sentinel") == 2 and kinds.count("repeat") == 2
    for side in ("reference", "left", "right"):  # planned images are served
        assert client.get(first["trials"][0][side]).status_code == 200
    assert client.get("/img/" + "0" * 32 + ".png").status_code == 404
    second = claim(client, "r2").get_json()
    assert second["assignment"] == "a002"
    assert len(pair_set(engine, "a001") & pair_set(engine, "a002")) < 6
    assert claim(client, "r1").status_code == 403  # r1's lease is in another browser


def test_concurrent_claims_each_get_their_own_planned_assignment_up_to_the_budget(active_app):
    """Six raters claim at once on a budget of 12 judgements, 6 pairs an assignment: the
    judgements in flight count, so exactly two assignments are planned (each its own) and the
    other four raters are told the study is complete, instead of six assignments (36 judgements)."""
    engine, results = active_app.extensions["evalkit"]["engine"], {}

    def one(n):
        results[n] = claim(active_app.test_client(), f"c{n}").get_json()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = sorted(r["assignment"] for r in results.values() if "assignment" in r)
    assert taken == ["a001", "a002"]
    refused = [r for r in results.values() if "assignment" not in r]
    assert len(refused) == 4 and all(
        r["complete"] and "12 being made (budget 12)" in r["error"] for r in refused
    )
    assert pair_set(engine, "a001") != pair_set(engine, "a002")


def test_the_study_completes_at_its_budget_and_says_so(active_app):
    client, engine = active_app.test_client(), active_app.extensions["evalkit"]["engine"]
    for rater in ("s1", "s2"):
        answer_all(client, claim(client, rater).get_json(), engine)
    refused = claim(client, "s3")
    assert refused.status_code == 409 and refused.get_json()["complete"]
    assert "complete" in refused.get_json()["error"] and "12 judgements" in refused.get_json()["error"]
    page = client.get("/task").get_data(as_text=True)
    assert '<section id="complete" >' in page and "12 judgements" in page
    admin = client.get("/admin/", headers=BEARER).get_data(as_text=True)
    assert "<b>Complete</b>" in admin and "ci95_width" in admin
    stored = responses.responses(active_app.extensions["evalkit"]["engine"])
    assert len(stored) == 20 and stored["kind"].eq("pair").sum() == 12


def test_an_unfinished_lease_resumes_after_the_study_completes(active_app):
    client, engine = active_app.test_client(), active_app.extensions["evalkit"]["engine"]
    held = claim(client, "h1").get_json()
    answer_all(client, claim(client, "h2").get_json(), engine)
    refused = claim(client, "h3").get_json()  # h1's six pairs are in flight
    assert refused["complete"] and "6 judgements collected and 6 being made" in refused["error"]
    resumed = client.post("/api/session", json={"rater": "h1", "token": held["token"]}).get_json()
    assert resumed["assignment"] == held["assignment"]
    answer_all(client, resumed, engine)


@pytest.mark.slow
def test_simulated_crowd_over_http_against_an_active_study(
    built_active_study, database_url, tmp_path, capsys
):
    server = Gunicorn(built_active_study.folder / "study.toml", database_url, workers=2).start()
    try:
        code = main(
            [
                "study",
                "simulate",
                str(built_active_study.folder / "study.toml"),
                "--url",
                server.url,
                "--database",
                database_url,
                "--raters",
                "6",
                "--concurrency",
                "3",
                "--careless",
                "0",
                "--inverted",
                "0",
                "--abandons",
                "0",
                "--time-scale",
                "0.4",
                "--seed",
                "2",
                "--quiet",
            ]
        )
    finally:
        server.stop()
    assert code == 0
    printed = capsys.readouterr().out
    # Three raters at once: a001 and a002 hold the budget's 12 judgements in flight, so the third
    # is turned away; their answers meet the budget unless the screening drops a rater (a slow
    # machine can make an answer look too fast), and then a003 is planned. After that every
    # rater is turned away because the study is complete.
    finished = int(
        re.search(
            r"(\d+) assignments finished, (\d+) raters turned away \(the study is complete\)", printed
        ).group(1)
    )
    assert finished in (2, 3)
    stored = responses.responses(database.connect(database_url))
    assert stored["assignment"].nunique() == finished and stored["kind"].eq("pair").sum() == 6 * finished
    out = tmp_path / "analysis"
    assert (
        main(
            [
                "study",
                "analyze",
                str(built_active_study.folder / "study.toml"),
                "--database",
                database_url,
                "--out",
                str(out),
                "--bootstrap",
                "20",
                "--metrics",
                "none",
                "--quiet",
            ]
        )
        == 0
    )
    assert "outlier analysis (leave-one-rater-out likelihood" in capsys.readouterr().out
    assert {"outlier_score", "outlier"} <= set(pd.read_csv(out / "raters.csv").columns)


@pytest.mark.slow
def test_active_task_page_in_chromium(browser, built_active_study, database_url, monkeypatch):
    from werkzeug.serving import make_server

    monkeypatch.setattr(database, "time", AdvancingClock())
    app = create_app(built_active_study, database_url, admin_token=ADMIN_TOKEN)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        for rater in ("browser-a", "browser-b"):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))  # noqa: B023
            page.goto(f"{base}/task?rater={rater}")
            assert page.is_hidden("#complete")
            page.check("#consent")
            page.click("#start")
            page.wait_for_function("document.getElementById('progress').textContent === 'Question 1 of 10'")
            engine = app.extensions["evalkit"]["engine"]
            trials = trials_of(engine, page.evaluate("state.trials[0].id").split("t")[0])
            for n, trial in enumerate(trials):
                page.wait_for_function(
                    f"document.getElementById('progress').textContent.startsWith('Question {n + 1} ')"
                )
                page.keyboard.press(
                    "f" if (trial.correct or ("left" if n % 2 else "right")) == "left" else "j"
                )
            page.wait_for_selector("#done:not([hidden])")
            page.click("#submit")
            page.wait_for_function("document.getElementById('completion').textContent.includes('code')")
            assert not errors
            page.close()
        late = browser.new_page()
        late.goto(f"{base}/task?rater=browser-late")
        assert late.is_visible("#complete") and "12 judgements" in late.inner_text("#complete")
        late.check("#consent")
        late.click("#start")
        late.wait_for_selector("#intro", state="hidden")
        assert "No more answers are needed" in late.inner_text("#complete-reason")
    finally:
        httpd.shutdown()
    stored = responses.responses(app.extensions["evalkit"]["engine"])
    assert len(stored) == 20 and set(stored["rater"]) == {"lab:browser-a", "lab:browser-b"}


def test_mturk_hit_of_an_active_study_is_sized_by_its_budget(built_active_study, tmp_path):
    import json

    assert (
        main(
            [
                "study",
                "mturk",
                str(built_active_study.folder / "study.toml"),
                "--url",
                "https://x.org/task",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "hit.json").read_text())["MaxAssignments"] == 2  # 12 judgements, 6 a claim
