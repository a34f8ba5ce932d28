"""``evalkit import``: reconstructions an external encoder made on the command line, measured and
reported like evalkit's own, with no column faked."""

import subprocess

import numpy as np
import pandas as pd
import pytest
from needs import unavailable

from evalkit.cli import main
from evalkit.images import load_image, save_png
from evalkit.metrics import functional


@pytest.fixture
def encoded(tmp_path, kodak):
    """Two Kodak crops encoded by ffmpeg's MJPEG encoder at three qualities, decoded by ffmpeg."""
    from evalkit.codecs.ffmpeg import find_ffmpeg

    ffmpeg = find_ffmpeg("mjpeg")
    if ffmpeg is None:
        unavailable("no ffmpeg with the mjpeg encoder (Debian's or imageio-ffmpeg's)")
    (tmp_path / "originals").mkdir()
    for n in (4, 23):
        save_png(np.ascontiguousarray(kodak(n)[:192, :256]), tmp_path / "originals" / f"kodim{n:02d}.png")
    for q in (3, 8, 20):
        for folder in ("bitstreams", "reconstructions"):
            (tmp_path / folder / f"q{q}").mkdir(parents=True)
        for original in sorted((tmp_path / "originals").glob("*.png")):
            jpeg = tmp_path / "bitstreams" / f"q{q}" / f"{original.stem}.jpg"
            run = lambda *a: subprocess.run([ffmpeg.path, "-y", "-loglevel", "error", *a], check=True)
            run("-i", str(original), "-q:v", str(q), str(jpeg))
            run(
                "-i",
                str(jpeg),
                "-pix_fmt",
                "rgb24",
                str(tmp_path / "reconstructions" / f"q{q}" / f"{original.stem}.png"),
            )
    return tmp_path


def test_reconstructions_from_ffmpeg_are_imported_measured_and_reported(encoded, capsys):
    run = encoded / "run"
    assert (
        main(
            [
                "import",
                "--codec",
                "ffmpeg-mjpeg",
                "--originals",
                str(encoded / "originals"),
                "--reconstructions",
                str(encoded / "reconstructions"),
                "--bitstreams",
                str(encoded / "bitstreams"),
                "--out",
                str(run),
            ]
        )
        == 0
    )
    manifest = pd.read_csv(run / "manifest.csv", keep_default_na=False)
    assert len(manifest) == 6 and set(manifest["setting_name"]) == {"q3", "q8", "q20"}
    for row in manifest.itertuples():
        size = (encoded / "bitstreams" / row.setting_name / f"{row.image}.jpg").stat().st_size
        assert row.bytes == size and row.bpp == 8 * size / (192 * 256)
    assert (
        main(
            [
                "metrics",
                "--manifest",
                str(run / "manifest.csv"),
                "--metrics",
                "psnr,ms-ssim",
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    measured = pd.read_csv(run / "metrics.csv", keep_default_na=False)
    for row in measured.itertuples():
        reference = load_image(encoded / "originals" / f"{row.image}.png") / 255
        decoded = load_image(encoded / "reconstructions" / row.setting_name / f"{row.image}.png") / 255
        assert row.psnr == pytest.approx(
            float(functional.psnr(reference=reference, distorted=decoded)), rel=1e-9
        )
    low, high = (measured[measured["setting_name"] == q]["psnr"].mean() for q in ("q20", "q3"))
    assert high > low  # ffmpeg's scale: lower q, better
    assert main(["report", str(run), "--anchor", "ffmpeg-mjpeg"]) == 0
    assert "ffmpeg-mjpeg" in (run / "report.html").read_text()


def test_an_import_without_its_originals_or_rates_is_refused(encoded, capsys):
    (encoded / "reconstructions" / "q3" / "kodim99.png").write_bytes(
        (encoded / "reconstructions" / "q3" / "kodim04.png").read_bytes()
    )
    args = [
        "import",
        "--codec",
        "x",
        "--originals",
        str(encoded / "originals"),
        "--reconstructions",
        str(encoded / "reconstructions"),
        "--out",
        str(encoded / "run"),
    ]
    assert main([*args, "--bitstreams", str(encoded / "bitstreams")]) == 2
    assert "no original named kodim99" in capsys.readouterr().err
    (encoded / "reconstructions" / "q3" / "kodim99.png").unlink()
    pd.DataFrame({"image": ["kodim04"], "point": ["q3"], "bpp": [0.5]}).to_csv(
        encoded / "bpp.csv", index=False
    )
    assert main([*args, "--bpp", str(encoded / "bpp.csv")]) == 2
    assert "no row for image" in capsys.readouterr().err
