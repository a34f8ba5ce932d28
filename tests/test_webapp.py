"""Every route and rule of the study web app, through Flask's test client, on SQLite and PostgreSQL."""

import io
import threading
from pathlib import Path

import pandas as pd
import pytest
from study_fixtures import ADMIN_TOKEN as TOKEN
from study_fixtures import BEARER

from evalkit.study import responses
from evalkit.study.database import connect
from webapp import create_app


def start(client, token=None, **who):
    body = who or {"rater": "alice"}
    r = client.post("/api/session", json={**body, "token": token} if token else body)
    assert r.status_code == 200, r.json
    return r.json


def login(client):
    r = client.post("/admin/login", data={"token": TOKEN})
    assert r.status_code == 303
    return client


def answer(client, session, trial_id, choice="left", **extra):
    body = {
        "token": session["token"],
        "trial": trial_id,
        "choice": choice,
        "response_ms": 1500.0,
        "magnifier_ms": 200.0,
        "viewport_w": 1600,
        "viewport_h": 900,
        "device_pixel_ratio": 1.0,
    }
    return client.post("/api/response", json={**body, **extra})


def answer_all(client, session, pick=lambda trial: "left"):
    for t in session["trials"]:
        assert answer(client, session, t["id"], pick(t)).status_code in (200, 201)


def test_task_page_and_no_admin_token_in_it(client):
    for path in ("/", "/task?rater=bob", "/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H"):
        r = client.get(path)
        assert r.status_code == 200 and TOKEN.encode() not in r.data
    assert b"This is a preview" in client.get("/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE").data


def test_sessions_by_source_and_resume(client):
    lab = start(client, rater="alice")
    assert lab["assignment"] == "a001" and len(lab["trials"]) == 10 and lab["answered"] == []
    prolific = start(client, PROLIFIC_PID="p1", STUDY_ID="s1", SESSION_ID="x1")
    mturk = start(
        client, workerId="W1", assignmentId="A1", hitId="H1", turkSubmitTo="https://workersandbox.mturk.com"
    )
    assert len({lab["assignment"], prolific["assignment"], mturk["assignment"]}) == 3
    assert answer(client, lab, lab["trials"][0]["id"]).status_code == 201
    again = start(client, rater="alice", token=lab["token"])  # reload: same lease, answers remembered
    assert again["assignment"] == "a001" and again["answered"] == [lab["trials"][0]["id"]]
    assert again["token"] == lab["token"] and again["trials"] == lab["trials"]
    assert "codec" not in str(lab["trials"]) and "correct" not in str(lab["trials"])


def test_session_refusals(client):
    preview = {
        "workerId": "W",
        "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE",
        "hitId": "H",
        "turkSubmitTo": "https://www.mturk.com",
    }
    assert client.post("/api/session", json=preview).status_code == 403
    evil = {**preview, "assignmentId": "A2", "turkSubmitTo": "https://evil.example"}
    assert client.post("/api/session", json=evil).status_code == 400
    assert client.post("/api/session", json={"rater": "<script>"}).status_code == 400
    assert client.post("/api/session", json=["rater"]).status_code == 400
    for n in range(4):
        start(client, rater=f"r{n}")
    r = client.post("/api/session", json={"rater": "late"})
    assert r.status_code == 409 and "taken" in r.json["error"]


def test_responses_are_stored_once_and_first_answer_stands(client, app):
    s = start(client)
    trial = s["trials"][0]["id"]
    assert answer(client, s, trial, "left").status_code == 201
    repeat = answer(client, s, trial, "left")
    assert repeat.status_code == 200 and repeat.json["duplicate"] is True
    assert answer(client, s, trial, "right").status_code == 409
    stored = responses.responses(app.extensions["evalkit"]["engine"])
    assert len(stored) == 1 and stored.iloc[0]["choice"] == "left"
    row = stored.iloc[0]
    assert (row.viewport_w, row.viewport_h, row.device_pixel_ratio, row.response_ms) == (
        1600,
        900,
        1.0,
        1500.0,
    )
    assert row.left_codec and row.chosen_codec == row.left_codec


def test_raters_cannot_touch_each_others_data(client):
    alice, bob = start(client, rater="alice"), start(client, rater="bob")
    assert answer(client, alice, bob["trials"][0]["id"]).status_code == 404
    assert answer(client, {"token": "forged"}, alice["trials"][0]["id"]).status_code == 403
    assert client.post("/api/finish", json={"token": "forged"}).status_code == 403


@pytest.mark.parametrize(
    "bad",
    [
        {"choice": "middle"},
        {"choice": None},
        {"trial": "../../etc/passwd"},
        {"trial": 5},
        {"response_ms": -1},
        {"response_ms": "fast"},
        {"response_ms": True},
        {"viewport_w": 0},
        {"device_pixel_ratio": 1e9},
        {"magnifier_ms": None},
        {"token": 12},
    ],
)
def test_malformed_responses_get_4xx_and_change_nothing(client, app, bad):
    s = start(client)
    r = answer(client, s, s["trials"][0]["id"], **bad)
    assert 400 <= r.status_code < 500 and "error" in r.json
    assert responses.responses(app.extensions["evalkit"]["engine"]).empty


