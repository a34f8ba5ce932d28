"""A hostile-request campaign: 10 000 generated requests over every route of the study app —
malformed and deeply nested JSON, wrong types, huge and unicode values, lone surrogates, NUL,
injection in every field, path traversal, wrong methods, unknown ids, tampered MTurk/Prolific
parameters, forged tokens and admin credentials — on SQLite and PostgreSQL. No response may be
a 5xx, nothing may be logged as an error, and nothing may be stored that should not be."""

import json
import logging
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evalkit.study.database import Assignment, Response
from webapp import create_app

REQUESTS = 10_000
TOKEN = "admin-secret-123"

HOSTILE_TEXT = [
    "",
    " ",
    "a",
    "x" * 129,
    "x" * 5000,
    "é😀",
    "\u202eevil",
    "\u200b",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "\ud83d",
    "' OR 1=1 --",
    "\"; DROP TABLE responses; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "..%2f..%2fstudy.toml",
    "%00",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "a001",
    "a001t01",
    "a001t01' --",
    "a999t99",
    "ASSIGNMENT_ID_NOT_AVAILABLE",
    "https://evil.example",
    "https://www.mturk.com.evil.example",
    "javascript:alert(1)",
    "left",
    "right",
    "middle",
    "null",
    "NaN",
    "\n\r\t",
    "\\",
    "W1",
    "p1",
    "g" * 43,
]
HOSTILE_VALUES = HOSTILE_TEXT + [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.5,
    1e308,
    -1e308,
    10**400,
    float("nan"),
    float("inf"),
    [],
    {},
    ["left"],
    {"$ne": None},
    [[[[[]]]]],
    {"token": {"token": "x"}},
]
KEYS = [
    "rater",
    "token",
    "trial",
    "choice",
    "response_ms",
    "magnifier_ms",
    "viewport_w",
    "viewport_h",
    "device_pixel_ratio",
    "comment",
    "workerId",
    "assignmentId",
    "hitId",
    "turkSubmitTo",
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
    "assignment",
    "__proto__",
]
ROUTES = [
    "/",
    "/task",
    "/api/session",
    "/api/response",
    "/api/finish",
    "/api/preview",
    "/admin/",
    "/admin/login",
    "/admin/logout",
    "/admin/release",
    "/admin/export/judgements.csv",
    "/admin/export/responses.csv",
    "/admin/export/quality.csv",
    "/admin/export/assignments.csv",
    "/static/task.js",
    "/static/../study.toml",
    "/img/deadbeef.png",
    "/img/../../etc/passwd",
    "/img/%2e%2e%2fstudy.toml.png",
    "/nothing",
    "/api/",
    "/admin",
]
METHODS = ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def _body(rng: random.Random, valid: dict) -> bytes:
    """A request body: mostly JSON objects built from real and hostile fields, else garbage."""
    shape = rng.random()
    if shape < 0.55:
        body = dict(valid) if rng.random() < 0.5 else {}
        for key in rng.sample(KEYS, rng.randint(1, 6)):
            body[key] = rng.choice(HOSTILE_VALUES)
        text = json.dumps(body, ensure_ascii=rng.random() < 0.5)
        return text.encode("utf-8", "surrogatepass")
    if shape < 0.7:
        depth = rng.choice([100, 999, 1000, 5000, 20000, 40000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        return (opener * depth + "1" + closer * depth).encode()
    return rng.choice(
        [
            b"",
            b"{",
            b"[",
            b"null",
            b"1",
            b'"x"',
            b"{not json",
            b"\xff\xfe\x00{",
            b'{"rater": "\\ud800"}',
            b'{"rater": "a", "rater": ["b"]}',
            b"x=1&y=2",
            b"{" + b" " * 70_000 + b"}",
            bytes(rng.randrange(256) for _ in range(64)),
            b'{"token": "\\u0000", "comment": "\\u0000"}',
        ]
    )


def _request(rng: random.Random, valid: dict) -> dict:
    path = rng.choice(ROUTES)
    if rng.random() < 0.2:
        query = "&".join(
            f"{rng.choice(KEYS)}={rng.choice(HOSTILE_TEXT).encode('utf-8', 'surrogatepass').hex()}"
            if rng.random() < 0.3
            else f"{rng.choice(KEYS)}={rng.choice(['%ED%A0%80', '%00', '%FF', 'a%20b', 'ASSIGNMENT_ID_NOT_AVAILABLE'])}"
            for _ in range(rng.randint(1, 4))
        )
        path = f"{path}?{query}"
    headers = {}
    if rng.random() < 0.3:
        headers["Authorization"] = rng.choice(
            [
                f"Bearer {TOKEN}x",
                "Bearer ",
                "Basic YTpi",
                "Bearer é",
                f"bearer {TOKEN[:-1]}",
                "Bearer " + "x" * 5000,
            ]
        )
    if rng.random() < 0.2:
        headers["Cookie"] = f"evalkit_admin={rng.choice(['x', '', 'é', '0' * 64, 'a;b'])}"
    method = rng.choice(METHODS)
    form = rng.random() < 0.15
    request = {"method": method, "path": path, "headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        if form:
            request["data"] = {
                rng.choice(["token", "assignment", "x"]): rng.choice(HOSTILE_TEXT).encode(
                    "utf-8", "surrogatepass"
                )
            }
        else:
            request["data"] = _body(rng, valid)
            request["content_type"] = rng.choice(
                ["application/json"] * 4 + ["text/plain", "application/json; charset=latin-1"]
            )
    return request


@pytest.mark.parametrize("seed", [1])
@pytest.mark.slow
def test_ten_thousand_hostile_requests(built_study, database_url, caplog, seed):
    app = create_app(built_study, database_url, admin_token=TOKEN)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a bug becomes a logged 500, counted below
    client = app.test_client()
    victim = client.post("/api/session", json={"rater": "victim", "token": "v" * 43}).json
    ready = client.post("/api/session", json={"rater": "ready", "token": "r" * 43}).json
    for trial in ready["trials"]:  # all answered: a hostile finish would store its comment
        assert (
            client.post(
                "/api/response",
                json={
                    "token": ready["token"],
                    "trial": trial["id"],
                    "choice": "right",
                    "response_ms": 1000,
                    "magnifier_ms": 0,
                    "viewport_w": 1000,
                    "viewport_h": 800,
                    "device_pixel_ratio": 1,
                },
            ).status_code
            == 201
        )
    valid = {
        "token": victim["token"],
        "trial": victim["trials"][0]["id"],
        "choice": "left",
        "response_ms": 1000,
        "magnifier_ms": 0,
        "viewport_w": 1000,
        "viewport_h": 800,
        "device_pixel_ratio": 1,
    }
    rng = random.Random(seed)
    statuses, server_errors = {}, []
    with caplog.at_level(logging.WARNING):
        for _ in range(REQUESTS):
            request = _request(rng, valid if rng.random() < 0.5 else {"token": ready["token"]})
            r = client.open(**request)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                server_errors.append((request["method"], request["path"], r.status_code))
    assert server_errors == []
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []
    engine = app.extensions["evalkit"]["engine"]
    with Session(engine) as s:
        stored = s.execute(select(Response.trial_id, Response.choice, Response.response_ms)).all()
        claimed = s.execute(
            select(Assignment.rater, Assignment.source, Assignment.external, Assignment.comment)
        ).all()
    # The only stored answers are the victim's own trial with in-range values from the hostile
    # mix of a valid body; every claim is by a well-formed id through a known source.
    hostile = [(t, c, ms) for t, c, ms in stored if not t.startswith(ready["assignment"])]
    assert all(t == valid["trial"] and c in ("left", "right") and 0 <= ms <= 1e8 for t, c, ms in hostile)
    assert len(hostile) <= 1 and len(stored) == len(hostile) + len(ready["trials"])
    for rater, source, external, comment in claimed:
        if rater is None:
            continue
        assert comment is None or (
            isinstance(comment, str) and len(comment) <= 2000 and "\x00" not in comment
        )
        assert source in ("lab", "mturk", "prolific") and rater.startswith(f"{source}:")
        assert all(ch.isascii() and (ch.isalnum() or ch in "_.:-") for ch in rater)
        if source == "mturk":
            assert external["turkSubmitTo"] in ("https://www.mturk.com", "https://workersandbox.mturk.com")
            assert external["assignmentId"] != "ASSIGNMENT_ID_NOT_AVAILABLE"
    assert sum(statuses.values()) == REQUESTS and set(statuses) <= set(range(200, 500))
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 4
