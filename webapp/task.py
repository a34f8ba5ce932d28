"""The rater's side: the task page, its JSON API, and the images it shows."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_file

from evalkit.study import database
from evalkit.study.design import assignment_id
from evalkit.study.database import StudyError

task = Blueprint("task", __name__)

PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")


def _study():
    return current_app.extensions["evalkit"]


def _payload() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise StudyError(400, "expected a JSON object")
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
    return token if isinstance(token, str) else ""


def _image_url(path: str) -> str:
    from . import image_id
    return f"/img/{image_id(path)}.png"


@task.get("/")
@task.get("/task")
def page():
    config = _study()["config"]
    return render_template("task.html", config=config,
                           preview=request.args.get("assignmentId") == PREVIEW)


@task.get("/img/<name>.png")
def image(name: str):
    path = _study()["images"].get(name)
    if path is None or not path.is_file():
        abort(404, "no such image")
    # The URL names the image for the life of the study: browsers may keep it for a day.
    return send_file(path, mimetype="image/png", conditional=True, etag=True, max_age=86400)


@task.get("/api/preview")
def preview():
    """The first trial of the first assignment, for MTurk's preview: nothing is claimed."""
    engine = _study()["engine"]
    first = database.trials_of(engine, assignment_id(1))[:1]
    return jsonify(trials=[_trial_json(t) for t in first])


def _trial_json(t) -> dict:
    return {"id": t.id, "reference": _image_url(t.reference), "left": _image_url(t.left_path),
            "right": _image_url(t.right_path)}


@task.post("/api/session")
def session():
    """Claim (or resume) the rater's assignment; returns its session token and trials."""
    data = _payload()
    if "workerId" in data:
        rater, source = _text_id(data, "workerId"), "mturk"
        assignment_id = _text_id(data, "assignmentId")
        if assignment_id == PREVIEW:
            raise StudyError(403, "this is a preview: accept the HIT to start")
        submit_to = data.get("turkSubmitTo")
        if not isinstance(submit_to, str) or submit_to.rstrip("/") not in MTURK_HOSTS:
            raise StudyError(400, f"turkSubmitTo must be one of {', '.join(MTURK_HOSTS)}")
        external = {"assignmentId": assignment_id, "hitId": _text_id(data, "hitId"),
                    "turkSubmitTo": submit_to.rstrip("/")}
    elif "PROLIFIC_PID" in data:
        rater, source = _text_id(data, "PROLIFIC_PID"), "prolific"
        external = {"STUDY_ID": _text_id(data, "STUDY_ID", False),
                    "SESSION_ID": _text_id(data, "SESSION_ID", False)}
    else:
        rater, source, external = _text_id(data, "rater"), "lab", None
    engine = _study()["engine"]
    assignment = database.claim(engine, f"{source}:{rater}", source, external)
    trials = database.trials_of(engine, assignment.id)
    return jsonify(token=assignment.token, assignment=assignment.id,
                   trials=[_trial_json(t) for t in trials],
                   answered=sorted(database.answered(engine, assignment.id)))


@task.post("/api/response")
def response():
    data = _payload()
    choice = data.get("choice")
    if choice not in ("left", "right"):
        raise StudyError(400, "choice must be 'left' or 'right'")
    stored_now = database.record_response(
        _study()["engine"], _token(data), _text_id(data, "trial"), choice,
        response_ms=_number(data, "response_ms", 0, 1e8),
        magnifier_ms=_number(data, "magnifier_ms", 0, 1e8),
        viewport_w=int(_number(data, "viewport_w", 1, 100000)),
        viewport_h=int(_number(data, "viewport_h", 1, 100000)),
        dpr=_number(data, "device_pixel_ratio", 0.1, 16), **_flip_record(data))
    return jsonify(stored=True, duplicate=not stored_now), 201 if stored_now else 200


def _flip_record(data: dict) -> dict:
    """The flip layout's extra fields, checked; absent (None) for side by side."""
    if _study()["config"].layout != "flip":
        return {}
    return {"flips": int(_number(data, "flips", 0, 100000)),
            "left_view_ms": _number(data, "left_view_ms", 0, 1e8),
            "right_view_ms": _number(data, "right_view_ms", 0, 1e8)}


@task.post("/api/finish")
def finish():
    """Confirm every answer is stored, then say how to complete: MTurk form, Prolific link or code."""
    data = _payload()
    engine = _study()["engine"]
    assignment = database.assignment_for(engine, _token(data))
    comment = data.get("comment") or None
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise StudyError(400, "comment must be text of at most 2000 characters")
    database.finish(engine, assignment, comment)
    config = _study()["config"]
    if assignment.source == "mturk":
        return jsonify(done=True, mturk={"action": f"{assignment.external['turkSubmitTo']}/mturk/externalSubmit",
                                         "assignmentId": assignment.external["assignmentId"]})
    if assignment.source == "prolific" and config.prolific_completion_url:
        return jsonify(done=True, redirect=config.prolific_completion_url)
    return jsonify(done=True, code=config.completion_code or assignment.id)
