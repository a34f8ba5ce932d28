"""The researcher's side, behind the admin token: progress, rater quality, releases, exports.

The token never travels in a URL (URLs end up in access logs, browser history and Referer
headers): a browser posts it once to ``/admin/login`` and gets an HttpOnly, SameSite=Strict
cookie holding an HMAC of it; scripts send ``Authorization: Bearer TOKEN``. Every admin
response is ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict

import pandas as pd
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for

from evalkit.study import database, responses

admin = Blueprint("admin", __name__, url_prefix="/admin")
COOKIE = "evalkit_admin"


def _session_value(token: str) -> str:
    return hmac.new(token.encode(), b"evalkit admin session", hashlib.sha256).hexdigest()


def _given_token_ok(given: str) -> bool:
    expected = current_app.extensions["evalkit"]["admin_token"]
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


@admin.before_request
def require_login():
    if request.endpoint in ("admin.login_form", "admin.login"):
        return None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _given_token_ok(header.removeprefix("Bearer ").strip()):
        return None
    cookie = request.cookies.get(COOKIE, "")
    expected = _session_value(current_app.extensions["evalkit"]["admin_token"])
    if hmac.compare_digest(cookie.encode("utf-8", "replace"), expected.encode()):
        return None
    abort(403, "log in at /admin/login (or send Authorization: Bearer TOKEN)")


@admin.get("/login")
def login_form():
    return render_template("admin_login.html", failed=False)


@admin.post("/login")
def login():
    if not _given_token_ok(request.form.get("token", "")):
        return render_template("admin_login.html", failed=True), 403
    response = redirect(url_for("admin.overview"), code=303)
    response.set_cookie(
        COOKIE,
        _session_value(current_app.extensions["evalkit"]["admin_token"]),
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/admin",
    )
    return response


@admin.post("/logout")
def logout():
    response = redirect(url_for("admin.login_form"), code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


@admin.post("/release")
def release():
    """End an unfinished lease (a rater who lost their session, an abandoned HIT)."""
    assignment = request.form.get("assignment", "")
    if not database.release(current_app.extensions["evalkit"]["engine"], assignment):
        abort(409, f"{assignment!r} is not an unfinished, leased assignment")
    return redirect(url_for("admin.overview"), code=303)


def _csv(frame, name: str) -> Response:
    return Response(
        frame.to_csv(index=False),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


def _wanted(study) -> int | None:
    """Judgements wanted per pair: the fixed design's; an active study has no fixed number."""
    return None if study["planner"] is not None else study["config"].judgements_per_pair


@admin.get("/")
def overview():
    study = current_app.extensions["evalkit"]
    per_pair, per_assignment = responses.progress(study["engine"], _wanted(study))
    quality = responses.rater_quality(study["engine"])
    progress = study["planner"].progress() if study["planner"] is not None else None
    gaps = (
        pd.DataFrame(map(asdict, progress.gaps)).rename(columns={"width": "ci95_width"}) if progress else None
    )
    return render_template(
        "admin.html",
        config=study["config"],
        progress=progress,
        gaps=gaps.to_html(index=False, classes="table", float_format="%.2f") if progress else "",
        releasable=per_assignment.loc[per_assignment["state"] == "in progress", "assignment"],
        per_pair=per_pair.to_html(index=False, classes="table"),
        per_assignment=per_assignment.to_html(index=False, classes="table"),
        quality=quality.to_html(index=False, classes="table", float_format="%.3f"),
    )


@admin.get("/export/judgements.csv")
def export_judgements():
    study = current_app.extensions["evalkit"]
    table = responses.judgement_table(
        study["engine"],
        root=study["config"].out_dir,
        min_sentinel_accuracy=request.args.get("min_sentinel_accuracy", type=float),
        min_median_server_s=request.args.get("min_median_server_s", type=float),
    )
    return _csv(table, "judgements.csv")


@admin.get("/export/responses.csv")
def export_responses():
    return _csv(responses.responses(current_app.extensions["evalkit"]["engine"]), "responses.csv")


@admin.get("/export/quality.csv")
def export_quality():
    return _csv(responses.rater_quality(current_app.extensions["evalkit"]["engine"]), "quality.csv")


@admin.get("/export/assignments.csv")
def export_assignments():
    study = current_app.extensions["evalkit"]
    return _csv(responses.progress(study["engine"], _wanted(study))[1], "assignments.csv")
