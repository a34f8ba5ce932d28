"""The public API a notebook uses: what ``evalkit`` exports, one image at a target bpp, FID of two
sets, BD deltas per curve and per image, the fit on a DataFrame, and the docs' example."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import evalkit
from evalkit.errors import InputError
from evalkit.images import save_png

ROOT = Path(__file__).resolve().parents[1]


def test_evalkit_exports_its_api_without_importing_it_first():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, evalkit; print('torch' in sys.modules, "
            "sorted(evalkit.EXPORTS) == sorted(n for n in dir(evalkit) if n in evalkit.EXPORTS))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.split() == ["False", "True"], result.stderr
    for name in evalkit.EXPORTS:
        assert getattr(evalkit, name).__name__ == name
    with pytest.raises(AttributeError):
        evalkit.no_such_thing


def test_one_image_at_a_target_bpp_is_real_bytes_and_their_decode(kodak):
    image = np.ascontiguousarray(kodak(23)[:160, :224])
    for codec in ("jpeg", "webp"):
        out = evalkit.compress_image(image, codec, 0.5)
        assert out.flag == "" and abs(out.bpp / 0.5 - 1) <= 0.01
        assert out.bpp == 8 * len(out.bitstream) / (160 * 224)
        decoded = evalkit.get_codec(codec).decode(out.bitstream)
        assert np.array_equal(decoded, out.reconstruction) and decoded.shape == image.shape
    far = evalkit.compress_image(image, "jpeg", 40.0)  # beyond JPEG's range: flagged, not faked
    assert far.flag and far.flag_meaning and far.bpp < 40
    with pytest.raises(InputError, match="8-bit RGB"):
        evalkit.compress_image(image / 255, "jpeg", 0.5)


def test_fid_of_two_folders_equals_arrays_and_the_engine(tmp_path, kodak, shared_dir):
    from evalkit.metrics import MetricEngine

    jpeg = evalkit.get_codec("jpeg")
    refs = [np.ascontiguousarray(kodak(n)[:128, :128]) for n in (1, 4, 7, 23)]
    recs = [jpeg.decode(jpeg.encode(r, 10.0)) for r in refs]
    for folder, images in (("ref", refs), ("rec", recs)):
        (tmp_path / folder).mkdir()
        for i, pixels in enumerate(images):
            save_png(pixels, tmp_path / folder / f"{i}.png")
    weights = shared_dir / "weights"
    from_folders = evalkit.fid(
        reference=tmp_path / "ref", distorted=tmp_path / "rec", weights_dir=weights, device="cpu"
    )
    from_arrays = evalkit.fid(
        reference=np.stack(refs) / 255,
        distorted=torch.tensor(np.stack(recs)).permute(0, 3, 1, 2) / 255,
        weights_dir=weights,
        device="cpu",
    )
    pairs = pd.DataFrame(
        {
            "reference": [f"ref/{i}.png" for i in range(4)],
            "reconstruction": [f"rec/{i}.png" for i in range(4)],
        }
    )
    engine = MetricEngine(["fid"], device="cpu", weights_dir=weights, cache=False, patch_size=None)
    expected = engine.evaluate(pairs, root=tmp_path, progress=False).sets.loc[0, "fid"]
    assert from_folders.samples == 4 and from_folders.value == pytest.approx(expected, rel=1e-6)
    assert from_arrays.value == pytest.approx(expected, rel=1e-4)  # float32 inputs, not PNG bytes
    assert from_folders.value > 0
    with pytest.raises(InputError, match="data_range=255"):
        evalkit.fid(reference=np.stack(refs).astype(float), distorted=np.stack(recs).astype(float))
    with pytest.raises(InputError, match="not a folder of images"):
        evalkit.fid(reference=tmp_path / "missing", distorted=tmp_path / "rec")


def curves(scales: dict[str, float]) -> pd.DataFrame:
    """Two images whose anchor needs r bpp for PSNR p(r) (image b four times as many) and whose
    test codec needs scale × r."""
    rows = []
    for image, scale in scales.items():
        for target, r in enumerate((0.25, 0.5, 1.0, 2.0)):
            r *= 4 if image == "b" else 1
            psnr = 28 + 4 * np.log2(r / 0.25) + (image == "b")
            rows.append({"image": image, "codec": "jpeg", "target_bpp": target, "bpp": r, "psnr": psnr})
            rows.append(
                {"image": image, "codec": "test", "target_bpp": target, "bpp": scale * r, "psnr": psnr}
            )
    return pd.DataFrame(rows)


def test_bd_rate_per_image_is_the_mean_of_each_images_delta_and_per_curve_the_reports():
    same = curves({"a": 0.8, "b": 0.8})
    for per in ("curve", "image"):
        row = evalkit.bd_table_of(same, "jpeg", "psnr", per=per).iloc[0]
        assert row["bd_rate"] == pytest.approx(-20.0, abs=1e-9) and row["refused"] == ""
    mixed = curves({"a": 0.5, "b": 1.0})
    per_image = evalkit.bd_table_of(mixed, "jpeg", "psnr", per="image").iloc[0]
    assert per_image["bd_rate"] == pytest.approx(-25.0, abs=1e-9) and per_image["images"] == 2
    per_curve = evalkit.bd_table_of(mixed, "jpeg", "psnr", per="curve").iloc[0]
    from evalkit.report.tables import bd_table, rd_curves

    report = bd_table({"psnr": rd_curves(mixed.assign(flag=""), None)["psnr"]}, "jpeg").iloc[0]
    assert per_curve["bd_rate"] == pytest.approx(report["bd_rate"], rel=1e-12)
    assert per_curve["bd_rate"] == pytest.approx(100 * (2.25 / 2.5 - 1), abs=1e-9)  # rates averaged first
    assert evalkit.bd_rate([1, 2, 4, 8], [30, 33, 36, 39], [1, 2, 4, 8], [31, 34, 37, 40]) < 0
    assert evalkit.bd_metric([1, 2, 4, 8], [30, 33, 36, 39], [1, 2, 4, 8], [31, 34, 37, 40]) == pytest.approx(
        1.0
    )
    with pytest.raises(InputError, match="lacks the column"):
        evalkit.bd_table_of(mixed.drop(columns="image"), "jpeg", "psnr", per="image")


def test_fit_on_a_dataframe_equals_the_fit_of_the_same_table_as_a_file(tmp_path):
    from evalkit.fit import fit_judgements

    rng = np.random.default_rng(3)
    n = 60
    psnr_a, psnr_b = rng.uniform(25, 40, n), rng.uniform(25, 40, n)
    p = 1 / (1 + np.exp(-(psnr_a - psnr_b) / 3))
    n_a = rng.binomial(20, p)
    table = pd.DataFrame(
        {
            "reference": [f"r{i % 12}" for i in range(n)],
            "a": "a",
            "b": "b",
            "n_a": n_a,
            "n_b": 20 - n_a,
            "psnr_a": psnr_a,
            "psnr_b": psnr_b,
        }
    )
    results, model = evalkit.fit_table(table, ["psnr"])
    table.to_csv(tmp_path / "judgements.csv", index=False)
    file_results, file_model = fit_judgements(tmp_path / "judgements.csv", ["psnr"], tmp_path / "model.json")
    assert model.coef == file_model.coef and model.coef[0] > 0
    pd.testing.assert_frame_equal(results.reset_index(drop=True), file_results.reset_index(drop=True))
    with pytest.raises(InputError, match="lacks n_a"):
        evalkit.fit_table(table.drop(columns="n_a"), ["psnr"])


@pytest.mark.slow
def test_the_docs_example_runs_and_prints_what_it_promises(shared_dir):
    example = ROOT / "docs" / "example.py"
    assert len(example.read_text().splitlines()) < 40
    result = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "EVALKIT_SHARED_DIR": str(shared_dir),
            "EVALKIT_WEIGHTS_DIR": str(shared_dir / "weights"),
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for expected in ("jpeg: ", "webp: ", "'lpips'", "BD-rate of webp against jpeg: -", "psnr-y + ms-ssim"):
        assert expected in out, out


def test_help_of_evalkit_and_of_every_subcommand_imports_no_torch():
    from evalkit.cli import COMMANDS
    from evalkit.cli.study import ACTIONS

    commands = [[], *([c] for c in COMMANDS), *(["study", a] for a in ACTIONS)]
    script = (
        "import sys, contextlib, io\nfrom evalkit.cli import main\nfor argv in %r:\n"  # noqa: UP031
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n            main([*argv, '--help'])\n        except SystemExit:\n            pass\n"
        "    assert 'usage: evalkit' in out.getvalue(), argv\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'lpips', 'compressai') if m in sys.modules))"
        % commands
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_help_of_evalkit_builds_every_subcommand_without_the_heavy_libraries():
    """``evalkit --help`` builds every subcommand's parser: none may import pandas, SciPy or
    matplotlib to do it (a choice list read from a library module is read when used:
    ``cli.options.LibraryChoices``), which kept the help at 0.2 s instead of 2 s."""
    script = (
        "import sys, contextlib, io\nfrom evalkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
