"""Slow-client benchmark: can the study serve its raters while clients trickle their requests?

For each way of running gunicorn (sync workers, threaded workers), 10 normal raters take
assignments and answer them (as the page does, 0.2 s apart) for ``--seconds``, first alone (the
anchor), then beside 50 slow connections (half send one header line every 2 s, half one byte
of a POST body every 0.5 s, reconnecting when closed), all on loopback. Prints the raters'
p50/p99 latency and failures (errors or 10 s timeouts). Target: p99 < 1 s, no failure.

    .venv/bin/python bench/study_slow_clients.py [--seconds 30] [--slow 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import Gunicorn, SlowClients, many_assignments, rater_latencies

from evalkit.study.config import load_config
from evalkit.study.design import build_study

EXAMPLE = Path(__file__).resolve().parents[1] / "studies" / "samples-demo" / "study.toml"
SERVERS = {
    "sync, 4 workers": {"worker_class": "sync"},
    "gthread, 4 workers × 64 threads (evalkit study serve)": {"worker_class": "gthread", "threads": 64},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=EXAMPLE)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--slow", type=int, default=50)
    args = parser.parse_args()
    config = load_config(args.study)
    if not config.trials_path.is_file():
        build_study(config, progress=False)
    print(f"10 raters for {args.seconds:g} s each run; slow clients: {args.slow}")
    print(f"{'server':55s} {'slow':>5s} {'requests':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'failed':>7s}")
    for label, options in SERVERS.items():
        tmp = Path(tempfile.mkdtemp(prefix="evalkit-slow-"))
        study = many_assignments(config, tmp / "study", 400)
        server = Gunicorn(study, f"sqlite:///{tmp / 'study' / 'out' / 'study.sqlite'}", 4, **options).start()
        try:
            for slow in (0, args.slow):
                clients = SlowClients(server.port, slow).start() if slow else None
                latencies, failures = rater_latencies(server.url, args.seconds, prefix=f"s{slow}")
                if clients:
                    clients.stop()
                ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
                print(
                    f"{label:55s} {slow:5d} {len(latencies):9d} {np.percentile(ms, 50):8.1f} "
                    f"{np.percentile(ms, 99):8.1f} {len(failures):7d}",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
