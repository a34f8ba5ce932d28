"""What a study's responses say: judgement tables for ``evalkit fit``, rater quality, progress."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import screening
from .comparisons import settle_not_sure, split_not_sure
from .database import Assignment, Response, Trial
from .layouts import MEASURES


def response_query():
    """The SELECT of stored responses with their trials and their assignment's lease state
    (``current_lease``, ``finished_at``, ``expires_s``), in the order they were stored; callers
    add WHERE clauses (the active planner reads only the assignments it needs)."""
    return (
        select(
            Response.id.label("response_id"),
            Response.rater,
            Response.assignment_id.label("assignment"),
            Response.lease,
            Response.trial_id.label("trial"),
            Trial.kind,
            Trial.image,
            Trial.target_bpp,
            Trial.reference,
            Response.left_codec,
            Trial.left_path,
            Trial.left_bpp,
            Response.right_codec,
            Trial.right_path,
            Trial.right_bpp,
            Response.choice,
            Response.chosen_codec,
            Trial.correct,
            Trial.repeat_of,
            Response.response_ms,
            Response.server_ms,
            Response.magnifier_ms,
            Response.viewport_w,
            Response.viewport_h,
            Response.device_pixel_ratio,
            Response.stored_at,
            *(Response.__table__.c[m.name] for m in MEASURES),
            Assignment.lease.label("current_lease"),
            Assignment.finished_at,
            Assignment.expires_s,
        )
        .join(Trial, Trial.id == Response.trial_id)
        .join(Assignment, Assignment.id == Response.assignment_id)
        .order_by(Response.id)
    )


def responses(engine) -> pd.DataFrame:
    """Every stored response with its trial (raw export). ``server_ms`` is the server's own
    timing (since the lease's previous answer or session request) beside the page's
    ``response_ms``; ``abandoned`` marks answers of a lease that expired unfinished or was
    released (kept, but left out of the judgements)."""
    table = _frame(engine, response_query())
    table["abandoned"] = (table["lease"] != table["current_lease"]) | (
        table["finished_at"].isna() & (table["expires_s"] <= time.time())
    )
    return table.drop(columns=["current_lease", "finished_at", "expires_s"])


def _frame(engine, query) -> pd.DataFrame:
    """The rows of ``query``, one column per selected column, named by its label."""
    with Session(engine) as s:
        return pd.DataFrame(s.execute(query).all(), columns=list(query.selected_columns.keys()))


def rater_quality(engine) -> pd.DataFrame:
    """Per rater: answers, sentinel accuracy, repeat consistency, response times (as the page
    and as the server measured them) and magnifier use (see
    :func:`evalkit.study.screening.rater_quality`)."""
    return screening.rater_quality(responses(engine))


def judgement_table(
    engine,
    root: str | Path | None = None,
    min_sentinel_accuracy: float | None = None,
    min_median_server_s: float | None = None,
    not_sure: str = "split",
) -> pd.DataFrame:
    """Votes per compared pair in the format ``evalkit fit`` reads (see :func:`judgements_of`),
    leaving out abandoned leases' answers, raters below ``min_sentinel_accuracy`` and raters whose
    median answer time as the server measured it is below ``min_median_server_s`` (a bot answers
    in milliseconds); a not-sure answer is half a vote each way (``not_sure="split"``) or none
    (``"drop"``)."""
    r = responses(engine)
    r = r[~r["abandoned"]]
    quality = screening.rater_quality(r).set_index("rater")
    for column, minimum in (
        ("sentinel_accuracy", min_sentinel_accuracy),
        ("median_server_s", min_median_server_s),
    ):
        if minimum is not None:
            keep = quality.index[quality[column].astype(float).fillna(0) >= minimum]
            r = r[r["rater"].isin(keep)]
    return judgements_of(settle_not_sure(r, not_sure), root)


JUDGEMENT_COLUMNS = [
    "reference",
    "a",
    "b",
    "n_a",
    "n_b",
    "codec_a",
    "codec_b",
    "bpp_a",
    "bpp_b",
    "image",
    "target_bpp",
]


def judgements_of(r: pd.DataFrame, root: str | Path | None = None) -> pd.DataFrame:
    """Votes per compared pair of raw responses, in the format ``evalkit fit`` reads (reference,
    a, b, n_a, n_b, codec_a, codec_b, bpp_a, bpp_b, plus image and target_bpp). A is the codec
    first in alphabetical order, whichever side it was shown on. Repeats and sentinels are quality
    checks, not judgements, and are left out; a not-sure answer counts as its responses were settled
    (:func:`~evalkit.study.comparisons.settle_not_sure`; else half a vote each way). Paths are relative to the study's output folder, or
    absolute under ``root``."""
    r = r[r["kind"] == "pair"]
    if "weight" not in r:
        r = split_not_sure(r, "choice", "split")
    if r.empty:
        return pd.DataFrame(columns=JUDGEMENT_COLUMNS)
    weight = r["weight"].to_numpy(dtype=float)
    left_first = r["left_codec"] <= r["right_codec"]
    pick = lambda first, second: np.where(left_first, r[first], r[second])
    votes = pd.DataFrame(
        {
            "reference": r["reference"],
            "a": pick("left_path", "right_path"),
            "b": pick("right_path", "left_path"),
            "codec_a": pick("left_codec", "right_codec"),
            "codec_b": pick("right_codec", "left_codec"),
            "bpp_a": pick("left_bpp", "right_bpp"),
            "bpp_b": pick("right_bpp", "left_bpp"),
            "image": r["image"],
            "target_bpp": r["target_bpp"],
            "chose_a": (r["choice"] == np.where(left_first, "left", "right")) * weight,
            "weight": weight,
        }
    )
    keys = ["reference", "a", "b", "codec_a", "codec_b", "bpp_a", "bpp_b", "image", "target_bpp"]
    table = votes.groupby(keys, sort=True).agg(n_a=("chose_a", "sum"), n=("weight", "sum")).reset_index()
    table["n_b"] = table.pop("n") - table["n_a"]
    if root is not None:
        for column in ("reference", "a", "b"):
            table[column] = [str(Path(root, p).resolve()) for p in table[column]]
    return table[JUDGEMENT_COLUMNS]


def progress(engine, judgements_per_pair: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per pair: judgements received of those wanted — no ``wanted`` column for an active
    study, which wants no fixed number; per assignment: rater, lease, answered, state, completion
    code and the rater's comment — plain text, escaped wherever it is shown)."""
    r = responses(engine)
    pairs = r[(r["kind"] == "pair") & ~r["abandoned"]]
    per_pair = (
        pairs.assign(pair=[" vs ".join(sorted(p)) for p in zip(pairs["left_codec"], pairs["right_codec"])])
        .groupby(["image", "target_bpp", "pair"])
        .size()
        .rename("received")
        .reset_index()
    )
    if judgements_per_pair is not None:
        per_pair["wanted"] = judgements_per_pair
    per_assignment = _frame(
        engine,
        select(
            Assignment.id.label("assignment"),
            Assignment.rater,
            Assignment.source,
            Assignment.lease,
            Assignment.claimed_at,
            Assignment.expires_s,
            Assignment.finished_at,
            Assignment.completion_code,
            Assignment.comment,
        ).order_by(Assignment.position),
    )
    with Session(engine) as s:
        totals = dict(
            s.execute(select(Trial.assignment_id, func.count()).group_by(Trial.assignment_id)).all()
        )
    current_lease = dict(zip(per_assignment["assignment"], per_assignment["lease"]))
    counts = r[r["lease"] == r["assignment"].map(current_lease)].groupby("assignment").size()
    leased = per_assignment["expires_s"].fillna(0) > time.time()
    per_assignment["answered"] = [int(counts.get(a, 0)) for a in per_assignment["assignment"]]
    per_assignment["trials"] = [int(totals.get(a, 0)) for a in per_assignment["assignment"]]
    per_assignment["state"] = np.select(
        [per_assignment["finished_at"].notna(), leased, per_assignment["lease"] > 0],
        ["finished", "in progress", "expired (open again)"],
        "open",
    )
    per_assignment["expires_at"] = pd.to_datetime(per_assignment.pop("expires_s"), unit="s", utc=True)
    return per_pair, per_assignment
