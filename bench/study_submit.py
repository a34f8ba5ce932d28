"""Submit-endpoint benchmark: 100 concurrent raters against gunicorn + SQLite (WAL) on loopback.

Prints requests/s and p50/p99 latency of ``POST /api/response`` (each one a committed,
durable row) beside the anchor measured in the same run: the same server and clients fetching
a small static file (no storage at all). Two loads: closed loop (every client sends its next
request as soon as the previous one is answered: the throughput ceiling) and open loop (each
client answers at a fixed pace adding up to ``--rate`` per second, as raters do: the latency
raters see). Targets on 2 cores: ≥ 500 submits/s with p99 < 100 ms.

    .venv/bin/python bench/study_submit.py [--clients 100] [--workers 4] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Gunicorn, many_assignments

from evalkit.study.config import load_config
from evalkit.study.design import build_study

EXAMPLE = Path(__file__).resolve().parents[1] / "studies" / "samples-demo" / "study.toml"


async def request(port: int, raw: bytes) -> float:
    """One HTTP/1.1 request on a new connection (gunicorn's sync workers close each one);
    returns the seconds until the whole response has arrived."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    response = await reader.read()
    writer.close()
    status = int(response[9:12])
    if status >= 400:
        raise RuntimeError(f"HTTP {status}: {response[-300:]!r}")
    return time.perf_counter() - start


def encode(method: str, path: str, body: dict | None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def run_clients(jobs: list[list[bytes]], port: int, interval: float | None) -> tuple[float, np.ndarray]:
    """Each job is one client's requests, sent one after the other; ``interval`` paces each
    client (open loop), otherwise it sends as soon as the previous answer is in (closed loop).
    One event loop drives all clients, so the load generator itself stays light."""

    async def client(requests_, offset):
        latencies = []
        next_at = time.perf_counter() + offset
        for raw in requests_:
            if interval is not None:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            latencies.append(await request(port, raw))
        return latencies

    async def everyone():
        return await asyncio.gather(
            *(client(job, (interval or 0) * k / len(jobs)) for k, job in enumerate(jobs))
        )

    start = time.perf_counter()
    latencies = [x for client_latencies in asyncio.run(everyone()) for x in client_latencies]
    return len(latencies) / (time.perf_counter() - start), np.array(latencies) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=EXAMPLE)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=500, help="open-loop submits per second, all clients")
    args = parser.parse_args()
    config = load_config(args.study)
    if not config.trials_path.is_file():
        build_study(config, progress=False)
    tmp = Path(tempfile.mkdtemp(prefix="evalkit-submit-"))
    study = many_assignments(config, tmp / "study", 3 * args.clients)
    server = Gunicorn(study, f"sqlite:///{tmp / 'study' / 'out' / 'study.sqlite'}", args.workers).start()
    port = server.port
    rows = []
    try:

        def sessions(first):
            return [
                requests.post(f"{server.url}/api/session", json={"rater": f"bench-{first + n}"}).json()
                for n in range(args.clients)
            ]

        def submits(session):
            return [
                encode(
                    "POST",
                    "/api/response",
                    {
                        "token": session["token"],
                        "trial": t["id"],
                        "choice": "left",
                        "response_ms": 1000,
                        "magnifier_ms": 0,
                        "viewport_w": 1280,
                        "viewport_h": 800,
                        "device_pixel_ratio": 1,
                    },
                )
                for t in session["trials"]
            ]

        per_client = len(sessions(0)[0]["trials"])
        static = [[encode("GET", "/static/task.css", None)] * per_client for _ in range(args.clients)]
        for label, jobs, interval in (
            ("static file (anchor), closed loop", static, None),
            ("submit, closed loop", [submits(s) for s in sessions(args.clients)], None),
            (
                f"submit, open loop at {args.rate:g}/s",
                [submits(s) for s in sessions(2 * args.clients)],
                args.clients / args.rate,
            ),
        ):
            rps, ms = run_clients(jobs, port, interval)
            rows.append((label, rps, np.percentile(ms, 50), np.percentile(ms, 99), len(ms)))
    finally:
        server.stop()
    print(
        f"{args.clients} concurrent clients, gunicorn --workers {args.workers}, SQLite WAL "
        f"(synchronous=FULL), {per_client} requests per client"
    )
    print(f"{'load':38s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'requests':>9s}")
    for label, rps, p50, p99, n in rows:
        print(f"{label:38s} {rps:8.0f} {p50:8.1f} {p99:8.1f} {n:9d}")
    anchor, closed, opened = rows
    print(
        f"\nsubmit throughput {closed[1]:.0f}/s = {closed[1] / anchor[1]:.2f}× the static-file "
        f"anchor (target ≥ 500/s); open-loop p99 {opened[3]:.1f} ms (target < 100 ms)"
    )


if __name__ == "__main__":
    main()
