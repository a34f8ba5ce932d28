"""The rater's side: the task page, its JSON API, and the images it shows.

HTTP API (JSON bodies, ``Content-Type: application/json``, at most 64 KiB; every error is a 4xx
with ``{"error": message}``; the page and a simulated crowd make exactly these requests):

``POST /api/session`` — start or resume. Body: who the rater is, one of
  ``{"rater": ID}`` (lab), ``{"PROLIFIC_PID": ID, "STUDY_ID": .., "SESSION_ID": ..}`` or
  ``{"workerId": ID, "assignmentId": .., "hitId": .., "turkSubmitTo": "https://www.mturk.com"}``
  (the task URL's parameters), plus ``"token"``: the session secret this browser keeps — 32–128
  characters of ``A-Za-z0-9_-`` that the page draws at random before its first request and
  stores (localStorage), so a retried request resumes the same lease (the server draws one if
  it is left out, and answers it). Answer: ``{"token", "assignment", "trials": [{"id", "reference", "left",
  "right"}], "answered": [trial ids], "finished": bool, "expires_in_s"}``. The token is the only
  key to the assignment and goes with every request; the server keeps only its SHA-256. A
  rater id alone never yields it: a rater with a lease in progress whose browser lacks the
  token gets 403 (the study owner can release the lease); one who has done
  ``assignments_per_rater`` assignments, or finds none free, gets 409; an address that holds
  ``claims_per_client`` leases in progress (whatever rater ids it sends) gets 429.
  Image URLs are opaque and per trial and side (an HMAC under the study's secret): they reveal
  neither codec nor trial kind, no two trials share one, and each serves bytes of its own
  (same pixels): a repeat cannot be told by its URL or by a hash of its file.

``POST /api/response`` — store one answer: ``{"token", "trial", "choice": "left"|"right"
  (|"not_sure" where the study offers it),
  "response_ms", "magnifier_ms", "viewport_w", "viewport_h", "device_pixel_ratio"}``. 201 when
  stored now, 200 with ``"duplicate": true`` when this same answer was stored before (re-send
  until one of these arrives); 409 for a different answer to an answered trial or a finished
  assignment, 410 when the lease expired, 403 for an unknown token, 404 for a trial not in the
  assignment. The server records its own timing beside ``response_ms``.

``POST /api/finish`` — ``{"token", "comment"?}``; 409 until every answer is stored, then
  ``{"done": true, "code"}`` plus ``"mturk": {"action", "assignmentId"}`` (post the form there)
  or ``"redirect"`` (Prolific). The code is per assignment and verifiable in the exports.

``GET /api/preview`` — the first trial, for MTurk's preview (nothing is claimed).
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from functools import lru_cache

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from evalkit.study import database
from evalkit.study.database import StudyError
from evalkit.study.design import assignment_id
from evalkit.study.layouts import LAYOUTS

from . import check_text

task = Blueprint("task", __name__)

PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")


def _study():
    return current_app.extensions["evalkit"]


def _payload() -> dict:
    """The request's JSON object. Too deep to parse, not UTF-8, or holding a string that is not
    (a lone surrogate from a ``\\ud800`` escape) or that holds a control character
    (:func:`webapp.check_text`) is a 400, like any other malformed body."""
    if not request.is_json:
        raise StudyError(400, "expected a JSON object (Content-Type: application/json)")
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise StudyError(400, "expected a JSON object") from None
    if not isinstance(data, dict):
        raise StudyError(400, "expected a JSON object")
    stack = [data]
    while stack:
        value = stack.pop()
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        )
        for key, item in items:
            for text in (key, item):
                if isinstance(text, str):
                    check_text(text)
            if isinstance(item, (dict, list)):
                stack.append(item)
    return data


def _text_id(data: dict, key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ID.match(value):
        raise StudyError(400, f"{key} must be 1–128 letters, digits or _.:-")
    return value


def _number(data: dict, key: str, low: float, high: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise StudyError(400, f"{key} must be a number in [{low}, {high}]")
    return float(value)


def _token(data: dict) -> str:
    token = data.get("token")
    return token if isinstance(token, str) and len(token) <= 128 else ""


@task.get("/")
@task.get("/task")
def page():
    """The task page; once an active study is complete, a page that says so instead."""
    study = _study()
    complete = study["planner"].notice() if study["planner"] is not None else None
    config, layout = study["config"], LAYOUTS[study["config"].layout]
    return render_template(
        "task.html",
        config=config,
        layout=layout,
        complete=complete,
        layout_settings=layout.settings_of(config),
        preview=request.args.get("assignmentId") == PREVIEW,
    )


@task.get("/img/<name>.png")
def image(name: str):
    path = _study()["images"].get(name)
    if path is None or not path.is_file():
        abort(404, "no such image")
    response = Response(_png_named(_file_bytes(path), name), mimetype="image/png")
    # The URL names one side of one trial for the life of the study: browsers may keep it a day.
    response.set_etag(name)
    response.cache_control.max_age = 86400
    return response.make_conditional(request)


@lru_cache(maxsize=4096)
def _file_bytes(path) -> bytes:
    return path.read_bytes()


def _png_named(png: bytes, name: str) -> bytes:
    """The PNG with a text chunk holding its URL's name after the header: the same pixels, but
    bytes of their own for every URL, so a hash of the file does not tell that a repeat shows
    an image seen before (PNG spec §11.3.4: tEXt; §5.3: chunk layout)."""
    header_end = 8 + 25  # signature, then IHDR (4 length + 4 type + 13 + 4 CRC)
    data = b"Comment\x00" + name.encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:header_end] + chunk + png[header_end:]


@task.get("/api/preview")
def preview():
    """The first trial of the first assignment, for MTurk's preview: nothing is claimed."""
    engine = _study()["engine"]
    first = database.trials_of(engine, assignment_id(1))[:1]
    return jsonify(trials=[_trial_json(t) for t in first])


