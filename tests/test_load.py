"""100 concurrent raters against gunicorn on loopback, the server SIGKILLed and restarted in the
middle: afterwards every acknowledged response is stored exactly once."""

import secrets
import threading
import time

import pytest
import requests
from serving import Gunicorn, many_assignments
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evalkit.study import responses
from evalkit.study.database import Response, connect
from evalkit.study.design import Design

RATERS = 100


def rater(url_holder, name, acknowledged, lock, deadline):
    """Claim an assignment and answer every trial, re-sending whatever was not acknowledged."""
    http = requests.Session()

    def post(path, body):
        while time.time() < deadline:
            try:
                r = http.post(url_holder[0] + path, json=body, timeout=10)
                if r.status_code < 500:
                    return r
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name}: {path} never answered")

    secret = secrets.token_urlsafe(32)  # as the page does: drawn before the first request
    session = post("/api/session", {"rater": name, "token": secret}).json()
    for k, trial in enumerate(session["trials"]):
        choice = "left" if (k + len(name)) % 2 else "right"
        body = {
            "token": session["token"],
            "trial": trial["id"],
            "choice": choice,
            "response_ms": 900 + k,
            "magnifier_ms": 0,
            "viewport_w": 1280,
            "viewport_h": 800,
            "device_pixel_ratio": 1,
        }
        r = post("/api/response", body)
        assert r.status_code in (200, 201), (r.status_code, r.text)
        with lock:
            acknowledged.append((trial["id"], choice))


@pytest.mark.slow
def test_kill_and_restart_mid_study_loses_nothing(built_study, tmp_path):
    study = many_assignments(built_study, tmp_path / "load", RATERS)
    url = f"sqlite:///{tmp_path / 'load' / 'out' / 'study.sqlite'}"
    server = Gunicorn(study, url, workers=4).start()
    acknowledged, lock, errors = [], threading.Lock(), []
    total = RATERS * len(Design.load(study.parent / "out" / "trials.json").assignments[0])
    deadline = time.time() + 240

    def run(n):
        try:
            rater([server.url], f"r{n:03d}", acknowledged, lock, deadline)
        except Exception as exc:  # reported below, with the others
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(RATERS)]
    try:
        for t in threads:
            t.start()
        while len(acknowledged) < total * 0.4 and time.time() < deadline:
            time.sleep(0.01)
        acked_before_kill = len(acknowledged)
        server.kill()
        time.sleep(1.0)
        server.start()  # same port, same database: clients retry until it is back
        for t in threads:
            t.join(timeout=max(1, deadline - time.time()))
    finally:
        server.stop()
    assert errors == []
    assert 0 < acked_before_kill < total
    engine = connect(url)
    stored = responses.responses(engine)
    assert len(acknowledged) == total
    assert stored["trial"].is_unique
    assert set(zip(stored["trial"], stored["choice"])) == set(acknowledged)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == total
