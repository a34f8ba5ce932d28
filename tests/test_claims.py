"""Claims under pressure (issue 29): an active study's claim holds one database connection and
reads only what changed since the last claim; one address cannot take every assignment by
sending a new rater id per claim; control characters and oversized chunked bodies are refused at
the edge; every gunicorn server has its own control socket."""

import os
import socket
import threading
import time

import pytest
import requests
from serving import Gunicorn, in_thread
from sqlalchemy import create_engine
from study_fixtures import ADMIN_TOKEN, BEARER, AdvancingClock, copy_study

from evalkit.errors import InputError
from evalkit.study import database, sampling
from evalkit.study.config import load_config
from evalkit.study.design import Design
from evalkit.study.sampling import ActiveSampler, LivePlanner
from evalkit.study.server import THREADS_PER_WORKER, load_for_serving
from webapp import create_app


def active_copy(built_active_study, folder, budget: int):
    """The built active study with a judgement budget of ``budget``."""
    path = copy_study(built_active_study, folder)
    path.write_text(path.read_text().replace("judgements = 12", f"judgements = {budget}"))
    return load_config(path)


def answer_all(client, session, engine):
    correct = {t.id: t.correct for t in database.trials_of(engine, session["assignment"])}
    for trial in session["trials"]:
        assert (
            client.post(
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
            ).status_code
            == 201
        )
    assert client.post("/api/finish", json={"token": session["token"]}).get_json()["done"]


def test_an_active_claim_needs_one_connection(built_active_study, database_url, tmp_path, monkeypatch):
    """With a pool of one connection, claims still plan their assignments (they used to hold one
    connection and wait for a second: with 15 claims at once on a 5 + 10 pool, all of them)."""
    monkeypatch.setattr(database, "time", AdvancingClock())
    config = active_copy(built_active_study, tmp_path / "study", 1000)
    create_app(config, database_url)  # tables and the secret
    one = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=3)
    try:
        planner = LivePlanner(one, ActiveSampler(config, *_pairs_and_sentinels(config)))
        for n in range(3):
            assignment, _ = database.start_session(
                one, f"lab:one{n}", "lab", None, "", 1, 600, planner=planner
            )
            assert assignment.id == f"a{n + 1:03d}"
    finally:
        one.dispose()


def _pairs_and_sentinels(config):
    design = Design.load(config.trials_path)
    return design.pairs, design.sentinels


def test_a_claim_screens_only_the_answers_that_changed(
    built_active_study, database_url, tmp_path, monkeypatch
):
    """The planner keeps finished assignments' answers: a claim screens the newly finished and
    those in progress, never every stored answer again (its cost would grow with the study)."""
    monkeypatch.setattr(database, "time", AdvancingClock())
    config = active_copy(built_active_study, tmp_path / "study", 1000)
    app = create_app(config, database_url, admin_token=ADMIN_TOKEN)
    client, engine = app.test_client(), app.extensions["evalkit"]["engine"]
    screened = []
    real_screen = sampling.screen
    monkeypatch.setattr(sampling, "screen", lambda r, rules: screened.append(len(r)) or real_screen(r, rules))
    for n in range(5):
        answer_all(client, client.post("/api/session", json={"rater": f"inc{n}"}).get_json(), engine)
    screened.clear()
    session = client.post("/api/session", json={"rater": "inc-last"}).get_json()
    assert session["assignment"] == "a006"
    assert screened and max(screened) <= len(session["trials"])  # one assignment's answers, not 50
    progress = app.extensions["evalkit"]["planner"].progress()
    assert progress.judgements == 30 and progress.in_flight == 6  # every kept answer still counts


