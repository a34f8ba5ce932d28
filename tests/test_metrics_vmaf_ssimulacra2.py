"""VMAF, VMAF NEG, XPSNR and SSIMULACRA2 against their references on Kodak crops and pairs.

libvmaf and XPSNR are ffmpeg's filters (imageio-ffmpeg's static build has both); what these
tests check is what evalkit feeds them (which image goes first, the luma, the frames of a batch)
against independent routes. No SSIMULACRA2 reference tool is shipped by Debian 12 or PyPI, so
the reference values below were printed by the C++ tool itself, built here from
cloudinary/ssimulacra2 at 81feacf (libjxl's code, "SSIMULACRA 2.1"), on the same crops.
"""

import io
import json
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from evalkit.errors import InputError
from evalkit.images import save_png
from evalkit.metrics import METRICS, MetricEngine, pair_metric, to_tensor
from evalkit.metrics.ffmpeg_filter import ffmpeg_with, luma8
from evalkit.metrics.ssimulacra2 import _recursive_blur, blur, recursive_gaussian

NEW = ["vmaf", "vmaf-neg", "xpsnr", "ssimulacra2"]


def tensor(images) -> torch.Tensor:
    return to_tensor(np.stack(images), torch.float64)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """A Pillow (libjpeg-turbo) JPEG round trip: a real, deterministic distortion."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.array(Image.open(buffer).convert("RGB"))


def posterize(x):
    return (x // 32 * 32 + 16).astype(np.uint8)


def blocky(x):
    return np.repeat(np.repeat(x[::2, ::2], 2, 0), 2, 1)[: x.shape[0], : x.shape[1]]


@pytest.fixture(scope="module")
def crops(kodak):
    """Two 192 × 192 Kodak crops (VMAF's features do not depend on the size beyond its filters)."""
    return [np.ascontiguousarray(kodak(4)[64:256, 96:288]), np.ascontiguousarray(kodak(23)[100:292, 200:392])]


# --------------------------------------------------------------------------------------- VMAF
@pytest.mark.parametrize("name, neg", [("vmaf", False), ("vmaf-neg", True)])
def test_vmaf_matches_an_independent_implementation(name, neg, crops):
    """vmaf-torch (Aistov & Koroteev 2023, a PyTorch port of libvmaf's features and SVM; within
    0.03 of libvmaf on Netflix's public set, by its README) on the same luma, motion 0."""
    from vmaf_torch import VMAF as VMAFTorch

    independent = VMAFTorch(enable_motion=False, clip_score=True, NEG=neg)
    metric = pair_metric(name)
    for ref in crops:
        recs = [jpeg(ref, q) for q in (10, 40, 90)]
        ours = metric(tensor([ref]), tensor(recs)).numpy()
        y_ref = torch.from_numpy(luma8(tensor([ref]), "test")).float()[:, None]
        y_recs = torch.from_numpy(luma8(tensor(recs), "test")).float()[:, None]
        theirs = independent(y_ref.expand_as(y_recs), y_recs).flatten().numpy()
        np.testing.assert_allclose(ours, theirs, atol=0.2)
        assert ours[0] < ours[1] < ours[2]  # better JPEG, higher VMAF


def test_vmaf_equals_ffmpeg_on_the_files(crops, tmp_path):
    """The plain route — ffmpeg reading the PNG files and converting them to YUV itself — gives
    the same scores, up to its own rounding of the luma (within 0.25 here)."""
    ref = crops[1]
    save_png(ref, tmp_path / "ref.png")
    for model, name in (("vmaf_v0.6.1", "vmaf"), ("vmaf_v0.6.1neg", "vmaf-neg")):
        for quality in (20, 70):
            rec = jpeg(ref, quality)
            save_png(rec, tmp_path / "rec.png")
            log = tmp_path / "log.json"
            subprocess.run(
                [
                    ffmpeg_with("libvmaf"),
                    "-loglevel",
                    "error",
                    "-i",
                    str(tmp_path / "rec.png"),
                    "-i",
                    str(tmp_path / "ref.png"),
                    "-lavfi",
                    f"[0:v]format=yuv444p[a];[1:v]format=yuv444p[b];[a][b]libvmaf="
                    f"model=version={model}:log_fmt=json:log_path={log}",
                    "-f",
                    "null",
                    "-",
                ],
                check=True,
            )
            plain = json.loads(log.read_text())["frames"][0]["metrics"]["vmaf"]
            assert pair_metric(name)(tensor([ref]), tensor([rec])).item() == pytest.approx(plain, abs=0.25)


def test_vmaf_batches_identical_images_and_refuses_what_it_cannot_measure(crops):
    metric, ref = pair_metric("vmaf"), crops[0]
    recs = [jpeg(ref, q) for q in (15, 50)] + [ref]
    batch = metric(tensor([ref]), tensor(recs)).numpy()
    one_by_one = [metric(tensor([ref]), tensor([r])).item() for r in recs]
    assert batch.tolist() == one_by_one
    # No motion: an identical still scores libvmaf's 97.43, not 100 (vmaf_v0.6.1).
    assert batch[2] == pytest.approx(97.43, abs=0.01)
    assert pair_metric("vmaf-neg")(tensor([ref]), tensor([ref])).item() == pytest.approx(97.43, abs=0.01)
    with pytest.raises(InputError, match="at least 17 px"):  # libvmaf segfaults at 16
        metric(tensor([ref[:16, :40]]), tensor([ref[:16, :40]]))
    with pytest.raises(InputError, match="8-bit images"):
        metric(tensor([ref]), tensor([ref]) + 0.001)


def test_without_an_ffmpeg_that_has_the_filter_the_error_says_what_to_install(monkeypatch, tmp_path):
    """Debian 12's ffmpeg has neither libvmaf nor xpsnr: with only it (or nothing) to find, the
    metric is refused with one line naming the fix."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on PATH
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/usr/bin/ffmpeg")  # Debian's, or none at all
    for name, filter_name in (("vmaf", "libvmaf"), ("xpsnr", "xpsnr")):
        with pytest.raises(InputError, match=f"no ffmpeg here has the {filter_name} filter.*imageio-ffmpeg"):
            pair_metric(name)


# -------------------------------------------------------------------------------------- XPSNR
def test_xpsnr_is_a_still_images_weighting(kodak):
    metric, ref = pair_metric("xpsnr"), np.ascontiguousarray(kodak(23)[:256, :384])
    recs = [jpeg(ref, q) for q in (10, 50, 90)]
    batch = metric(tensor([ref]), tensor(recs)).numpy()
    assert batch.tolist() == [metric(tensor([ref]), tensor([r])).item() for r in recs]
    assert batch[0] < batch[1] < batch[2]
    assert metric(tensor([ref]), tensor([ref])).item() == np.inf
    # The weights are the original's activity: the same error counts more on a flat original
    # than on a busy one (its activity floored at 4, 8-bit).
    flat = np.full((64, 64, 3), 128, np.uint8)
    noisy = (flat + np.random.default_rng(0).integers(-20, 21, flat.shape)).astype(np.uint8)
    assert (
        metric(tensor([flat]), tensor([noisy])).item() + 10 < metric(tensor([noisy]), tensor([flat])).item()
    )
    # Under 2025 px the filter's blocks vanish and it is plain PSNR-Y on the 8-bit luma.
    small, small_rec = ref[:40, :50], recs[0][:40, :50]
    y, y_rec = (luma8(tensor([x]), "test")[0].astype(float) for x in (small, small_rec))
    expected = 10 * np.log10(255**2 / np.mean((y - y_rec) ** 2))
    assert metric(tensor([small]), tensor([small_rec])).item() == pytest.approx(expected, abs=1e-4)


def xpsnr_by_definition(y: np.ndarray, y_rec: np.ndarray) -> float:
    """XPSNR of 8-bit luma as Helmrich et al. (2020) define it for a still (no temporal activity),
    written from the paper and the filter's description for pictures of 640 × 480 to 2048 × 1152
    (no downsampled high-pass, no min-smoothing of the weights): blocks of
    b = 4 ⌊32 √(WH / 3840·2160) + ½⌋, each block's activity the mean |12 o − 2 Σ₄ o − Σ_diag o|
    over its pixels whose 3 × 3 neighbourhood is in the picture, floored at 2^(8−6); the block's
    SSE over that activity, summed, times √(16 · 2^(2·8−9) / √r)."""
    h, w = y.shape
    r = w * h / (3840 * 2160)
    b = 4 * int(32 * np.sqrt(r) + 0.5)
    o, err = y.astype(np.int64), (y.astype(np.int64) - y_rec) ** 2
    high = np.zeros_like(o)
    c = o[1:-1, 1:-1]
    high[1:-1, 1:-1] = np.abs(
        12 * c
        - 2 * (o[1:-1, :-2] + o[1:-1, 2:] + o[:-2, 1:-1] + o[2:, 1:-1])
        - (o[:-2, :-2] + o[:-2, 2:] + o[2:, :-2] + o[2:, 2:])
    )
    inner = np.zeros((h, w), bool)
    inner[1:-1, 1:-1] = True
    wsse = 0.0
    for top in range(0, h, b):
        for left in range(0, w, b):
            block = (slice(top, top + b), slice(left, left + b))
            activity = max(high[block][inner[block]].mean(), 4.0)
            wsse += err[block].sum() / activity
    wsse64 = np.floor(wsse * np.sqrt(16 * 2 ** (2 * 8 - 9) / np.sqrt(r)) + 0.5)
    return 10 * np.log10(w * h * 255**2 / wsse64)


def test_xpsnr_equals_its_definition_on_a_kodak_image(kodak):
    ref = kodak(23)
    recs = [jpeg(ref, q) for q in (20, 75)]
    ours = pair_metric("xpsnr")(tensor([ref]), tensor(recs)).numpy()
    y, y_recs = luma8(tensor([ref]), "test")[0], luma8(tensor(recs), "test")
    np.testing.assert_allclose(ours, [xpsnr_by_definition(y, r) for r in y_recs], atol=6e-5)


# -------------------------------------------------------------------------------- SSIMULACRA2
#: (Kodak image, rows, columns of the crop) → distortion → what the C++ ssimulacra2 tool printed
#: (see the module's docstring).
SSIMULACRA2_TOOL = {
    (4, (50, 178), (100, 300)): {
        "posterize": 54.02363832,
        "blocky": 21.97364901,
        "jpeg30": 43.66512123,
        "jpeg90": 81.58924781,
    },
    (23, (0, 37), (0, 53)): {
        "posterize": -54.13487759,
        "blocky": 85.37700339,
        "jpeg30": 69.22284106,
        "jpeg90": 78.85242138,
    },
}
DISTORTIONS = {
    "posterize": posterize,
    "blocky": blocky,
    "jpeg30": lambda x: jpeg(x, 30),
    "jpeg90": lambda x: jpeg(x, 90),
}


def test_ssimulacra2_matches_the_cpp_tool_on_kodak_crops(kodak):
    """A 128 × 200 crop (six scales, the last 4 × 7) and a 37 × 53 one, where the edges and the
    scale loop decide the score (the PyPI package alone is up to 33 points off on these)."""
    metric = pair_metric("ssimulacra2")
    for (n, rows, columns), expected in SSIMULACRA2_TOOL.items():
        ref = np.ascontiguousarray(kodak(n)[slice(*rows), slice(*columns)])
        recs = [DISTORTIONS[d](ref) for d in expected]
        ours = metric(tensor([ref]), tensor(recs)).numpy()
        np.testing.assert_allclose(ours, list(expected.values()), atol=0.1)
        assert metric(tensor([ref]), tensor([ref])).item() == 100.0


def test_ssimulacra2_matches_the_cpp_tool_on_a_whole_kodak_image(kodak):
    ref = kodak(15)
    ours = pair_metric("ssimulacra2")(tensor([ref]), tensor([jpeg(ref, 30), jpeg(ref, 80)])).numpy()
    np.testing.assert_allclose(ours, [38.40203155, 72.31186337], atol=0.1)


def test_the_recursive_gaussian_is_libjxls():
    """CreateRecursiveGaussian(1.5): radius 5; the IIR is normalised (a constant row far from the
    edges stays constant) and, zero outside, darkens the edges as the tool's does; the kernel the
    blur applies is the recursion's, on any size."""
    radius, gains, feedbacks = recursive_gaussian(1.5)
    assert radius == 5 and len(gains) == len(feedbacks) == 3
    for shape in [(64, 96, 3), (7, 9, 3), (2, 3, 3)]:
        x = np.random.default_rng(0).random(shape)
        recursive = _recursive_blur(_recursive_blur(x, 1), 0)
        np.testing.assert_allclose(blur(x), recursive, rtol=0, atol=1e-12)
    flat = blur(np.ones((40, 60, 1)))
    assert flat[20, 30, 0] == pytest.approx(1.0, abs=1e-3)
    assert 0.4 < flat[0, 30, 0] < 0.7 and 0.4 < flat[20, 0, 0] < 0.7
    impulse = np.zeros((31, 31, 1))
    impulse[15, 15] = 1
    out = blur(impulse)[..., 0]
    assert out.sum() == pytest.approx(1.0, abs=1e-3) and np.allclose(out, out.T, atol=1e-12)
    assert out[15, 15] == pytest.approx(1 / (2 * np.pi * 1.5**2), rel=0.05)  # a Gaussian's peak


def test_ssimulacra2_refuses_small_and_non_8_bit_images(kodak):
    metric, ref = pair_metric("ssimulacra2"), kodak(4)[:7, :20]
    with pytest.raises(InputError, match="at least 8 px"):
        metric(tensor([ref]), tensor([ref]))
    with pytest.raises(InputError, match="8-bit images"):
        metric(tensor([kodak(4)[:20, :20]]), tensor([kodak(4)[:20, :20]]) * 0.999)


# ------------------------------------------------------------------- through the registry
def test_the_new_metrics_are_measured_fitted_and_never_trained_on(tmp_path, crops):
    """Pair metrics with a column, not differentiable (so no recipe or loop trains on them), and
    the engine writes the values their torch forms give."""
    from evalkit.train.losses.distortion import DISTORTIONS as TRAINABLE

    for name in NEW:
        m = METRICS[name]
        assert m.level == "pair" and not m.differentiable and not m.trainable and m.higher_is_better
        assert name not in TRAINABLE
    import pandas as pd

    ref = crops[0]
    save_png(ref, tmp_path / "ref.png")
    for q in (20, 60):
        save_png(jpeg(ref, q), tmp_path / f"q{q}.png")
    table = pd.DataFrame({"reference": ["ref.png"] * 2, "reconstruction": ["q20.png", "q60.png"]})
    pairs = MetricEngine(NEW, device="cpu", cache=False).evaluate(table, root=tmp_path, progress=False).pairs
    for name in NEW:
        direct = pair_metric(name)(tensor([ref]), tensor([jpeg(ref, 20), jpeg(ref, 60)])).numpy()
        np.testing.assert_allclose(pairs[METRICS[name].column], direct, rtol=METRICS[name].rtol)


def test_a_combination_of_them_measures_but_never_trains(tmp_path):
    """A model fitted on VMAF is applied to tables, but refused as a loss — by the library and by a
    recipe — rather than training with no gradient from it."""
    from evalkit.fit import CombinationModel, CombinedLoss
    from evalkit.train.recipe import _check_whole

    model = CombinationModel(["psnr", "vmaf"], [0.1, 0.05], 0.0, "pairwise", 0.7)
    model.save(tmp_path / "q.json")
    assert model.quality(np.array([[30.0, 80.0]]))[0] == pytest.approx(7.0)
    with pytest.raises(InputError, match="vmaf, which is not differentiable"):
        CombinedLoss.from_model(tmp_path / "q.json")

    class Recipe:  # only what the whole-recipe check reads
        gan, variable_rate, patch = None, True, 256
        losses = {f"combined:{tmp_path / 'q.json'}": 1.0}

    with pytest.raises(InputError, match=r"combined:.*q\.json uses vmaf"):
        _check_whole(Recipe())


def test_a_simulated_crowd_can_follow_vmaf(built_study):
    """The metric-following crowd's latent quality: + jod_per_unit × VMAF of each reconstruction
    a real study shows (higher VMAF, higher JOD)."""
    from evalkit.images import load_image
    from evalkit.study.crowd import metric_following_quality
    from evalkit.study.design import Design

    design = Design.load(built_study.trials_path)
    quality = metric_following_quality(
        design, "vmaf", 0.05, built_study.out_dir, engine_options={"cache": False, "device": "cpu"}
    )
    assert quality and all(0 < q <= 5 for q in quality.values())
    trial = next(t for a in design.assignments for t in a if t.kind == "pair")
    reference = tensor([load_image(built_study.out_dir / trial.reference)])
    for side in (trial.left, trial.right):
        direct = pair_metric("vmaf")(reference, tensor([load_image(built_study.out_dir / side.path)]))
        assert quality[side.path] == pytest.approx(0.05 * direct.item(), rel=1e-9)
