"""The comparison report on a small real run (two bundled photos, JPEG and WebP at four rates,
every metric): its tables equal the metrics files, every image and link resolves, BD-rate and
BD-metric equal the ``bjontegaard`` package's, and ``evalkit demo`` writes a report without weights."""

from __future__ import annotations

import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.report.bjontegaard import BDRefusal, bd_metric, bd_rate
from evalkit.report.tables import codec_summary
from evalkit.report.visual import Region, most_different_region

TARGETS = [0.25, 0.5, 0.75, 1.0]
CODECS = ["jpeg", "webp"]
IMAGES = ["coffee", "chelsea"]


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, shared_dir):
    """compress → evalkit metrics (PSNR, MS-SSIM, LPIPS, FID/KID) → evalkit report, on 176×240
    crops of two bundled photos (small enough for the networks on a busy CPU, large enough for
    MS-SSIM's five scales and for 128-px FID patches)."""
    from evalkit.images import save_png

    folder = tmp_path_factory.mktemp("report-run")
    photos = tmp_path_factory.mktemp("report-photos")
    for ref in resolve_images("samples"):
        if ref.name in IMAGES:
            save_png(np.ascontiguousarray(ref.load()[40:216, 60:300]), photos / f"{ref.name}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("report-cache")))
        compress(resolve_images(str(photos)), CODECS, TARGETS, folder, workers=1, progress=False)
        assert (
            main(
                [
                    "metrics",
                    "--manifest",
                    str(folder / "manifest.csv"),
                    "--quiet",
                    "--metrics",
                    "psnr,ms-ssim,lpips,fid,kid",
                    "--fid-patch-size",
                    "128",
                    "--weights-dir",
                    str(shared_dir / "weights"),
                ]
            )
            == 0
        )
    assert main(["report", str(folder), "--out", str(folder / "report.html")]) == 0
    return folder


class _Page(HTMLParser):
    """Tables (by id: rows of cells with their data- attributes), every src/href, every id."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.links, self.ids, self.classes = {}, [], set(), {}
        self._table = self._row = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if key in a and tag != "meta":
                self.links.append(a[key])
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"anon{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": a, "cells": []}
            self._table.append(self._row)
        elif tag == "td" and self._row is not None:
            self._row["cells"].append(a)


def _page(run: Path) -> _Page:
    return _Page((run / "report.html").read_text())


def _cells(page: _Page, table_id: str) -> dict[tuple[str, str], dict]:
    return {
        (r["attrs"]["data-codec"], c["data-column"]): c
        for r in page.tables[table_id]
        if "data-codec" in r["attrs"]
        for c in r["cells"]
        if "data-column" in c
    }


def _read_off_curve(pairs: pd.DataFrame, image: str, codec: str, target: float, column: str) -> float:
    """The image's value at ``target`` on its curve for ``codec``: linear in log bpp."""
    curve = pairs[(pairs["image"] == image) & (pairs["codec"] == codec)].sort_values("bpp")
    return float(np.interp(np.log(target), np.log(curve["bpp"]), curve[column]))


def _expected_at(pairs: pd.DataFrame, sets: pd.DataFrame, target: float, codec: str) -> dict:
    rows = pairs[(pairs["target_bpp"] == target) & (pairs["codec"] == codec)]
    ok = rows[rows["flag"].fillna("") == ""]
    off = rows[rows["flag"].fillna("") != ""]
    out = {"images": len(ok), "interpolated": len(off), "flagged": len(off)}
    for column in ("bpp", "psnr", "ms_ssim", "lpips"):
        read = [
            target if column == "bpp" else _read_off_curve(pairs, i, codec, target, column)
            for i in off["image"]
        ]
        out[column] = np.mean([*ok[column], *read])
    group = sets[(sets["target_bpp"] == target) & (sets["codec"] == codec)].iloc[0]
    for column in ("fid", "fid_patch", "kid", "kid_patch"):
        out[column] = group[column]
    out["n_samples"], out["n_samples_patch"] = group["n_samples"], group["n_samples_patch"]
    return out


def _check_tables(run: Path):
    pairs = pd.read_csv(run / "metrics.csv", keep_default_na=False, na_values=[""])
    sets = pd.read_csv(run / "metrics_sets.csv")
    page = _page(run)
    for target in TARGETS:
        cells = _cells(page, f"table-at-{target:g}".replace(".", "_"))
        for codec in CODECS:
            expected = _expected_at(pairs, sets, target, codec)
            assert {k for (c, k) in cells if c == codec} == set(expected)
            for column, value in expected.items():
                assert float(cells[codec, column]["data-value"]) == pytest.approx(value, rel=1e-12, abs=0)
        complete = [
            c for c in CODECS if cells[c, "flagged"]["data-value"] == cells[c, "interpolated"]["data-value"]
        ]
        for column in ("psnr", "ms_ssim", "lpips", "fid", "kid_patch"):
            values = {codec: float(cells[codec, column]["data-value"]) for codec in complete}
            best = (max if column in ("psnr", "ms_ssim") else min)(values.values())
            for codec in CODECS:
                marked = "best" in cells[codec, column]["class"]
                assert marked == (values.get(codec) == best), (target, column, codec)


def test_tables_equal_the_metrics_files(small_run):
    _check_tables(small_run)


def test_flagged_points_are_read_from_their_image_curve(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("report*"))
    pairs = pd.read_csv(run / "metrics.csv", keep_default_na=False, na_values=[""])
    pairs["flag"] = pairs["flag"].fillna("").astype(object)
    hit = (pairs["codec"] == "webp") & (pairs["target_bpp"] == 0.5) & (pairs["image"] == "coffee")
    pairs.loc[hit, "flag"] = "coarse-axis"
    pairs.to_csv(run / "metrics.csv", index=False)
    assert main(["report", str(run)]) == 0
    _check_tables(run)
    cells = _cells(_page(run), "table-at-0_5")
    assert cells["webp", "flagged"]["data-value"] == "1.0"
    assert cells["webp", "interpolated"]["data-value"] == "1.0"  # read off coffee's webp curve
    measured = pairs[
        (pairs["codec"] == "webp") & (pairs["target_bpp"] == 0.5) & (pairs["image"] == "chelsea")
    ]
    read = _read_off_curve(pairs, "coffee", "webp", 0.5, "psnr")
    assert float(cells["webp", "psnr"]["data-value"]) == pytest.approx((measured["psnr"].item() + read) / 2)
    html = (run / "report.html").read_text()
    assert "‡" in html and "read at the target from that image" in html
    assert "†" in html
    assert '<span class="flags" data-codec="webp">webp 1 coarse-axis</span>' in html  # and why, in words
    assert "falls between two neighbouring rungs of the codec" in html


def test_a_rerun_redraws_only_the_figures_whose_data_changed(small_run, tmp_path):
    """Figures and crops whose inputs are unchanged come over from the previous rendering (the
    same files, not drawn again); changed ones are drawn; nothing of the old folder lingers."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("report*"))
    assert main(["report", str(run)]) == 0
    files = run / "report_files"
    drawn = {p.name: p.stat().st_ino for p in files.iterdir() if p.suffix in (".png", ".svg")}
    (files / "stale.png").write_bytes(b"from an older report")
    pairs = pd.read_csv(run / "metrics.csv", keep_default_na=False, na_values=[""])
    pairs.loc[0, "psnr"] += 1.0  # one PSNR value changes, nothing else
    pairs.to_csv(run / "metrics.csv", index=False)
    assert main(["report", str(run)]) == 0
    now = {p.name: p.stat().st_ino for p in files.iterdir() if p.suffix in (".png", ".svg")}
    redrawn = sorted(name for name in drawn if now[name] != drawn[name])
    assert redrawn == ["rd_psnr.png", "rd_psnr.svg"]
    assert set(now) == set(drawn) and not (files / "stale.png").exists()
    assert not list(run.glob(".report_files*"))
    _check_tables(run)


def test_every_image_and_link_resolves(small_run):
    page = _page(small_run)
    assert len([l for l in page.links if l.endswith(".png")]) >= 2 * (1 + len(CODECS)) * 2 + 7
    for link in page.links:
        assert "://" not in link and not link.startswith("/"), link
        if link.startswith("#"):
            assert link[1:] in page.ids, link
        else:
            assert (small_run / link).is_file(), link
    assert any(l.endswith(".svg") for l in page.links)


def _reference_curves(run: Path):
    """Real (rate, metric) curves of the run: per image and over the set, for three metrics."""
    pairs = pd.read_csv(run / "metrics.csv")
    for column in ("psnr", "ms_ssim", "lpips"):
        per_set = pairs.groupby(["codec", "target_bpp"], as_index=False)[["bpp", column]].mean()
        yield column, per_set.rename(columns={column: "value"})
        for image in IMAGES:
            one = pairs[pairs["image"] == image]
            yield f"{column}/{image}", one[["codec", "bpp", column]].rename(columns={column: "value"})


def _arrays(anchor: pd.DataFrame, test: pd.DataFrame):
    return (
        anchor["bpp"].to_numpy(),
        anchor["value"].to_numpy(),
        test["bpp"].to_numpy(),
        test["value"].to_numpy(),
    )


@pytest.mark.parametrize("interpolation", ["pchip", "cubic"])
def test_bd_equals_the_bjontegaard_package(small_run, interpolation):
    bjontegaard = pytest.importorskip("bjontegaard")
    compared = 0
    for name, curve in _reference_curves(small_run):
        a = curve[curve["codec"] == "jpeg"].sort_values("bpp")
        t = curve[curve["codec"] == "webp"].sort_values("bpp")
        args = _arrays(a, t)
        try:
            ours_rate = bd_rate(*args, interpolation, min_overlap=0).value
            ours_metric = bd_metric(*args, interpolation, min_overlap=0).value
        except BDRefusal as exc:  # e.g. a curve that is not monotone: the reference would err
            assert "monotone" in str(exc) or "overlap" in str(exc), (name, exc)
            continue
        # the package wants its integration axis ascending: the metric for BD-rate, rate for BD-metric
        by_metric = (a.sort_values("value"), t.sort_values("value"))
        ref_rate = bjontegaard.bd_rate(*_arrays(*by_metric), method=interpolation, min_overlap=0)
        ref_metric = bjontegaard.bd_psnr(*args, method=interpolation, min_overlap=0)
        assert ours_rate == pytest.approx(ref_rate, abs=1e-6), name
        assert ours_metric == pytest.approx(ref_metric, abs=1e-6), name
        compared += 1
    assert compared >= 6


def _bd_cell(page: _Page, table: str, codec: str, metric: str) -> dict:
    row = next(r for r in page.tables[table] if r["attrs"].get("data-codec") == codec)
    return next(c for c in row["cells"] if c.get("data-metric") == metric)


def test_bd_on_the_page_is_the_set_curve_value(small_run):
    page = _page(small_run)
    pairs = pd.read_csv(small_run / "metrics.csv")
    curve = pairs.groupby(["codec", "target_bpp"], as_index=False)[["bpp", "psnr"]].mean()
    a, t = curve[curve["codec"] == "jpeg"], curve[curve["codec"] == "webp"]
    expected = bd_rate(a["bpp"], a["psnr"], t["bpp"], t["psnr"]).value
    cell = _bd_cell(page, "table-bd-rate", "webp", "psnr")
    assert float(cell["data-value"]) == pytest.approx(expected, rel=1e-12)
    assert "piecewise cubic Hermite" in (small_run / "report.html").read_text()


def test_bd_refuses_what_it_cannot_compute():
    rate = np.array([0.25, 0.5, 0.75, 1.0])
    psnr = np.array([28.0, 31.0, 33.0, 34.5])
    assert bd_rate(rate, psnr, rate * 0.9, psnr).value == pytest.approx(-10.0)
    with pytest.raises(BDRefusal, match="3 distinct rate points"):
        bd_rate(rate[:3], psnr[:3], rate, psnr)
    with pytest.raises(BDRefusal, match="not strictly monotone"):
        bd_rate(rate, [28.0, 31.0, 30.0, 34.5], rate, psnr)
    with pytest.raises(BDRefusal, match="share 0%"):
        bd_rate(rate, psnr, rate, psnr + 10)
    with pytest.raises(BDRefusal, match="share 0%"):
        bd_metric(rate, psnr, rate * 10, psnr)
    with pytest.raises(BDRefusal, match="different metric values"):
        bd_rate([0.25, 0.25, 0.5, 0.75, 1.0], [28, 28.5, 31, 33, 34.5], rate, psnr)
    same = bd_rate([0.25, 0.25, 0.5, 0.75, 1.0], [28, 28, 31, 33, 34.5], rate, psnr)
    assert same.value == pytest.approx(0.0, abs=1e-12)


def test_bd_over_a_small_overlap_is_computed_with_a_warning_as_the_reference_does():
    """Curves sharing a fifth of their range: the value over the shared part (equal to the
    ``bjontegaard`` package's, which warns there too) and a warning naming the overlap."""
    bjontegaard = pytest.importorskip("bjontegaard")
    rate = np.array([0.25, 0.5, 0.75, 1.0])
    psnr = np.array([28.0, 31.0, 33.0, 34.5])
    shifted = psnr + 5.0  # metric ranges 28–34.5 and 33–39.5: 1.5 of 11.5
    ours = bd_rate(rate, psnr, rate, shifted)
    assert ours.overlap == pytest.approx(1.5 / 11.5) and "share 13% of their metric range" in ours.warning
    with pytest.warns(UserWarning, match="Insufficient curve overlap"):
        reference = bjontegaard.bd_rate(rate, psnr, rate, shifted, method="pchip", min_overlap=0.25)
    assert ours.value == pytest.approx(reference, abs=1e-6)
    assert bd_rate(rate, psnr, rate * 0.9, psnr).warning == ""  # full overlap: none
    table = codec_summary(
        pd.DataFrame(
            {
                "image": "a",
                "codec": ["x"] * 4 + ["y"] * 4 + ["z"] * 4,
                "target_bpp": [*rate] * 3,
                "bpp": [*rate, *rate, *rate * 0.9],
                "flag": "",
                "psnr": [*psnr, *shifted, *psnr],
            }
        ),
        anchor="x",
    )
    assert table.loc["y", "bd_rate_psnr"] == pytest.approx(reference, abs=1e-6)
    assert table.loc["y", "note_psnr"] == "13% overlap" and table.loc["z", "note_psnr"] == ""


def test_most_different_region_finds_the_disagreement():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    other = base.copy()
    other[70:90, 30:50] = 255 - other[70:90, 30:50]
    assert most_different_region([base, other, base], 20) == Region(30, 70, 20, 20)


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no metrics.csv or manifest.csv" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--region", "1,2,3"]) == 2