def test_claims_waiting_together_are_planned_together(
    built_active_study, database_url, tmp_path, monkeypatch
):
    """Three claims of one worker at once: the first plans three assignments — the very ones three
    claims one after another get — and the two waiting take theirs without reading the study or
    planning again, so a burst's claims do not each plan while holding the planning lock."""
    monkeypatch.setattr(database, "time", AdvancingClock())
    config = active_copy(built_active_study, tmp_path / "study", 1000)
    one_by_one = create_app(config, f"sqlite:///{tmp_path / 'one-by-one.sqlite'}").test_client()
    for n in range(3):
        assert (
            one_by_one.post("/api/session", json={"rater": f"w{n}"}).get_json()["assignment"]
            == f"a{n + 1:03d}"
        )
    app = create_app(config, database_url)
    client, planner = app.test_client(), app.extensions["evalkit"]["planner"]
    with planner.claiming(), planner.claiming():  # two claims waiting behind the first
        assert client.post("/api/session", json={"rater": "w0"}).get_json()["assignment"] == "a001"
    reads = []
    monkeypatch.setattr(planner, "at_claim", lambda s: reads.append(s) or LivePlanner.at_claim(planner, s))
    for n in (1, 2):
        assert (
            client.post("/api/session", json={"rater": f"w{n}"}).get_json()["assignment"] == f"a{n + 1:03d}"
        )
    assert reads == []

    def planned(engine):
        return [
            [
                (t.kind, t.image, t.target_bpp, t.left_codec, t.right_codec)
                for t in database.trials_of(engine, a)
            ]
            for a in ("a001", "a002", "a003")
        ]

    assert planned(app.extensions["evalkit"]["engine"]) == planned(
        one_by_one.application.extensions["evalkit"]["engine"]
    )
    assert client.post("/api/session", json={"rater": "w3"}).get_json()["assignment"] == "a004"
    assert len(reads) == 1  # with none planned ahead, a claim plans its own


def test_a_workers_pool_is_its_share_of_the_connections_a_server_accepts():
    """A server accepting 97 connections (PostgreSQL's default 100, 3 for superusers), 10 kept for
    other clients: 4 workers of 64 threads get 21 each (not 64: 256 in all), one worker 64."""
    assert database.pool_size(97, 4, 64) == 21
    assert database.pool_size(97, 1, 64) == 64
    with pytest.raises(InputError, match="too few for 100 server workers.*--workers 87 or fewer"):
        database.pool_size(97, 100, 64)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_serving_stays_within_the_servers_connections(
    built_study, built_active_study, database_url, tmp_path
):
    """On a real server: each worker's pool is its share of what the server accepts, and serving
    with more workers than that allows is refused in one line before gunicorn starts. Then the
    default server (4 workers × 64 threads: far more threads than connections) takes a burst of
    claims on an active study: none fails, no assignment goes to two raters, and the server's
    connections, counted by PostgreSQL while the burst runs, never pass the workers' pools."""
    probe = create_engine(database_url)
    accepted = database.accepted_connections(probe)
    with probe.connect() as connection:
        assert accepted <= int(connection.exec_driver_sql("SHOW max_connections").scalar())
    engine = database.connect(database_url, threads=THREADS_PER_WORKER, workers=4)
    pool = engine.pool.size()
    engine.dispose()
    assert pool == min(THREADS_PER_WORKER, (accepted - database.SPARE_CONNECTIONS) // 4)
    assert 4 * pool <= accepted - database.SPARE_CONNECTIONS < 4 * THREADS_PER_WORKER
    with pytest.raises(InputError, match="PostgreSQL server accepts") as refused:
        load_for_serving(built_study, database_url, workers=accepted)
    assert "\n" not in str(refused.value)

    name = f"evalkit-burst-{os.getpid()}"  # this server's connections, as pg_stat_activity names them
    toml = copy_study(built_active_study, tmp_path / "study", f"claims_per_client = {BURST}\n")
    toml.write_text(toml.read_text().replace("judgements = 12", "judgements = 100000"))
    server = Gunicorn(toml, f"{database_url}{'&' if '?' in database_url else '?'}application_name={name}")
    peak, done = [0], threading.Event()

    def count_connections():
        with probe.connect() as connection:
            while not done.is_set():
                held = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %(name)s", {"name": name}
                ).scalar()
                peak[0] = max(peak[0], held)
                time.sleep(0.01)

    server.start()
    counter = threading.Thread(target=count_connections)
    try:
        counter.start()
        replies = burst_of_claims(server.url, BURST)
    finally:
        done.set()
        counter.join()
        server.stop()
        probe.dispose()
    assert [status for status, _ in replies] == [200] * BURST, server.stderr()[-2000:]
    assert len({assignment for _, assignment in replies}) == BURST  # no double assignment
    assert 0 < peak[0] <= 4 * pool


