"""Active-study claims under a burst: 50 raters claiming at once on an active study served by
gunicorn (2 workers) on loopback, on SQLite and on PostgreSQL, beside the anchor — the same
study, server flags and clients against another checkout of evalkit (``--anchor``, e.g. main:
``git worktree add /tmp/main-anchor main``), measured in the same run.

For each database and each code, at 1k and at 20k stored answers (finished assignments of
random planned pairs, written straight into the database before the server starts):

* claim time: the median of 10 claims one after another (target: the 20k figure within 1.5×
  of the 1k figure — a claim's cost must not grow with the study);
* the burst: 50 claims sent at once (a barrier), their 5xx count (target 0; a request that
  fails without an answer counts too) and p99 latency (target < 2 s on a 2-core machine).

Then the stop rule: a fresh study with a budget of ``--budget`` judgements, 80 simulated raters
(no careless, inverted or abandoning ones) ``--crowd`` at a time, answering at the served crowd's pace;
the kept judgements at the end against the budget (target: within 5 %).

    .venv/bin/python bench/active_claims.py --anchor /tmp/main-anchor [--postgres URL]

(``git archive 7fac97a | tar -x -C /tmp/main-anchor`` makes such a checkout of a commit.)

``--postgres`` defaults to ``$EVALKIT_TEST_POSTGRES_URL``; the benchmark empties that database.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import create_engine, insert, update
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from evalkit.study import responses
from evalkit.study.config import load_config
from evalkit.study.crowd import Crowd, CrowdModel
from evalkit.study.database import Assignment, Base, Response, _insert_assignments, connect
from evalkit.study.design import Design, assignment_id, assignment_of_pairs, build_study
from evalkit.study.sampling import ActiveSampler
from evalkit.study.server import free_port, gunicorn_command, wait_until_up
from evalkit.study.simulate import SERVED_TIME_SCALE, simulate_crowd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "studies" / "samples-demo" / "study.toml"
BURST, SERIAL, SIZES = 50, 10, (1_000, 20_000)
WAIT = 120  # s: a claim not answered by then counts as failed (599)


def study_files(folder: Path, budget: int, anchor: Path | None = None) -> tuple[Path, Path]:
    """(ours, anchor's) study.toml of the active samples study with ``budget``; each lets every
    rater of this benchmark, who all come from 127.0.0.1, hold a lease (``claims_per_client``)
    where its code knows that key (the ``anchor`` checkout's, if given, is read to see)."""
    text = EXAMPLE.read_text().replace('name = "samples-demo"', 'name = "active-claims"')
    text += f'sampling = "active"\nstop_when = {{ judgements = {budget} }}\n'
    limit = "claims_per_client = 1000\n"
    knows = anchor is not None and "claims_per_client" in (anchor / "evalkit/study/config.py").read_text()
    (folder / "ours").mkdir(parents=True, exist_ok=True)
    (folder / "anchor").mkdir(exist_ok=True)
    (folder / "ours" / "study.toml").write_text(text + limit)
    (folder / "anchor" / "study.toml").write_text(text + (limit if knows else ""))
    if not (folder / "anchor" / "out").exists():
        (folder / "anchor" / "out").symlink_to(folder / "ours" / "out")
    return folder / "ours" / "study.toml", folder / "anchor" / "study.toml"


def fresh(url: str) -> str:
    """``url`` emptied (PostgreSQL) or a new SQLite file name."""
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()
    return url


def fill(url: str, toml: Path, answers: int, seed: int = 0) -> None:
    """``answers`` stored answers: finished assignments of random planned pairs (sentinels
    answered rightly, the rest at random, at a person's pace), one rater each."""
    config, rng = load_config(toml), np.random.default_rng(seed)
    design = Design.load(config.trials_path)
    engine = connect(url)
    now, rows, number = time.time(), [], 0
    pairs_per = config.trials_per_assignment - config.repeats_per_assignment - config.sentinels_per_assignment
    with Session(engine) as s, s.begin():
        while len(rows) < answers:
            number += 1
            chosen = rng.choice(len(design.pairs), pairs_per, replace=False)
            trials = assignment_of_pairs(
                number,
                [(design.pairs[n], bool(rng.integers(2))) for n in chosen],
                config,
                design.sentinels,
                rng,
            )
            aid, rater = assignment_id(number), f"lab:fill-{number}"
            _insert_assignments(s, [(number, aid, trials)])
            s.execute(
                update(Assignment)
                .where(Assignment.id == aid)
                .values(
                    lease=1,
                    rater=rater,
                    source="lab",
                    expires_s=now - 1,
                    session_s=now - 1000,
                    claimed_at=datetime.now(UTC),
                    finished_at=datetime.now(UTC),
                )
            )
            for k, t in enumerate(trials):
                choice = t.correct if t.kind == "sentinel" else ("left", "right")[int(rng.integers(2))]
                rows.append(
                    {
                        "trial_id": t.id,
                        "assignment_id": aid,
                        "lease": 1,
                        "rater": rater,
                        "choice": choice,
                        "chosen_codec": (t.left if choice == "left" else t.right).codec,
                        "left_codec": t.left.codec,
                        "right_codec": t.right.codec,
                        "response_ms": 2500,
                        "server_ms": 2500,
                        "received_s": now - 1000 + 3 * k,
                        "magnifier_ms": 0,
                        "viewport_w": 1920,
                        "viewport_h": 1080,
                        "device_pixel_ratio": 1.0,
                        "stored_at": datetime.now(UTC),
                    }
                )
        s.execute(insert(Response), rows)
    if engine.dialect.name == "postgresql":  # statistics, as autovacuum gathers them soon after
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()


class Server:
    """gunicorn (2 workers) serving ``toml`` from the code in ``code`` (its webapp and evalkit)."""

    def __init__(self, toml: Path, url: str, code: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "EVALKIT_STUDY": str(toml),
            "EVALKIT_DATABASE_URL": url,
            "EVALKIT_ADMIN_TOKEN": "bench",
            "PYTHONPATH": str(code),
        }
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            gunicorn_command(f"127.0.0.1:{self.port}", 2),
            env=env,
            cwd=code,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_until_up(self.base, self.process, self.log, 300)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still busy after 10 s (a server still working off a
        backlog of claims)."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def claim(base: str, rater: str) -> tuple[int, float]:
    """(status, seconds) of one claim; status 599 when no answer came within ``WAIT`` s."""
    start = time.perf_counter()
    try:
        status = requests.post(f"{base}/api/session", json={"rater": rater}, timeout=WAIT).status_code
    except requests.RequestException:
        status = 599
    return status, time.perf_counter() - start


def burst(base: str, tag: str) -> tuple[list[int], np.ndarray]:
    results, gate = [None] * BURST, threading.Barrier(BURST)

    def one(n):
        gate.wait()
        results[n] = claim(base, f"{tag}-burst-{n}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [s for s, _ in results], np.array([t for _, t in results])


def measure_claims(url: str, toml: Path, code: Path, answers: int, tag: str) -> dict:
    fill(fresh(url), toml, answers)
    server = Server(toml, url, code)
    try:
        serial = [claim(server.base, f"{tag}-serial-{n}") for n in range(SERIAL)]
        statuses, seconds = burst(server.base, tag)
    finally:
        server.stop()
    return {
        "serial": float(np.median([t for _, t in serial])),
        "serial_ok": sum(s == 200 for s, _ in serial),
        "errors": sum(s >= 500 for s in statuses),
        "p99": float(np.percentile(seconds, 99)),
        "ok": statuses.count(200),
    }


def measure_stop_rule(url: str, toml: Path, code: Path, budget: int, crowd_size: int) -> int:
    """Kept judgements once the crowd is done (the stop rule's own count)."""
    fresh(url)
    config = load_config(toml)
    design = Design.load(config.trials_path)
    connect(url).dispose()  # tables first, so the crowd can read trials
    server = Server(toml, url, code)
    try:
        crowd = Crowd(
            CrowdModel(
                {c: float(k) for k, c in enumerate(config.codecs)}, careless=0, inverted=0, abandons=0, seed=1
            )
        )
        simulate_crowd(
            design,
            config,
            server.base,
            crowd,
            raters=80,
            concurrency=crowd_size,
            load_images=False,
            time_scale=SERVED_TIME_SCALE,
            progress=False,
            engine=connect(url),
        )
    finally:
        server.stop()
    sampler = ActiveSampler(config, design.pairs, design.sentinels)
    return len(sampler.judgements(responses.responses(connect(url))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--anchor", type=Path, required=True, help="a checkout of the code to compare with (main)"
    )
    parser.add_argument("--postgres", default=os.environ.get("EVALKIT_TEST_POSTGRES_URL"))
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--codes", nargs="+", default=["ours", "anchor"])
    parser.add_argument("--no-stop-rule", action="store_true", help="measure the claims only")
    parser.add_argument("--no-claims", action="store_true", help="measure the stop rule only")
    parser.add_argument("--crowd", type=int, default=25, help="simulated raters at once in the stop-rule run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="active-claims-"))
    ours_toml, anchor_toml = study_files(tmp / "study", 10**9, args.anchor)
    build_study(load_config(ours_toml), progress=False)
    databases = {"sqlite": f"sqlite:///{tmp / 'bench.sqlite'}", "postgresql": args.postgres}
    databases = {db: url for db, url in databases.items() if db in args.databases and url}
    codes = {"ours": (ROOT, ours_toml), "anchor": (args.anchor.resolve(), anchor_toml)}
    codes = {name: code for name, code in codes.items() if name in args.codes}
    print(
        f"{BURST} raters claiming at once, gunicorn 2 workers on loopback; anchor: {args.anchor}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    for db, url in databases.items() if not args.no_claims else ():
        for name, (code, toml) in codes.items():
            at = {}
            for size in SIZES:
                m = at[size] = measure_claims(url, toml, code, size, f"{name}-{size}")
                print(
                    f"{db:10s} {name:6s} {size:6d} answers: burst 5xx {m['errors']:2d}/{BURST} (target 0), "
                    f"served {m['ok']:2d}, p99 {m['p99']:6.2f} s (target < 2 s); one claim "
                    f"{m['serial'] * 1000:7.1f} ms (median of {SERIAL}, {m['serial_ok']} served)",
                    flush=True,
                )
            ratio = at[SIZES[-1]]["serial"] / at[SIZES[0]]["serial"]
            print(
                f"{db:10s} {name:6s} claim time at {SIZES[-1] // 1000}k / at {SIZES[0] // 1000}k answers: "
                f"{ratio:.2f}× (target ≤ 1.5×)",
                flush=True,
            )
    for db, url in databases.items() if not args.no_stop_rule else ():
        for name, (code, toml) in codes.items():
            toml = study_files(tmp / "study", args.budget, args.anchor)[0 if name == "ours" else 1]
            kept = measure_stop_rule(url, toml, code, args.budget, args.crowd)
            print(
                f"{db:10s} {name:6s} stop rule: {kept} judgements kept for a budget of {args.budget} "
                f"({kept / args.budget - 1:+.1%}; target within ±5 %)",
                flush=True,
            )


if __name__ == "__main__":
    main()
