"""Build a study → serve it with gunicorn → a simulated crowd over HTTP → analyze → evalkit fit."""

import json
import socket
import struct
import threading

import pandas as pd
import pytest
import requests
from serving import Gunicorn, in_thread
from study_fixtures import copy_study

from evalkit.cli import main
from evalkit.study.database import Answer, connect
from evalkit.study.layouts import LAYOUTS
from evalkit.study.responses import responses


@pytest.fixture
def study_copy(built_study, tmp_path):
    return copy_study(built_study, tmp_path / "study")


@pytest.mark.slow
def test_simulated_crowd_over_http_then_analyze_then_fit(study_copy, tmp_path, capsys):
    assignments = len(json.loads((study_copy.parent / "out" / "trials.json").read_text())["assignments"])
    url = f"sqlite:///{tmp_path / 'served.sqlite'}"
    server = Gunicorn(study_copy, url, workers=2).start()
    try:
        code = main(
            [
                "study",
                "simulate",
                str(study_copy),
                "--url",
                server.url,
                "--raters",
                str(assignments + 2),
                "--careless",
                "0.25",
                "--inverted",
                "0",
                "--abandons",
                "0",
                "--seed",
                "5",
                "--concurrency",
                "3",
                "--time-scale",
                "0.4",
                "--quiet",
            ]
        )
        # seed 5: raters 1, 3, 5 careless; 2, 4, 6 attentive. The crowd waits 0.4 × each simulated
        # response time, so the server's own clock sees attentive raters take ~1.2 s and careless
        # ones ~0.15 s, and the fast-answer rule has something real to judge.
    finally:
        server.stop()
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{assignments} assignments finished, 2 raters turned away" in printed
    kinds = pd.read_csv(study_copy.parent / "out" / "simulated_raters.csv").set_index("rater")["kind"]
    stored = responses(connect(url))
    trials = sum(
        len(a) for a in json.loads((study_copy.parent / "out" / "trials.json").read_text())["assignments"]
    )
    assert len(stored) == trials and set(stored["rater"]) == set(kinds.index)
    assert (stored["viewport_w"] == 1920).all()

    out = tmp_path / "analysis"
    assert (
        main(
            [
                "study",
                "analyze",
                str(study_copy),
                "--database",
                url,
                "--out",
                str(out),
                "--bootstrap",
                "50",
                "--metrics",
                "psnr",
                "--quiet",
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert "thurstone (JOD" in report and "2AFC psnr" in report and "ceiling" in report
    raters = pd.read_csv(out / "raters.csv").set_index("rater")
    careless = kinds[kinds == "careless"].index
    assert len(careless) and raters.loc[careless, "excluded"].all()
    assert not raters.loc[kinds[kinds == "attentive"].index, "excluded"].all()
    for name in (
        "ranking.png",
        "ranking.svg",
        "preferences.png",
        "raters.png",
        "judgements.csv",
        "metrics.csv",
    ):
        assert (out / name).stat().st_size > 0, name

    model = tmp_path / "model.json"
    assert (
        main(
            [
                "fit",
                "--judgements",
                str(out / "judgements_all.csv"),
                "--metrics",
                "psnr,psnr-y",
                "--folds",
                "2",
                "--hypotheses",
                "50",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    assert json.loads(model.read_text())["metrics"] == ["psnr", "psnr-y"]
    assert (
        main(
            [
                "study",
                "analyze",
                str(study_copy),
                "--database",
                url,
                "--out",
                str(out),
                "--bootstrap",
                "20",
                "--metrics",
                "none",
                "--model",
                str(model),
            ]
        )
        == 0
    )
    assert "2AFC combined(psnr+psnr-y)" in capsys.readouterr().out


def test_simulate_says_when_no_server_answers(study_copy, capsys):
    assert main(["study", "simulate", str(study_copy), "--url", "http://127.0.0.1:9", "--quiet"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def _read_request(connection: socket.socket) -> bytes | None:
    """One HTTP request's body; None when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return body


def test_a_request_on_a_reset_keep_alive_connection_is_sent_again(monkeypatch):
    """A server may close an idle keep-alive connection just as the next request goes out on it
    (RFC 9112 §9.3.1); the request then meets a reset. The task page sends it again, so the
    simulated crowd must too. This server answers the first request of each connection and
    resets the connection at the second."""
    from evalkit.study import simulate

    listener = socket.create_server(("127.0.0.1", 0))
    stored = []

    def connection(client: socket.socket):
        stored.append(json.loads(_read_request(client)))
        client.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 15\r\n\r\n" + b'{"stored":true}')
        if _read_request(client) is not None:  # the next request on the kept-alive connection
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()

    def serve():
        while True:
            threading.Thread(target=connection, args=(listener.accept()[0],), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = simulate.TaskClient(url)
    for trial in ("t1", "t2"):
        client.answer(Answer(trial, "left", 900.0, 0.0, 1920, 1080, 1.0))
    assert [body["trial"] for body in stored] == ["t1", "t2"]
    # sent once only, the answer meets the reset
    monkeypatch.setattr(simulate, "ATTEMPTS", 1)
    client = simulate.TaskClient(url)
    client.answer(Answer("t3", "left", 900.0, 0.0, 1920, 1080, 1.0))
    with pytest.raises(requests.ConnectionError):
        client.answer(Answer("t4", "left", 900.0, 0.0, 1920, 1080, 1.0))


@pytest.mark.parametrize("layout", [name for name, layout in LAYOUTS.items() if layout.measures])
def test_simulated_crowd_sends_what_each_layout_measures(layout, built_study, tmp_path, capsys):
    """A crowd on a flip or flicker study answers as their pages do, measures included (the
    web app refuses an answer without them)."""
    from evalkit.study.config import load_config

    study = copy_study(built_study, tmp_path / layout, f'layout = "{layout}"\n')
    url = f"sqlite:///{tmp_path / 'layout.sqlite'}"
    with in_thread(load_config(study), url) as (_, base):
        code = main(
            [
                "study",
                "simulate",
                str(study),
                "--url",
                base,
                "--raters",
                "2",
                "--abandons",
                "0",
                "--no-images",
                "--quiet",
            ]
        )
    assert code == 0, capsys.readouterr()
    stored = responses(connect(url))
    measures = [m.name for m in LAYOUTS[layout].measures]
    assert len(stored) > 0 and stored[measures].notna().all().all(), stored[measures]
