"""50 slow clients (trickling header lines or POST bodies, reconnecting when dropped) against
the study served as ``evalkit study serve`` serves it, on loopback, while normal raters answer:
the raters' p99 latency stays under 1 s and none of their requests fails. (With gunicorn's
sync workers every rater fails: see bench/study_slow_clients.py.)"""

import numpy as np
import pytest
from serving import Gunicorn, SlowClients, many_assignments, rater_latencies


def slow_clients_beside_raters(built_study, tmp_path, seconds: float):
    study = many_assignments(built_study, tmp_path / "slow", 300)
    server = Gunicorn(study, f"sqlite:///{tmp_path / 'slow' / 'out' / 'study.sqlite'}").start()
    try:
        clients = SlowClients(server.port, 50).start()
        try:
            latencies, failures = rater_latencies(server.url, seconds)
        finally:
            clients.stop()
    finally:
        server.stop()
    assert failures == []
    assert len(latencies) > 10 * seconds  # raters kept answering throughout
    assert np.percentile(latencies, 99) < 1.0
    assert clients.connections >= 50
    assert "Traceback" not in server.stderr()


@pytest.mark.slow
def test_raters_are_served_beside_50_slow_clients(built_study, tmp_path):
    slow_clients_beside_raters(built_study, tmp_path, seconds=8)


@pytest.mark.slow
def test_raters_are_served_beside_50_slow_clients_for_30_s(built_study, tmp_path):
    slow_clients_beside_raters(built_study, tmp_path, seconds=30)
