"""``evalkit study simulate``: a simulated crowd driving a running study server over HTTP.

Each simulated rater makes the requests the task page makes — claim a session, load the three
images of each trial, post each answer, finish — and answers as a :class:`~evalkit.study.crowd.Crowd`
rater would, knowing which codec is where from the study's own ``trials.json`` (the server never
tells). Every HTTP call of the task API is in :class:`TaskClient`, so that a change of the API is a
change here only. Raters run in parallel threads; use it for demos, end-to-end tests and load.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests
from tqdm import tqdm

from ..errors import InputError
from .config import StudyConfig
from .crowd import Crowd
from .database import Answer, planned_trial
from .design import Design
from .layouts import LAYOUTS


class _TrialLookup:
    """Trial id → planned trial: from trials.json, else (an active study) from the database."""

    def __init__(self, design: Design, engine=None):
        self.known = {t.id: t for assignment in design.assignments for t in assignment}
        self.engine = engine

    def get(self, trial_id: str):
        if trial_id not in self.known and self.engine is not None:
            found = planned_trial(self.engine, trial_id)
            if found is not None:
                self.known[trial_id] = found
        return self.known.get(trial_id)


#: Tries per request when the connection fails (the task page re-sends too: webapp/static/task.js).
ATTEMPTS = 4


class TaskClient:
    """The task page's side of the HTTP API, for one rater."""

    def __init__(self, url: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.timeout = timeout
        self.token = secrets.token_urlsafe(32)  # the session secret, drawn as the page draws it
        self.study_complete = False

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request, sent again on a new connection when the connection fails before an
        answer arrives, as the task page re-sends. A server may close an idle keep-alive
        connection at any moment, so a request sent on it just then meets a reset (RFC 9112
        §9.3.1, which lets clients retry such requests); every call of the task API may be
        repeated, the server storing a repeated answer once. An HTTP error status is returned,
        not re-sent, so that a server's errors show."""
        url = f"{self.url}{path}"
        for attempt in range(ATTEMPTS - 1):
            try:
                return self.http.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError:
                time.sleep(0.1 * 2**attempt)
        return self.http.request(method, url, timeout=self.timeout, **kwargs)

    def _post(self, path: str, body: dict) -> requests.Response:
        return self._request("POST", path, json=body)

    def start(self, rater: str) -> dict | None:
        """Claim (or resume) an assignment: {"assignment", "trials", "answered"}; None when every
        assignment is taken or the study is complete (``self.study_complete`` says which)."""
        reply = self._post("/api/session", {"rater": rater, "token": self.token})
        if reply.status_code == 409:
            self.study_complete = bool(reply.json().get("complete"))
            return None
        reply.raise_for_status()
        return reply.json()

    def load_images(self, trial: dict) -> int:
        """Fetch the trial's images as the browser does; returns the bytes received."""
        size = 0
        for side in ("reference", "left", "right"):
            reply = self._request("GET", trial[side])
            reply.raise_for_status()
            size += len(reply.content)
        return size

    def answer(self, answer: Answer) -> None:
        """Post ``answer`` as the task page does: each field under its name (a layout's measures,
        when None, left out), beside the session's token."""
        sent = {name: value for name, value in asdict(answer).items() if value is not None}
        reply = self._post("/api/response", {"token": self.token, **sent})
        reply.raise_for_status()

    def finish(self) -> dict:
        reply = self._post("/api/finish", {"token": self.token})
        reply.raise_for_status()
        return reply.json()


@dataclass
class SimulationSummary:
    kinds: dict[str, str] = field(default_factory=dict)  # stored rater id → simulated kind
    answers: int = 0
    finished: int = 0
    turned_away: int = 0  # every assignment was taken
    complete: bool = False  # … because the study was complete
    image_bytes: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(self.kinds.values()).items()))
        return (
            f"{len(self.kinds)} simulated raters ({kinds}): {self.answers} answers stored, "
            f"{self.finished} assignments finished, {self.turned_away} raters turned away "
            f"({'the study is complete' if self.complete else 'no free assignment'}), "
            f"{self.image_bytes / 1e6:.1f} MB of images in {self.seconds:.1f} s"
        )