def test_hostile_requests(client):
    assert client.post("/api/response", data="{not json", content_type="application/json").status_code == 400
    assert client.post("/api/response", data="x=1").status_code == 400
    big = client.post("/api/response", data=b"{" + b" " * 100_000 + b"}", content_type="application/json")
    assert big.status_code == 413
    assert client.get("/api/response").status_code == 405
    for path in (
        "/img/../../../etc/passwd",
        "/img/%2e%2e%2f%2e%2e%2fstudy.toml.png",
        "/img/deadbeef.png",
        "/static/../study.toml",
        "/nothing",
    ):
        assert client.get(path).status_code == 404, path


def test_images_are_cacheable(client):
    s = start(client)
    url = s["trials"][0]["left"]
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert "max-age" in first.headers["Cache-Control"] and first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    from PIL import Image

    assert Image.open(io.BytesIO(first.data)).size[0] > 100


def test_finish_only_when_everything_is_stored(client, app):
    s = start(client, rater="carol")
    answer(client, s, s["trials"][0]["id"])
    early = client.post("/api/finish", json={"token": s["token"]})
    assert early.status_code == 409 and "9 of 10" in early.json["error"]
    answer_all(client, s)
    html = "<img src=x onerror=alert(1)>"
    done = client.post("/api/finish", json={"token": s["token"], "comment": html})
    assert done.status_code == 200 and done.json["code"].startswith("DONE-123-")
    assert client.post("/api/finish", json={"token": s["token"]}).json == done.json  # idempotent
    assert answer(client, s, s["trials"][0]["id"], "right").status_code == 409
    page = login(client).get("/admin/").data.decode()
    assert html not in page and "&lt;img src=x" in page
    too_long = start(client, rater="dave")
    assert (
        client.post("/api/finish", json={"token": too_long["token"], "comment": "x" * 2001}).status_code
        == 400
    )


def test_completion_for_prolific_and_mturk(client):
    p = start(client, PROLIFIC_PID="p9", STUDY_ID="s", SESSION_ID="x")
    answer_all(client, p)
    assert client.post("/api/finish", json={"token": p["token"]}).json["redirect"].endswith("cc=ABC")
    m = start(client, workerId="W9", assignmentId="ASG9", hitId="H9", turkSubmitTo="https://www.mturk.com/")
    answer_all(client, m)
    done = client.post("/api/finish", json={"token": m["token"]}).json
    assert done["mturk"] == {"action": "https://www.mturk.com/mturk/externalSubmit", "assignmentId": "ASG9"}


