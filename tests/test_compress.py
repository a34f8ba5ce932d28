import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evalkit.codecs import bitstream_bpp, get_codec
from evalkit.compress import compress
from evalkit.datasets import resolve_images
from evalkit.errors import InputError
from evalkit.images import load_image

REQUIRED = [
    "image",
    "reference",
    "codec",
    "target_bpp",
    "bpp",
    "bytes",
    "setting",
    "reconstruction",
    "bitstream",
    "encode_s",
    "decode_s",
    "encodes",
]


@pytest.fixture
def image_folder(tmp_path, kodak):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak(3)[:161, :203]).save(folder / "crop_a.png")
    Image.fromarray(kodak(15)[200:361, 300:513]).save(folder / "crop_b.jpg", quality=95)
    rgba = np.dstack([kodak(8)[:120, :150], np.full((120, 150), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "with_alpha.png")
    (folder / "truncated.png").write_bytes((folder / "crop_a.png").read_bytes()[:3000])
    return folder


def test_compress_writes_real_bitstreams_and_a_manifest(image_folder, tmp_path):
    out = tmp_path / "run"
    codecs = ["jpeg", "webp", "heic", "jpegxl"]
    result = compress(resolve_images(str(image_folder)), codecs, [0.5, 1.0], out, workers=2, progress=False)
    assert any("truncated.png" in e for e in result.errors)
    assert any("alpha" in w for w in result.warnings)
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert set(REQUIRED) <= set(manifest.columns)
    assert len(manifest) == 3 * len(codecs) * 2
    for row in manifest.itertuples():
        bitstream = out / row.bitstream
        reference = load_image(out / row.reference)
        assert bitstream.stat().st_size == row.bytes
        assert bitstream_bpp(bitstream.stat().st_size, *reference.shape[:2]) == pytest.approx(
            row.bpp, rel=1e-12
        )
        decoded = get_codec(row.codec).decode(bitstream.read_bytes())
        assert np.array_equal(decoded, load_image(out / row.reconstruction))
        assert (row.flag == "") == (abs(row.bpp / row.target_bpp - 1) <= 0.01)
    continuous = manifest[manifest.codec.isin(["jpeg", "webp", "jpegxl"])]  # real-valued settings
    assert (continuous.flag == "").all(), "every target inside a continuous range must be met"
    original = load_image(image_folder / "crop_a.png")
    assert np.array_equal(load_image(out / "references" / "crop_a.png"), original)

    again = compress(resolve_images(str(image_folder)), codecs, [0.5, 1.0], out, workers=2, progress=False)
    assert again.fresh_encodes == 0
    pd.testing.assert_frame_equal(
        again.manifest.drop(columns="decode_s"), result.manifest.drop(columns="decode_s")
    )


def test_a_cached_rerun_decodes_nothing_and_starts_no_worker(image_folder, tmp_path, monkeypatch):
    """Everything cached: the rerun finishes in this process (a worker pool costs seconds) and
    rewrites no reconstruction (real-valued settings read back from the manifest exactly)."""
    import evalkit.executors as module

    out, codecs, targets = tmp_path / "run", ["jpeg", "webp", "jpegxl", "hevc-bpg"], [0.3, 0.5, 1.0]
    first = compress(resolve_images(str(image_folder)), codecs, targets, out, workers=1, progress=False)
    written = {p: p.stat().st_mtime_ns for p in (out / "reconstructions").rglob("*.png")}

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for a cached run")

    monkeypatch.setattr(module, "ProcessPoolExecutor", no_pool)
    again = compress(resolve_images(str(image_folder)), codecs, targets, out, workers=2, progress=False)
    assert again.fresh_encodes == 0 and again.errors == first.errors
    pd.testing.assert_frame_equal(again.manifest, first.manifest)
    assert {p: p.stat().st_mtime_ns for p in written} == written


def test_bad_requests_fail_before_any_work(tmp_path):
    images = resolve_images("samples")[:1]
    with pytest.raises(InputError, match="unknown codec 'jpg'"):
        compress(images, ["jpg"], [0.5], tmp_path)
    with pytest.raises(ValueError, match="positive"):
        compress(images, ["jpeg"], [-0.5], tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_bug_met_in_the_cached_pass_keeps_its_traceback(tmp_path, monkeypatch):
    """Only a cache miss or a refused input sends a job on from the cache-first pass to the
    executor (which would report it as one failed job, exit 1): a bug propagates from where it is."""
    from evalkit.codecs.ratematch import RateSearch

    def bug(self, *args, **kwargs):
        raise ZeroDivisionError("a bug in the rate search")

    monkeypatch.setattr(RateSearch, "match", bug)
    with pytest.raises(ZeroDivisionError, match="a bug in the rate search"):
        compress(resolve_images("samples")[:1], ["jpeg"], [0.5], tmp_path, workers=1, progress=False)


def test_one_pixel_image_is_flagged_not_faked(tmp_path):
    Image.fromarray(np.array([[[90, 30, 200]]], np.uint8)).save(tmp_path / "dot.png")
    result = compress(
        resolve_images(str(tmp_path / "dot.png")),
        ["jpeg", "webp", "jpegxl"],
        [1.0],
        tmp_path / "run",
        workers=1,
        progress=False,
    )
    assert not result.errors
    assert (result.manifest["flag"] == "below-range").all()  # headers alone exceed 1 bpp
    assert (result.manifest["bpp"] > 1.0).all()


def _run_cli(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_work(tmp_path, kodak_dir):
    folder = tmp_path / "two"
    folder.mkdir()
    for n in ("kodim05.png", "kodim21.png"):
        (folder / n).symlink_to(kodak_dir / n)
    args = [
        "compress",
        "--images",
        str(folder),
        "--codecs",
        "heic,avif",
        "--bpp",
        "0.3,0.8",
        "--out",
        str(tmp_path / "run"),
        "--workers",
        "1",
        "--quiet",
    ]
    env = {**os.environ}
    first = _run_cli(args, env)
    manifest = tmp_path / "run" / "manifest.csv"
    deadline = time.time() + 120
    while not manifest.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(pd.read_csv(manifest)) < 8, "the run finished before it could be interrupted"

    second = _run_cli(args, env)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    fresh = int(re.search(r"(\d+) new encodes", out).group(1))
    stored = sum(
        len(pd.read_json(p, typ="series")) for p in Path(env["EVALKIT_CACHE_DIR"]).rglob("probes.json")
    )
    assert fresh < stored
    assert len(pd.read_csv(manifest)) == 8


def test_cli_usage_errors(capsys):
    from evalkit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["compress", "--bpp", "-1"])
    assert exc.value.code == 2 and "positive" in capsys.readouterr().err
    assert main(["compress", "--codecs", "nope", "--out", "/nonexistent/x"]) == 2
    assert "unknown codec 'nope'; known codecs:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "compress" in capsys.readouterr().out


def test_cli_codecs_lists_all(capsys):
    from evalkit.cli import main

    assert main(["codecs"]) == 0
    out = capsys.readouterr().out
    for name in ("jpeg", "jpeg2000", "webp", "hevc-bpg", "heic", "bpg", "avif", "jpegxl"):
        assert re.search(rf"^  {name}\s", out, re.M), name  # indented under its group
    assert "libjpeg-turbo" in out


def test_cli_compress_prints_the_table(tmp_path, capsys):
    from evalkit.cli import main

    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 96, 3), np.uint8)).save(tmp_path / "n.png")
    code = main(
        [
            "compress",
            "--images",
            str(tmp_path / "n.png"),
            "--codecs",
            "jpeg,jpeg2000",
            "--bpp",
            "2",
            "--out",
            str(tmp_path / "run"),
            "--workers",
            "1",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "jpeg2000" in out and "2 reconstructions" in out


def test_a_bitstream_altered_in_the_encode_cache_is_encoded_again_not_measured(tmp_path, kodak):
    """A flipped bit keeps a JPEG's length and can decode to another valid picture: the cache's
    SHA-256 beside each stored bitstream catches it, and the rerun encodes again."""
    import simplejpeg

    from evalkit.files import cache_dir

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak(3)[:128, :192]).save(folder / "crop.png")
    out = tmp_path / "run"
    compress(resolve_images(str(folder)), ["jpeg"], [0.5], out, workers=1, progress=False)
    row = pd.read_csv(out / "manifest.csv").iloc[0]
    expected = load_image(out / row.reconstruction)
    (cached,) = (cache_dir() / "encodes").rglob("*.jpg")
    data = bytearray(cached.read_bytes())
    for position in range(len(data) // 2, len(data) - 2):  # a flip strict libjpeg still decodes
        flipped = bytearray(data)
        flipped[position] ^= 0x10
        try:
            decoded = simplejpeg.decode_jpeg(bytes(flipped), strict=True)
        except ValueError:
            continue
        if not np.array_equal(decoded, expected):
            break
    else:
        pytest.fail("no flip that decodes to another picture")
    cached.write_bytes(bytes(flipped))
    (out / row.reconstruction).unlink()  # so that the rerun must decode

    again = compress(resolve_images(str(folder)), ["jpeg"], [0.5], out, workers=1, progress=False)
    assert again.fresh_encodes == 1
    assert np.array_equal(load_image(out / row.reconstruction), expected)
    assert (out / row.bitstream).read_bytes() == bytes(data) == cached.read_bytes()