BURST = 60  # claims at once: more than one worker's pool holds


def burst_of_claims(url: str, count: int) -> list[tuple[int, str | None]]:
    """``count`` claims sent at once (a barrier) by raters of their own: (status, assignment)."""
    replies: list = [None] * count
    gate = threading.Barrier(count)

    def claim(n):
        gate.wait()
        try:
            reply = requests.post(f"{url}/api/session", json={"rater": f"burst{n}"}, timeout=60)
            replies[n] = (reply.status_code, reply.json().get("assignment"))
        except requests.RequestException as error:
            replies[n] = (599, repr(error))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def test_one_address_cannot_take_every_assignment(built_study, tmp_path):
    config = load_config(copy_study(built_study, tmp_path / "study", "claims_per_client = 2\n"))
    client = create_app(config, f"sqlite:///{tmp_path / 'study.sqlite'}").test_client()
    taken = [client.post("/api/session", json={"rater": f"sock{n}"}) for n in range(3)]
    assert [r.status_code for r in taken] == [200, 200, 429]
    assert "claims_per_client" in taken[2].get_json()["error"]
    resumed = client.post("/api/session", json={"rater": "sock0", "token": taken[0].get_json()["token"]})
    assert resumed.status_code == 200  # a resume is not a new claim
    other = client.post("/api/session", json={"rater": "elsewhere"}, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200


@pytest.mark.parametrize("value", ["a001\x00", "a\x01b", "x\x7f"])
def test_control_characters_are_refused_at_the_edge(app, value):
    """A NUL in an admin form reached PostgreSQL (500); any control character is a 400 now."""
    client = app.test_client()
    reply = client.post("/admin/release", data={"assignment": value}, headers=BEARER)
    assert reply.status_code == 400 and "control characters" in reply.get_json()["error"]
    assert client.get("/task", query_string={"rater": value}).status_code == 400
    comment = client.post("/api/finish", json={"token": "x" * 40, "comment": f"fine{value}"})
    assert comment.status_code == 400


def test_a_chunked_body_over_the_limit_is_413(built_study, tmp_path):
    """Without Content-Length the body used to be cut at 64 KiB and processed as if whole."""
    with in_thread(built_study, f"sqlite:///{tmp_path / 'study.sqlite'}") as (app, url):
        body = b'{"rater": "chunky"}' + b" " * (70 * 1024)
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(
                b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            for start in range(0, len(body), 8192):
                piece = body[start : start + 8192]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
            assert status(conn) == b"413"
        small = b'{"rater": "chunky"}'
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(
                b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + b"%x\r\n%s\r\n0\r\n\r\n"
                % (len(small), small)
            )
            assert status(conn) == b"200"  # a small chunked body is served


def status(conn) -> bytes:
    """The status code of the HTTP reply arriving on ``conn``."""
    reply = b""
    while b"\r\n" not in reply:
        reply += conn.recv(4096)
    return reply.split(b"\r\n", 1)[0].split()[1]


@pytest.mark.slow
def test_every_server_has_its_own_control_socket(built_study, tmp_path):
    from gunicorn.config import _get_default_control_socket
    from gunicorn.ctl.client import ControlClient

    def control_socket(server):
        command = server.command
        return (
            command[command.index("--control-socket") + 1]
            if "--control-socket" in command
            else _get_default_control_socket()
        )

    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    first = Gunicorn(built_study.folder / "study.toml", url, workers=1).start()
    try:
        second = Gunicorn(built_study.folder / "study.toml", url, workers=1).start()
        try:
            for server in (first, second):
                with ControlClient(control_socket(server), timeout=10) as control:
                    assert control.send_command("show stats")["pid"] == server.process.pid
        finally:
            second.stop()
        with ControlClient(control_socket(first), timeout=10) as control:  # still there
            assert control.send_command("show stats")["pid"] == first.process.pid
    finally:
        first.stop()
