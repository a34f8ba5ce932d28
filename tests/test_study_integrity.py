"""Each way a hostile crowd or an unlucky study owner could corrupt or game a study (issue #11),
through Flask's test client on SQLite and PostgreSQL: identity, leases, blinding, timing,
completion codes, malformed requests, and old databases."""

import hashlib
import io
import threading

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import create_engine, text, update
from sqlalchemy.orm import Session
from study_fixtures import BEARER

from evalkit.errors import InputError
from evalkit.images import load_image
from evalkit.study import responses
from evalkit.study.database import Assignment, connect, trials_of

MTURK = {"hitId": "H1", "turkSubmitTo": "https://www.mturk.com"}


def session(client, **body):
    return client.post("/api/session", json=body)


def answer(client, s, trial, choice="left"):
    return client.post(
        "/api/response",
        json={
            "token": s["token"],
            "trial": trial,
            "choice": choice,
            "response_ms": 50.0,
            "magnifier_ms": 0.0,
            "viewport_w": 1600,
            "viewport_h": 900,
            "device_pixel_ratio": 1.0,
        },
    )


def answer_all(client, s, pick=lambda t: "left"):
    for t in s["trials"]:
        assert answer(client, s, t["id"], pick(t)).status_code in (200, 201)


def expire(app, assignment):
    """Let the lease's time run out (as if its HIT duration had passed)."""
    with Session(app.extensions["evalkit"]["engine"]) as s, s.begin():
        s.execute(update(Assignment).where(Assignment.id == assignment).values(expires_s=0))


def test_a_rater_id_alone_never_yields_a_session(client):
    alice = session(client, rater="alice").json
    answer(client, alice, alice["trials"][0]["id"], "left")
    for body in ({"rater": "alice"}, {"rater": "alice", "token": "g" * 43}):
        stolen = session(client, **body)
        assert stolen.status_code == 403 and "token" not in stolen.json
        assert "release" in stolen.json["error"]
    worker = session(client, workerId="W1", assignmentId="A1", **MTURK).json
    thief = session(client, workerId="W1", assignmentId="A2", **MTURK)
    assert thief.status_code == 403 and "trials" not in thief.json
    # The one who holds the secret resumes, and nothing of alice's changed.
    assert session(client, rater="alice", token=alice["token"]).json["answered"] == [alice["trials"][0]["id"]]
    assert (
        session(client, workerId="W1", assignmentId="A1", token=worker["token"], **MTURK).status_code == 200
    )


def test_the_browsers_own_secret_makes_a_retried_first_request_resume(client):
    secret = "s" * 43
    first = session(client, rater="flaky", token=secret).json  # its answer lost on the way
    retry = session(client, rater="flaky", token=secret).json
    assert retry["assignment"] == first["assignment"] and retry["token"] == secret
    taken = session(client, rater="copycat", token=secret)  # another's secret
    assert taken.status_code == 409 and "token" not in taken.json
    for bad in ("short", "x" * 129, "has space" * 5, 7, ["a" * 40]):
        assert session(client, rater="odd", token=bad).status_code == 400