def simulate_crowd(
    design: Design,
    config: StudyConfig,
    url: str,
    crowd: Crowd,
    raters: int,
    concurrency: int = 4,
    load_images: bool = True,
    time_scale: float = 0.0,
    progress: bool = True,
    prefix: str = "sim",
    engine=None,
) -> SimulationSummary:
    """Send ``raters`` simulated raters to the study (``config``, its trial set ``design``)
    served at ``url``; each answer carries what the study's layout measures. ``time_scale`` = 1
    waits each simulated response time for real (so server-side timing sees it); 0 answers at
    once. An active study's trials are planned as raters claim them and are in no trials.json:
    the crowd looks them up in the study's database (``engine``)."""
    if raters < 1 or concurrency < 1:
        raise InputError("--raters and --concurrency must be at least 1")
    if design.active and engine is None:
        raise InputError("an active study's trials are only in its database: give the database")
    trials, layout = _TrialLookup(design, engine), LAYOUTS[config.layout]
    summary = SimulationSummary()
    started = time.perf_counter()
    bar = tqdm(total=raters, desc="simulated raters", unit="rater", disable=not progress)

    def one(number: int):
        rater = crowd.rater(f"{prefix}-{number:04d}")
        client = TaskClient(url)
        session = client.start(rater.id)
        if session is None:
            summary.complete |= client.study_complete
            return rater, None, 0, 0, False
        done, size, answers = set(session["answered"]), 0, 0
        todo = session["trials"][: rater.stops_after(len(session["trials"]))]
        for trial in todo:
            if trial["id"] in done:
                continue
            planned = trials.get(trial["id"])
            if planned is None:
                raise InputError(
                    f"the server at {url} serves trial {trial['id']!r}, which is not in this "
                    "study's trials.json or database: is it serving another study?"
                )
            if load_images:
                size += client.load_images(trial)
            reply = crowd.answer(rater, planned)
            time.sleep(reply.response_ms / 1000 * time_scale)
            client.answer(
                Answer(
                    trial["id"],
                    reply.choice,
                    reply.response_ms,
                    reply.magnifier_ms,
                    viewport_w=1920,
                    viewport_h=1080,
                    device_pixel_ratio=1.0,
                    **layout.simulated_measures(config, reply.response_ms),
                )
            )
            answers += 1
        finished = len(todo) == len(session["trials"])
        if finished:
            client.finish()
        return rater, session, size, answers, finished

    with ThreadPoolExecutor(concurrency) as pool:
        for rater, session, size, answers, finished in pool.map(one, range(1, raters + 1)):
            bar.update()
            if session is None:
                summary.turned_away += 1
                continue
            summary.kinds[f"lab:{rater.id}"] = rater.kind
            summary.answers += answers
            summary.image_bytes += size
            summary.finished += finished
    bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


#: The served crowd waits this fraction of each simulated response time, so the server's clock
#: sees attentive raters take ~1.2 s (median) and careless ones ~0.15 s: the fast-answer rule
#: (0.6 s) then screens out the careless ones and keeps the attentive ones.
SERVED_TIME_SCALE = 0.4


def write_rater_kinds(summary: SimulationSummary, config: StudyConfig) -> Path:
    """``out/simulated_raters.csv``: each simulated rater's true kind, which the analysis's
    screening can be checked against."""
    path = config.out_dir / "simulated_raters.csv"
    path.write_text("rater,kind\n" + "".join(f"{r},{k}\n" for r, k in summary.kinds.items()))
    return path


def crowd_on_served_study(
    config: StudyConfig,
    design: Design,
    database_url: str,
    crowd: Crowd,
    raters: int | None = None,
    time_scale: float = SERVED_TIME_SCALE,
    progress: bool = True,
) -> SimulationSummary:
    """The study served on loopback (:func:`~evalkit.study.server.served`) and answered over
    HTTP by ``raters`` simulated raters (default: one per assignment), their kinds written
    beside the study's database."""
    from .server import served

    with served(config, database_url) as url:
        summary = simulate_crowd(
            design,
            config,
            url,
            crowd,
            raters or len(design.assignments),
            concurrency=8,
            time_scale=time_scale,
            progress=progress,
        )
    write_rater_kinds(summary, config)
    return summary
