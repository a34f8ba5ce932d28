"""CompressAI's eval_model JSON: its published Kodak BPG curve read and drawn beside evalkit's
own hevc-bpg, and evalkit's run written in the format and read back identical."""

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.report.compressai_json import read_eval_model, write_eval_model

PUBLISHED = Path(__file__).parent / "data" / "compressai" / "bpg_444_x265_ycbcr.json"


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_dir):
    """A real run: two Kodak crops × jpeg, hevc-bpg × four targets, PSNR and MS-SSIM measured."""
    from evalkit.compress import compress
    from evalkit.datasets import resolve_images
    from evalkit.images import save_png
    from evalkit.metrics import MetricEngine, read_pairs, write_table

    root = tmp_path_factory.mktemp("eval-model")
    (root / "crops").mkdir()
    for ref in resolve_images("kodak", shared_dir / "data" / "kodak")[:2]:
        save_png(ref.load()[:192, :256], root / "crops" / f"{ref.name}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(root / "cache"))
        compress(
            resolve_images(str(root / "crops")),
            ["jpeg", "hevc-bpg"],
            [0.25, 0.5, 1.0, 2.0],
            root / "run",
            workers=1,
            progress=False,
        )
        pairs = (
            MetricEngine(["psnr", "ms-ssim"], device="cpu")
            .evaluate(read_pairs(root / "run" / "manifest.csv"), root=root / "run", progress=False)
            .pairs
        )
    write_table(pairs, root / "run" / "metrics.csv")
    return root / "run"


def test_the_published_bpg_curve_is_read_with_evalkits_column_names():
    curve = read_eval_model(PUBLISHED)
    raw = json.loads(PUBLISHED.read_text())["results"]
    assert list(curve.columns) == ["codec", "psnr", "ms_ssim", "bpp", "encode_s", "decode_s"]
    assert (curve["codec"] == "BPG 8b 444 x265 ycbcr").all() and len(curve) == 8
    assert curve["psnr"].tolist() == raw["psnr-rgb"] and curve["bpp"].tolist() == raw["bpp"]


def test_a_run_written_as_eval_model_json_reads_back_identical(run, tmp_path):
    pairs = pd.read_csv(run / "metrics.csv", float_precision="round_trip")
    written = write_eval_model(pairs, tmp_path, per_image=True)
    assert len(written) == 2 + len(pairs)
    for codec, rows in pairs.groupby("codec"):
        back = read_eval_model(tmp_path / f"{codec}.json")
        mean = rows.groupby("target_bpp")[["bpp", "psnr", "ms_ssim", "encode_s", "decode_s"]].mean()
        for column in mean.columns:
            assert back[column].tolist() == mean[column].tolist()  # every digit
        raw = json.loads((tmp_path / f"{codec}.json").read_text())["results"]
        assert {"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time"} <= set(raw)
    row = pairs.iloc[0]
    one = read_eval_model(tmp_path / f"{row['image']}-{row['codec']}-{row['target_bpp']:g}bpp.json").iloc[0]
    assert one["image"] == row["image"] and one["psnr"] == row["psnr"] and one["bpp"] == row["bpp"]
    assert write_eval_model(pairs, tmp_path / "again") and read_eval_model(
        tmp_path / "again" / "jpeg.json"
    ).equals(read_eval_model(tmp_path / "jpeg.json"))


def test_the_report_draws_the_published_curve_beside_evalkits_hevc_bpg(run, tmp_path, capsys):
    from evalkit.cli import main

    out = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                str(run),
                "--out",
                str(out),
                "--published",
                str(PUBLISHED),
                "--eval-model",
                str(tmp_path / "json"),
            ]
        )
        == 0
    )
    curve = pd.read_csv(tmp_path / "report_files" / "rd_psnr.csv")
    published = curve[curve["codec"] == "BPG 8b 444 x265 ycbcr (published)"]
    assert published["value"].tolist() == read_eval_model(PUBLISHED)["psnr"].tolist()
    assert {"hevc-bpg", "jpeg"} <= set(curve["codec"])
    bd = pd.read_csv(tmp_path / "report_files" / "bd.csv", keep_default_na=False)
    assert "BPG 8b 444 x265 ycbcr (published)" in set(bd["codec"])
    assert "(published)" in out.read_text() and (tmp_path / "json" / "hevc-bpg.json").is_file()
    assert "<svg" in (tmp_path / "report_files" / "rd_psnr.svg").read_text()[:2000]


def test_what_is_not_eval_model_json_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"results": {}}')
    with pytest.raises(InputError, match="not a CompressAI eval_model JSON"):
        read_eval_model(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"name": "x", "results": {"bpp": [1, 2], "psnr-rgb": [30]}}')
    with pytest.raises(InputError, match="one value per rate point"):
        read_eval_model(tmp_path / "y.json")
    with pytest.raises(InputError, match="lacks"):
        write_eval_model(pd.DataFrame({"codec": ["a"]}), tmp_path)


def test_paper_figures_are_one_pdf_and_svg_per_metric_with_the_images_spread(run, tmp_path):
    import matplotlib

    from evalkit.cli import main

    before = dict(matplotlib.rcParams)
    assert (
        main(
            [
                "report",
                str(run),
                "--out",
                str(tmp_path / "r.html"),
                "--paper-figures",
                str(tmp_path / "paper"),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "paper").iterdir()) == [
        "rd_ms_ssim.pdf",
        "rd_ms_ssim.svg",
        "rd_psnr.pdf",
        "rd_psnr.svg",
    ]
    assert (tmp_path / "paper" / "rd_psnr.pdf").read_bytes()[:5] == b"%PDF-"
    svg = (tmp_path / "paper" / "rd_psnr.svg").read_text()
    assert "PSNR (dB)" in svg and "hevc-bpg" in svg
    assert (
        svg.count('id="FillBetweenPolyCollection') + svg.count('id="PolyCollection') == 2
    )  # a band per codec
    assert dict(matplotlib.rcParams) == before