def test_one_rater_concurrent_first_requests_take_one_assignment(app):
    results = []

    def first_request(n):
        r = app.test_client().post("/api/session", json={"rater": "eager"})
        results.append((r.status_code, r.json.get("assignment")))

    threads = [threading.Thread(target=first_request, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [a for status, a in results if status == 200]
    assert len(granted) == 1 and sorted(s for s, _ in results) == [200] + [403] * 7
    per_assignment = responses.progress(app.extensions["evalkit"]["engine"], 2)[1]
    assert (per_assignment["rater"] == "lab:eager").sum() == 1


def test_a_finished_rater_reloading_gets_their_assignment_back_not_a_new_one(client, app):
    s = session(client, rater="done").json
    answer_all(client, s)
    code = client.post("/api/finish", json={"token": s["token"]}).json["code"]
    again = session(client, rater="done", token=s["token"]).json
    assert again["assignment"] == s["assignment"] and again["finished"] is True
    assert client.post("/api/finish", json={"token": again["token"]}).json["code"] == code
    other_browser = session(client, rater="done")
    assert other_browser.status_code == 409 and "1 assignment" in other_browser.json["error"]
    states = responses.progress(app.extensions["evalkit"]["engine"], 2)[1].set_index("assignment")["state"]
    assert states.tolist() == ["finished", "open", "open", "open"]


def test_expired_leases_return_to_the_pool_with_answers_kept_and_marked(client, app):
    first = session(client, rater="quitter").json
    answer(client, first, first["trials"][0]["id"], "right")
    for n in range(3):
        session(client, rater=f"busy{n}")
    assert session(client, rater="late").status_code == 409  # all four leased
    expire(app, first["assignment"])
    late = session(client, rater="late").json
    assert late["assignment"] == first["assignment"] and late["answered"] == []
    assert late["token"] != first["token"] and late["trials"] == first["trials"]
    stale = answer(client, first, first["trials"][1]["id"])
    assert stale.status_code in (403, 410)  # the old secret is dead
    assert answer(client, late, first["trials"][0]["id"], "left").status_code == 201
    stored = responses.responses(app.extensions["evalkit"]["engine"])
    assert sorted(zip(stored["rater"], stored["lease"], stored["abandoned"])) == [
        ("lab:late", 2, False),
        ("lab:quitter", 1, True),
    ]
    judged = responses.judgement_table(app.extensions["evalkit"]["engine"])
    assert judged[["n_a", "n_b"]].to_numpy().sum() <= 1  # the abandoned vote is left out


def test_expired_lease_cannot_be_finished_and_admin_can_release(client, app):
    s = session(client, rater="slow").json
    answer_all(client, s)
    expire(app, s["assignment"])
    assert client.post("/api/finish", json={"token": s["token"]}).status_code == 410
    lost = session(client, rater="lost").json
    assert session(client, rater="lost").status_code == 403  # new browser, no secret
    assert client.post("/admin/release", data={"assignment": lost["assignment"]}).status_code == 403
    r = client.post("/admin/release", data={"assignment": lost["assignment"]}, headers=BEARER)
    assert r.status_code == 303
    assert client.post("/admin/release", data={"assignment": "a999"}, headers=BEARER).status_code == 409
    fresh = session(client, rater="lost")
    assert fresh.status_code == 200 and fresh.json["token"] != lost["token"]


def test_image_urls_reveal_neither_codec_nor_trial_kind(client, app, built_study):
    s = session(client, rater="bot").json
    trials = {t.id: t for t in trials_of(app.extensions["evalkit"]["engine"], s["assignment"])}
    urls = [u for t in s["trials"] for u in (t["reference"], t["left"], t["right"])]
    assert len(set(urls)) == len(urls)  # no URL shared by two trials or sides
    files = [client.get(u).data for u in urls]
    assert len(set(files)) == len(files)  # nor a file: hashing one tells nothing
    for t in s["trials"]:
        planned = trials[t["id"]]
        for side, path in (
            ("reference", planned.reference),
            ("left", planned.left_path),
            ("right", planned.right_path),
        ):
            assert hashlib.sha256(path.encode()).hexdigest()[:20] not in t[side]
            assert planned.left_codec not in t[side] and planned.kind not in t[side]
            served = np.asarray(Image.open(io.BytesIO(client.get(t[side]).data)))
            assert np.array_equal(served, load_image(built_study.out_dir / path))  # same pixels
        if planned.kind == "sentinel":  # no side is the middle image itself
            assert planned.reference not in (planned.left_path, planned.right_path)
    assert any(trials[t["id"]].kind == "repeat" for t in s["trials"])


def test_server_times_every_answer_and_the_filter_drops_a_bot(client, app):
    bot = session(client, rater="bot").json
    answer_all(client, bot)  # as fast as the test client goes
    stored = responses.responses(app.extensions["evalkit"]["engine"])
    assert stored["server_ms"].notna().all() and (stored["server_ms"] >= 0).all()
    assert (stored["server_ms"] < 2000).all()
    assert (stored["response_ms"] == 50.0).all()  # what the page claimed
    quality = responses.rater_quality(app.extensions["evalkit"]["engine"]).set_index("rater")
    assert quality.loc["lab:bot", "median_server_s"] < 2
    kept = client.get("/admin/export/judgements.csv", headers=BEARER)
    dropped = client.get("/admin/export/judgements.csv?min_median_server_s=2", headers=BEARER)
    assert len(pd.read_csv(io.BytesIO(kept.data))) > 0 and len(pd.read_csv(io.BytesIO(dropped.data))) == 0


def test_completion_codes_are_per_assignment_and_verifiable(client, app):
    codes = {}
    for rater in ("x", "y"):
        s = session(client, rater=rater).json
        answer_all(client, s)
        codes[s["assignment"]] = client.post("/api/finish", json={"token": s["token"]}).json["code"]
    assert len(set(codes.values())) == 2 and all(c.startswith("DONE-123-") for c in codes.values())
    assert not any(a in c for a, c in codes.items())
    exported = pd.read_csv(io.BytesIO(client.get("/admin/export/assignments.csv", headers=BEARER).data))
    assert (
        dict(
            exported.dropna(subset=["completion_code"])[["assignment", "completion_code"]].itertuples(
                index=False
            )
        )
        == codes
    )


def test_mturk_resume_under_a_new_assignment_id_submits_to_the_new_one(client):
    s = session(client, workerId="W7", assignmentId="OLD", **MTURK).json
    answer_all(client, s)
    resumed = session(client, workerId="W7", assignmentId="NEW", token=s["token"], **MTURK).json
    assert resumed["assignment"] == s["assignment"]
    done = client.post("/api/finish", json={"token": s["token"]}).json
    assert done["mturk"]["assignmentId"] == "NEW"


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"rater": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"rater": "\\ud800"}',
        b'{"token": "\\udfff", "trial": "a001t01", "choice": "left"}',
        b'{"\\ud800": 1, "rater": "x"}',
        b'{"rater": "ok", "x": [{"y": "\\udbff"}]}',
        b"\xff\xfe{}",
    ],
)
def test_nested_json_and_lone_surrogates_are_400_not_500(client, body):
    for path in ("/api/session", "/api/response", "/api/finish"):
        r = client.post(path, data=body, content_type="application/json")
        assert r.status_code == 400, (path, r.status_code)


def test_surrogates_in_valid_fields_are_400(client):
    s = session(client, rater="u").json
    answer_all(client, s)
    r = client.post(
        "/api/finish",
        data=b'{"token": "%s", "comment": "hi \\ud83d"}' % s["token"].encode(),
        content_type="application/json",
    )
    assert r.status_code == 400
    nul = client.post("/api/finish", json={"token": s["token"], "comment": "a\x00b"})  # PostgreSQL: 500
    assert nul.status_code == 400
    assert client.post("/api/finish", json={"token": s["token"], "comment": "fine 😀"}).status_code == 200


def test_an_old_database_gets_a_clear_error(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(
            text(
                "CREATE TABLE assignments (id VARCHAR(32) PRIMARY KEY, position INTEGER, "
                "rater VARCHAR(128), token VARCHAR(64))"
            )
        )
    with pytest.raises(InputError, match="older evalkit"):
        connect(f"sqlite:///{path}")
    with engine.connect() as c:  # and it was left as it was
        assert [r[0] for r in c.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))] == [
            "assignments"
        ]