def _trial_json(t) -> dict:
    from . import image_id

    secret = _study()["secret"]
    return {
        "id": t.id,
        **{side: f"/img/{image_id(secret, t.id, side)}.png" for side in ("reference", "left", "right")},
    }


def _who(data: dict) -> tuple[str, str, dict | None]:
    """(rater, source, external ids) from the task URL's parameters."""
    if "workerId" in data:
        rater = _text_id(data, "workerId")
        assignment = _text_id(data, "assignmentId")
        if assignment == PREVIEW:
            raise StudyError(403, "this is a preview: accept the HIT to start")
        submit_to = data.get("turkSubmitTo")
        if not isinstance(submit_to, str) or submit_to.rstrip("/") not in MTURK_HOSTS:
            raise StudyError(400, f"turkSubmitTo must be one of {', '.join(MTURK_HOSTS)}")
        return (
            rater,
            "mturk",
            {
                "assignmentId": assignment,
                "hitId": _text_id(data, "hitId"),
                "turkSubmitTo": submit_to.rstrip("/"),
            },
        )
    if "PROLIFIC_PID" in data:
        return (
            _text_id(data, "PROLIFIC_PID"),
            "prolific",
            {
                "STUDY_ID": _text_id(data, "STUDY_ID", False),
                "SESSION_ID": _text_id(data, "SESSION_ID", False),
            },
        )
    return _text_id(data, "rater"), "lab", None


@task.post("/api/session")
def session():
    """Resume this browser's lease (its token) or lease the next free assignment."""
    data = _payload()
    rater, source, external = _who(data)
    study = _study()
    config, engine = study["config"], study["engine"]
    token = data.get("token")
    if token is not None and not (isinstance(token, str) and _SECRET.match(token)):
        raise StudyError(400, "token must be 32–128 letters, digits, _ or -")
    assignment, token = database.start_session(
        engine,
        f"{source}:{rater}",
        source,
        external,
        token or "",
        limit=config.assignments_per_rater,
        lease_seconds=config.lease_seconds,
        planner=study["planner"],
        client=request.remote_addr,
        client_limit=config.claims_per_client,
    )
    trials, answered = database.lease_view(engine, assignment)
    return jsonify(
        token=token,
        assignment=assignment.id,
        trials=[_trial_json(t) for t in trials],
        answered=sorted(answered),
        finished=assignment.finished_at is not None,
        expires_in_s=None if assignment.finished_at else round(assignment.expires_s - time.time()),
    )


@task.post("/api/response")
def response():
    data = _payload()
    choice = data.get("choice")
    choices = ("left", "right", "not_sure") if _study()["config"].not_sure else ("left", "right")
    if choice not in choices:
        raise StudyError(400, f"choice must be {' or '.join(map(repr, choices))}")
    token = _token(data)
    answer = database.Answer(
        _text_id(data, "trial"),
        choice,
        response_ms=_number(data, "response_ms", 0, 1e8),
        magnifier_ms=_number(data, "magnifier_ms", 0, 1e8),
        viewport_w=int(_number(data, "viewport_w", 1, 100000)),
        viewport_h=int(_number(data, "viewport_h", 1, 100000)),
        device_pixel_ratio=_number(data, "device_pixel_ratio", 0.1, 16),
        **_layout_measures(data),
    )
    stored_now = database.record_response(_study()["engine"], token, answer)
    return jsonify(stored=True, duplicate=not stored_now), 201 if stored_now else 200


def _layout_measures(data: dict) -> dict:
    """The measures the study's layout sends with an answer, each checked against its range (and
    a count for a whole number)."""
    measures = {
        m.name: (m, _number(data, m.name, m.low, m.high)) for m in LAYOUTS[_study()["config"].layout].measures
    }
    for name, (m, value) in measures.items():
        if m.integer and not value.is_integer():
            raise StudyError(400, f"{name} must be a whole number")
    return {name: int(value) if m.integer else value for name, (m, value) in measures.items()}


@task.post("/api/finish")
def finish():
    """Confirm every answer is stored, then say how to complete: MTurk form, Prolific link or code."""
    data = _payload()
    engine = _study()["engine"]
    assignment = database.assignment_for(engine, _token(data))
    comment = data.get("comment") or None
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise StudyError(400, "comment must be text of at most 2000 characters")
    config = _study()["config"]
    prefix = f"{config.completion_code}-" if config.completion_code else ""
    code = database.finish(engine, assignment, comment, prefix)
    if assignment.source == "mturk":
        return jsonify(
            done=True,
            code=code,
            mturk={
                "action": f"{assignment.external['turkSubmitTo']}/mturk/externalSubmit",
                "assignmentId": assignment.external["assignmentId"],
            },
        )
    if assignment.source == "prolific" and config.prolific_completion_url:
        return jsonify(done=True, code=code, redirect=config.prolific_completion_url)
    return jsonify(done=True, code=code)