def test_admin_login_keeps_the_token_out_of_urls(client):
    """The token was taken from ``?token=``: it landed in access logs and every export link."""
    paths = (
        "/admin/",
        "/admin/export/judgements.csv",
        "/admin/export/responses.csv",
        "/admin/export/assignments.csv",
    )
    for path in paths:
        assert client.get(path).status_code == 403
        assert client.get(f"{path}?token={TOKEN}").status_code == 403  # never from a URL
    assert client.post("/admin/login", data={"token": "wrong"}).status_code == 403
    r = client.post("/admin/login", data={"token": TOKEN})
    cookie = r.headers["Set-Cookie"]
    assert r.status_code == 303 and TOKEN not in cookie and TOKEN not in r.headers["Location"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    page = client.get("/admin/")
    assert page.status_code == 200 and TOKEN not in page.data.decode()
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    client.post("/admin/logout")
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/", headers=BEARER).status_code == 200
    assert client.get("/task").headers["Referrer-Policy"] == "no-referrer"


def test_exports_and_rater_quality(client, tmp_path, built_study):
    from evalkit.fit import read_judgements

    good = start(client, rater="good")
    answer_all(client, good, lambda t: "left")
    careless = start(client, rater="careless")
    answer_all(client, careless, lambda t: "right")
    csv = client.get("/admin/export/judgements.csv", headers=BEARER)
    (tmp_path / "j.csv").write_bytes(csv.data)
    table = read_judgements(tmp_path / "j.csv")
    assert all(str(built_study.out_dir) in p for p in table["a"])
    raw = pd.read_csv(io.BytesIO(client.get("/admin/export/responses.csv", headers=BEARER).data))
    assert len(raw) == 20
    # The votes, counted again from the answers given: per (image, rate, codec pair), how often
    # each codec was chosen, whichever side it was on.
    given = {}
    for session, pick in ((good, "left"), (careless, "right")):
        for trial in session["trials"]:
            planned = raw.set_index("trial").loc[trial["id"]]
            if planned["kind"] != "pair":
                continue
            first, second = sorted([planned["left_codec"], planned["right_codec"]])
            chosen = planned[f"{pick}_codec"]
            votes = given.setdefault((planned["image"], planned["target_bpp"], first, second), [0, 0])
            votes[chosen != first] += 1
    exported = {(r.image, r.target_bpp, r.codec_a, r.codec_b): [r.n_a, r.n_b] for r in table.itertuples()}
    assert exported == given
    quality = pd.read_csv(io.BytesIO(client.get("/admin/export/quality.csv", headers=BEARER).data)).set_index(
        "rater"
    )
    sentinels = raw[raw["kind"] == "sentinel"]
    for rater, pick in (("lab:good", "left"), ("lab:careless", "right")):
        mine = sentinels[sentinels["rater"] == rater]
        assert quality.loc[rater, "sentinel_accuracy"] == pytest.approx((mine["correct"] == pick).mean())
        assert quality.loc[rater, "repeat_consistency"] == 0.0  # same side, swapped codecs
    strict = client.get("/admin/export/judgements.csv?min_sentinel_accuracy=1.01", headers=BEARER)
    assert len(pd.read_csv(io.BytesIO(strict.data))) == 0


def test_concurrent_claims_get_distinct_assignments(app):
    results, errors = [], []

    def claim(n):
        r = app.test_client().post("/api/session", json={"rater": f"c{n}"})
        (results if r.status_code == 200 else errors).append(r.json.get("assignment", r.status_code))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["a001", "a002", "a003", "a004"] and errors == [409] * 4


def test_storage_survives_reconnect(built_study, database_url):
    app = create_app(built_study, database_url, admin_token=TOKEN)
    s = start(app.test_client())
    answer(app.test_client(), s, s["trials"][0]["id"])
    app.extensions["evalkit"]["engine"].dispose()
    again = create_app(built_study, database_url, admin_token=TOKEN)  # design loaded once
    assert len(responses.responses(connect(database_url))) == 1
    assert start(again.test_client(), token=s["token"])["answered"] == [s["trials"][0]["id"]]


def test_flip_layout_records_flips_and_view_times(built_study, tmp_path):
    from study_fixtures import copy_study

    from evalkit.study.config import load_config

    with pytest.raises(ValueError, match="layout must be"):
        load_config(copy_study(built_study, tmp_path / "bad", 'layout = "sideways"\n'))
    study = load_config(copy_study(built_study, tmp_path / "flip", 'layout = "flip"\n'))
    client = create_app(study, f"sqlite:///{tmp_path / 'flip.sqlite'}", admin_token=TOKEN).test_client()
    assert b"flip.js" in client.get("/task").data
    s = start(client)
    trial = s["trials"][0]["id"]
    assert answer(client, s, trial).status_code == 400  # flips are required
    assert answer(client, s, trial, flips=-1, left_view_ms=1.0, right_view_ms=1.0).status_code == 400
    assert answer(client, s, trial, flips=2, left_view_ms=900.0, right_view_ms=600.0).status_code == 201
    raw = pd.read_csv(io.BytesIO(client.get("/admin/export/responses.csv", headers=BEARER).data))
    assert raw[["flips", "left_view_ms", "right_view_ms"]].values.tolist() == [[2, 900.0, 600.0]]


def test_flicker_layout_at_a_safe_rate_records_the_cycles_shown(built_study, tmp_path):
    from study_fixtures import copy_study

    from evalkit.study.config import load_config

    with pytest.raises(ValueError, match=r"flicker_hz must be in \(0, 3\].*WCAG 2.3.1"):
        load_config(copy_study(built_study, tmp_path / "fast", 'layout = "flicker"\nflicker_hz = 8\n'))
    study = load_config(
        copy_study(built_study, tmp_path / "flicker", 'layout = "flicker"\nflicker_hz = 2.5\n')
    )
    client = create_app(study, f"sqlite:///{tmp_path / 'flicker.sqlite'}", admin_token=TOKEN).test_client()
    page = client.get("/task").data
    assert b"flicker.js" in page and b'LAYOUT_SETTINGS = {"flicker_hz": 2.5}' in page
    assert b"flip.js" not in page and b'id="flip-name"' not in page  # A and B keep their places
    s = start(client)
    trial = s["trials"][0]["id"]
    assert answer(client, s, trial).status_code == 400  # the count is required
    assert answer(client, s, trial, flicker_cycles=-1).status_code == 400
    assert answer(client, s, trial, flicker_cycles=1.5).status_code == 400  # a count of whole cycles
    assert answer(client, s, trial, flicker_cycles=1).status_code == 201
    raw = pd.read_csv(io.BytesIO(client.get("/admin/export/responses.csv", headers=BEARER).data))
    assert raw["flicker_cycles"].tolist() == [1] and raw["flips"].isna().all()


def test_every_layout_measure_is_an_answer_field_and_a_response_column():
    """A layout's measures go page → Answer → Response → export under one name each."""
    from dataclasses import fields as dataclass_fields

    from evalkit.study.database import Answer, Response
    from evalkit.study.layouts import LAYOUTS, MEASURES

    answer_fields = {f.name for f in dataclass_fields(Answer)}
    for m in MEASURES:
        assert m.name in answer_fields and Response.__table__.c[m.name].nullable, m
    assert len({m.name for m in MEASURES}) == len(MEASURES)
    static = Path(__file__).resolve().parent.parent / "webapp" / "static"
    assert all((static / layout.script).is_file() for layout in LAYOUTS.values() if layout.script)