@pytest.mark.slow
def test_demo_without_weights_names_the_missing_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    monkeypatch.delenv("EVALKIT_WEIGHTS_DIR", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--codecs", "jpeg,webp", "--quiet"]) == 0
    printed = capsys.readouterr()
    err = printed.err
    bd = pd.read_csv(out / "report_files" / "bd.csv").set_index(["codec", "metric"])
    summary = printed.out.split("BD-rate against jpeg", 1)[1].splitlines()
    assert summary[1].split() == ["PSNR", "MS-SSIM", "flagged"]  # no LPIPS: no weights
    rows = {line.split()[0]: line.split()[1:] for line in summary[3:5]}
    assert rows["jpeg"] == ["+0.0", "+0.0", "0", "of", "16"]
    assert rows["webp"][:2] == [f"{bd.loc[('webp', m), 'bd_rate']:+.1f}" for m in ("psnr", "ms_ssim")]
    assert "alexnet-owt-7be5be79.pth" in err and "pt_inception-2015-12-05-6726825d.pth" in err
    html = (out / "report.html").read_text()
    assert "alexnet-owt-7be5be79.pth" in html and "PSNR" in html
    assert "lpips" not in pd.read_csv(out / "metrics.csv").columns
    assert not (out / "metrics_sets.csv").exists()
    page = _Page(html)
    assert all((out / l).is_file() for l in page.links if not l.startswith("#"))
    assert not math.isnan(float(_bd_cell(page, "table-bd-rate", "webp", "psnr")["data-value"]))


def test_report_in_chromium_every_image_loads_without_errors(small_run, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto((small_run / "report.html").as_uri())
    page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    images = page.evaluate(
        "() => Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    assert len(images) >= 2 * (1 + len(CODECS)) * 2 + 7
    assert [src for src, width in images if width == 0] == []
    assert errors == []
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_report_tables_fit_a_1280_px_window(small_run, browser, tmp_path):
    """The widest tables the demo writes (every metric column; webp relabelled with the longest
    codec name the demo shows) fit a 1280-px window: no table scrolls sideways, every column lies
    inside the screenshot of the page."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("report*"))
    for name in ("metrics.csv", "metrics_sets.csv"):
        table = pd.read_csv(run / name, keep_default_na=False, na_values=[""])
        table["codec"] = table["codec"].replace({"webp": "ek-variable-rate-mse"})
        table.to_csv(run / name, index=False)
    assert main(["report", str(run)]) == 0
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((run / "report.html").as_uri())
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image

    width = Image.open(shot).width
    tables = page.evaluate("""() => Array.from(document.querySelectorAll('main table')).map(t => ({
        id: t.id, scrolls: t.parentElement.scrollWidth > t.parentElement.clientWidth,
        columns: Array.from(t.querySelectorAll('thead th')).map(th => th.getBoundingClientRect().right)}))""")
    at_targets = [t for t in tables if t["id"].startswith("table-at-")]
    assert len(at_targets) == len(TARGETS) and all(len(t["columns"]) == 14 for t in at_targets)
    assert [t["id"] for t in tables if t["scrolls"]] == []
    assert max(max(t["columns"]) for t in tables) <= width == 1280


def test_study_results_get_a_section_each(small_run, tmp_path):
    """A study's out folder: rater screening and 2AFC tables and a figure become titled sections."""
    from evalkit.images import save_png

    study = tmp_path / "study"
    (study / "out" / "analysis").mkdir(parents=True)
    (study / "study.toml").write_text("name = 'x'\n")
    pd.DataFrame({"rater": ["r1", "r2"], "answers": [12, 12], "sentinel_accuracy": [1.0, 0.5]}).to_csv(
        study / "out" / "quality.csv", index=False
    )
    pd.DataFrame({"metrics": ["psnr", "lpips"], "2afc": [0.61, 0.7234]}).to_csv(
        study / "out" / "combined_2afc.csv", index=False
    )
    pd.DataFrame({"codec": ["jpeg"], "worth": [0.1]}).to_csv(study / "out" / "responses.csv", index=False)
    save_png(np.full((20, 30, 3), 200, np.uint8), study / "out" / "analysis" / "ranking.png")
    out = tmp_path / "page.html"
    assert main(["report", str(small_run), "--out", str(out), "--study", str(study / "study.toml")]) == 0
    page = _Page(out.read_text())
    assert {"study-quality", "study-fit", "study-rankings"} <= page.ids
    assert "study-other" not in page.ids  # raw exports are not results
    html = out.read_text()
    assert "Rater screening" in html and "0.7234" in html and ">r2<" in html
    assert "page_files/study_ranking.png" in page.links
    assert (tmp_path / "page_files" / "study_ranking.png").is_file()
