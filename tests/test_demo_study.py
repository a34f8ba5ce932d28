"""``evalkit demo --study``: the example study served on loopback, answered by a simulated crowd,
analysed and fitted, and its sections in the demo's report."""

import json

import pandas as pd
import pytest
import requests
from test_report import _Page

from evalkit.cli import main
from evalkit.study.database import connect
from evalkit.study.responses import responses
from evalkit.study.server import served


@pytest.mark.slow
def test_served_study_stops_even_when_the_work_fails(built_study, tmp_path):
    url = f"sqlite:///{tmp_path / 'served.sqlite'}"
    with pytest.raises(ZeroDivisionError):
        with served(built_study, url) as base:
            assert base.startswith("http://127.0.0.1:")
            assert requests.get(f"{base}/task", timeout=10).status_code == 200
            1 / 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/task", timeout=5)
    assert responses(connect(url)).empty  # the design was loaded, nobody answered


@pytest.mark.slow
def test_demo_with_study_adds_the_study_sections(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))  # no LPIPS/FID weights
    monkeypatch.delenv("EVALKIT_WEIGHTS_DIR", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--codecs", "jpeg,webp", "--study", "--quiet"]) == 0
    assert "fitted on PSNR and MS-SSIM only" in capsys.readouterr().err
    study = out / "study" / "out"
    # every rater the crowd sent answered over HTTP; each simulated kind is known
    kinds = pd.read_csv(study / "simulated_raters.csv").set_index("rater")["kind"]
    assert set(responses(connect(f"sqlite:///{study / 'study.sqlite'}"))["rater"]) == set(kinds.index)
    raters = pd.read_csv(study / "analysis" / "raters.csv").set_index("rater")
    assert not raters.loc[kinds[kinds == "attentive"].index, "excluded"].all()
    assert raters.loc[kinds[kinds != "attentive"].index.intersection(raters.index), "excluded"].any()
    # the crowd's latent qualities (jpeg 0 … jpeg2000 2.1 JOD) come back: the ends apart at each rate
    scores = pd.read_csv(study / "analysis" / "ranking.csv").query("method == 'thurstone'")
    scores = scores.pivot(index="target_bpp", columns="codec", values="score")
    assert len(scores) == 2 and (scores["jpeg2000"] > scores["jpeg"]).all()
    assert json.loads((study / "combined.json").read_text())["metrics"] == ["psnr", "ms-ssim"]

    html = (out / "report.html").read_text()
    page = _Page(html)
    for section in ("study-rankings", "study-preference", "study-quality", "study-fit"):
        assert section in page.ids, section
    assert "report_files/study_ranking.png" in page.links
    assert "psnr + ms-ssim" in html  # the fitted combination's held-out 2AFC
    assert all((out / link).is_file() for link in page.links if not link.startswith("#"))
