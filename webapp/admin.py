"""The researcher's side, behind the admin token: progress, rater quality, exports."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, render_template, request

from evalkit.study import analysis

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.before_request
def require_token():
    expected = current_app.extensions["evalkit"]["admin_token"]
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else request.args.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        abort(403, "admin token required (Authorization: Bearer TOKEN, or ?token=TOKEN)")


def _csv(frame, name: str) -> Response:
    return Response(frame.to_csv(index=False), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@admin.get("/")
def overview():
    study = current_app.extensions["evalkit"]
    per_pair, per_assignment = analysis.progress(study["engine"], study["config"].judgements_per_pair)
    quality = analysis.rater_quality(study["engine"])
    token = request.args.get("token", "")
    return render_template("admin.html", config=study["config"], token=token,
                           per_pair=per_pair.to_html(index=False, classes="table"),
                           per_assignment=per_assignment.to_html(index=False, classes="table"),
                           quality=quality.to_html(index=False, classes="table", float_format="%.3f"))


@admin.get("/export/judgements.csv")
def export_judgements():
    study = current_app.extensions["evalkit"]
    minimum = request.args.get("min_sentinel_accuracy", type=float)
    table = analysis.judgement_table(study["engine"], root=study["config"].out_dir,
                                     min_sentinel_accuracy=minimum)
    return _csv(table, "judgements.csv")


@admin.get("/export/responses.csv")
def export_responses():
    return _csv(analysis.responses(current_app.extensions["evalkit"]["engine"]), "responses.csv")


@admin.get("/export/quality.csv")
def export_quality():
    return _csv(analysis.rater_quality(current_app.extensions["evalkit"]["engine"]), "quality.csv")
