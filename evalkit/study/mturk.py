"""MTurk ExternalQuestion: the XML that points a HIT at the task page, and the HIT parameters."""

from __future__ import annotations

from xml.sax.saxutils import escape

from ..errors import InputError
from .config import StudyConfig

EXTERNAL_QUESTION_SCHEMA = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)


def external_question(task_url: str, frame_height: int = 0) -> str:
    """ExternalQuestion XML; MTurk appends assignmentId, hitId, workerId and turkSubmitTo to
    ``task_url``. A frame height of 0 lets the page use the full window."""
    if not task_url.startswith("https://"):
        raise InputError("MTurk requires the task URL to use https://")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_SCHEMA}">\n'
        f"  <ExternalURL>{escape(task_url)}</ExternalURL>\n"
        f"  <FrameHeight>{frame_height}</FrameHeight>\n"
        f"</ExternalQuestion>\n"
    )


def hit_parameters(config: StudyConfig, assignments: int, task_url: str) -> dict:
    """Arguments for boto3's ``mturk.create_hit`` (one HIT, one MTurk assignment per study
    assignment, each worker at most once)."""
    reward = config.reward.lstrip("$") or "0.00"
    return {
        "Title": config.title,
        "Description": f"Compare compressed images with their original ({config.minutes} min).",
        "Keywords": "image, quality, comparison, perception",
        "Reward": reward,
        "MaxAssignments": assignments,
        "AssignmentDurationInSeconds": config.lease_seconds,  # the server's lease expires with it
        "LifetimeInSeconds": 7 * 24 * 3600,
        "AutoApprovalDelayInSeconds": 3 * 24 * 3600,
        "Question": external_question(task_url),
    }
