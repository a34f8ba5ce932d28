"""Every metric against its reference implementation, on Kodak and on real reconstructions."""

import numpy as np
import pandas as pd
import pytest
import torch

from evalkit.errors import InputError
from evalkit.metrics import (
    METRICS,
    MetricEngine,
    WeightsError,
    frechet_distance,
    kernel_inception_distance,
    pair_metric,
    patches,
    read_pairs,
    to_tensor,
)
from evalkit.metrics.fid import load_inception, statistics
from evalkit.metrics.lpips import LPIPS
from evalkit.metrics.msssim import MSSSIM
from evalkit.metrics.psnr import psnr, psnr_y
from evalkit.metrics.ssim import SSIM


def tensor(images):
    """uint8 images → (N, 3, H, W) float32 in [0, 1]."""
    return to_tensor(np.stack(images))


@pytest.fixture(scope="module")
def run(tmp_path_factory, kodak):
    """A real compress run: two Kodak photos (one portrait) × JPEG, WebP × two rates, on
    512 × 384 crops (portrait 384 × 512): half of Kodak's pixels, and still three 256-px FID
    patches each (two on the grid from the corner, one on the grid shifted by 128 px)."""
    from evalkit.compress import compress
    from evalkit.datasets import resolve_images
    from evalkit.images import save_png

    photos, out = tmp_path_factory.mktemp("photos"), tmp_path_factory.mktemp("run")
    for n in (4, 23):
        image = kodak(n)
        h, w = (512, 384) if image.shape[0] > image.shape[1] else (384, 512)
        save_png(np.ascontiguousarray(image[:h, :w]), photos / f"kodim{n:02d}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        compress(resolve_images(str(photos)), ["jpeg", "webp"], [0.3, 0.8], out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def pairs(run):
    table = read_pairs(run / "manifest.csv")
    from evalkit.images import load_image

    return [
        (load_image(run / a), load_image(run / b))
        for a, b in zip(table["reference"], table["reconstruction"])
    ]


@pytest.fixture(scope="module")
def weights(shared_dir):
    return shared_dir / "weights"


def test_psnr_matches_scikit_image(pairs):
    from skimage.color import rgb2ycbcr
    from skimage.metrics import peak_signal_noise_ratio

    for ref, rec in pairs:
        assert psnr(ref, rec) == pytest.approx(peak_signal_noise_ratio(ref, rec, data_range=255), rel=1e-12)
        expected = peak_signal_noise_ratio(rgb2ycbcr(ref)[..., 0], rgb2ycbcr(rec)[..., 0], data_range=255)
        assert psnr_y(ref, rec) == pytest.approx(expected, rel=1e-10)
    assert psnr(pairs[0][0], pairs[0][0]) == np.inf


def assert_each_pair_matches(metric, reference, pairs):
    """``metric`` on each pair equals ``reference`` (a pytorch_msssim function) on it × 255."""
    for ref, rec in pairs:
        ours = metric(tensor([ref]), tensor([rec]))
        theirs = reference(tensor([ref]) * 255, tensor([rec]) * 255, data_range=255, size_average=False)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_ms_ssim_matches_pytorch_msssim(pairs):
    from pytorch_msssim import ms_ssim

    assert_each_pair_matches(MSSSIM(), ms_ssim, pairs)
    ref = pairs[0][0]
    metric = MSSSIM()
    batch = metric.score(
        metric.prepare(tensor([ref])), tensor([rec for r, rec in pairs if np.array_equal(r, ref)])
    )
    assert batch.shape[0] == 4 and (batch < 1).all()
    assert metric(tensor([ref]), tensor([ref])).item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_matches_pytorch_msssim(pairs):
    from pytorch_msssim import ssim

    assert_each_pair_matches(SSIM(), ssim, pairs)
    ref = pairs[0][0]
    recs = tensor([rec for r, rec in pairs if np.array_equal(r, ref)])
    metric = SSIM()
    batch = metric.score(metric.prepare(tensor([ref])), recs)
    theirs = ssim(tensor([ref]).expand_as(recs) * 255, recs * 255, data_range=255, size_average=False)
    np.testing.assert_allclose(batch.numpy(), theirs.numpy(), rtol=1e-5)
    assert metric(tensor([ref]), tensor([ref])).item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InputError, match="at least 11 px"):
        metric(torch.zeros(1, 3, 10, 400), torch.zeros(1, 3, 10, 400))


def test_ms_ssim_refuses_small_images():
    with pytest.raises(InputError, match="at least 161 px"):
        MSSSIM()(torch.zeros(1, 3, 160, 400), torch.zeros(1, 3, 160, 400))


def test_lpips_matches_the_package(pairs, weights):
    import lpips

    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    reference.load_state_dict(torch.load(weights / "lpips-alex-v0.1.pth"))
    reference.eval()
    ours = LPIPS("alex", weights_dir=weights)
    assert not ours.model.training and not ours.train().model.training
    for ref, rec in pairs:
        with torch.no_grad():
            theirs = reference(tensor([ref]) * 2 - 1, tensor([rec]) * 2 - 1).item()
        assert ours(tensor([ref]), tensor([rec])).item() == pytest.approx(theirs, rel=1e-5)


def test_lpips_small_images_and_reduced_precision(pairs, weights):
    metric = LPIPS("alex", weights_dir=weights)
    with pytest.raises(InputError, match="16×20 px is too small for LPIPS-alex"):
        metric(torch.rand(1, 3, 20, 16), torch.rand(1, 3, 20, 16))
    ref, rec = (tensor([a]) for a in pairs[0])
    full = metric(ref, rec).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = metric(ref, rec).float().item()
    assert reduced == pytest.approx(full, rel=0.05) and reduced != full


def test_missing_weights_say_which_file_and_where(tmp_path, monkeypatch):
    def offline(url, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(
        WeightsError, match=r"vgg16-397923af\.pth.*download\.pytorch\.org.*lpips-vgg-v0\.1\.pth"
    ):
        LPIPS("vgg", weights_dir=tmp_path)
    with pytest.raises(WeightsError, match=r"pt_inception-2015-12-05-6726825d\.pth.*github\.com/mseitzer"):
        load_inception(tmp_path)


def test_inception_features_and_fid_match_pytorch_fid(run, weights, tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations

    model = load_inception(weights)
    table = read_pairs(run / "manifest.csv")
    refs = [str(run / p) for p in table["reference"].unique()]
    # One codec at one rate, a landscape and a portrait: each image is a forward pass or three.
    recs = [
        str(run / p) for p in table[(table.codec == "jpeg") & (table.target_bpp == 0.3)]["reconstruction"]
    ]
    theirs_ref, theirs_rec = (
        get_activations(paths, model, batch_size=1, dims=2048, device="cpu", num_workers=0)
        for paths in (refs, recs)
    )
    engine = MetricEngine(["fid"], weights_dir=weights, device="cpu")
    from evalkit.images import load_image

    features = engine.inception_features(
        [str(i) for i in range(len(recs))], lambda i: load_image(recs[i]), "image"
    )
    ours = np.concatenate(features)
    # Batched against one image at a time: the convolutions may sum in another order (seen: one
    # feature of 16 384 off by 3.3e-6 on an AMD EPYC; features are of order 0.1–1).
    np.testing.assert_allclose(ours, theirs_rec, rtol=1e-5, atol=1e-5)
    # FID on the first 256 of the 2048 features: the formula does not depend on the dimension,
    # and scipy's sqrtm (which pytorch-fid uses) is cubic in it (5 CPU-s at 512 here).
    ref256, rec256 = theirs_ref[:, :256], theirs_rec[:, :256]
    expected = calculate_frechet_distance(*statistics(ref256), *statistics(rec256))
    ours = frechet_distance(ref256, rec256)
    # 2 and 2 samples in 256 dimensions: the covariance product is singular, and sqrtm warns
    # that its result may be inaccurate; it drifts by ~1e-5.
    assert ours == pytest.approx(expected, rel=1e-4)
    # Where the exact answer is known, ours has it: a set against itself, and shifted by c.
    assert abs(frechet_distance(theirs_rec, theirs_rec)) < 1e-9 * np.trace(statistics(theirs_rec)[1])
    shift = np.full(2048, 0.01)
    assert frechet_distance(theirs_rec, theirs_rec + shift) == pytest.approx(2048 * 1e-4, rel=1e-6)


def test_frechet_distance_on_known_gaussians():
    rng = np.random.default_rng(0)
    from pytorch_fid.fid_score import calculate_frechet_distance

    for n, d in ((5000, 8), (30, 64)):
        a, b = rng.normal(size=(n, d)), rng.normal(0.5, 2.0, size=(n, d))
        assert frechet_distance(a, b) == pytest.approx(
            calculate_frechet_distance(*statistics(a), *statistics(b)), rel=1e-6
        )
    a, b = rng.normal(size=(20000, 2)), rng.normal([1, 0], 2.0, size=(20000, 2))
    assert frechet_distance(a, b) == pytest.approx(
        1 + 2 * (1 + 4 - 2 * 2), rel=0.03
    )  # |Δμ|² + tr(Σ1+Σ2−2(Σ1Σ2)^½)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], b)


def test_kid_by_hand():
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    k = lambda u, v: (u * v + 1) ** 3
    expected = (2 * k(0, 1) / 2) + (2 * k(1, 2) / 2) - 2 * np.mean([k(a, b) for a in (0, 1) for b in (1, 2)])
    assert kernel_inception_distance(x, y) == pytest.approx(expected)


def test_patches_grid_and_shifted_grid():
    image = torch.arange(3 * 512 * 768, dtype=torch.float32).reshape(3, 512, 768)
    p = patches(image, 256)
    assert p.shape == (6 + 2, 3, 256, 256)
    assert torch.equal(p[0], image[:, :256, :256]) and torch.equal(p[5], image[:, 256:, 512:])
    assert torch.equal(p[6], image[:, 128:384, 128:384]) and torch.equal(p[7], image[:, 128:384, 384:640])
    assert patches(torch.zeros(3, 200, 300), 256).shape[0] == 0


def test_engine_equals_direct_calls_and_caches(run, pairs, weights, monkeypatch):
    table = read_pairs(run / "manifest.csv")
    engine = MetricEngine(
        ["psnr", "psnr-y", "ms-ssim", "lpips", "fid", "kid"], weights_dir=weights, device="cpu", batch_size=3
    )
    result = engine.evaluate(table, root=run, progress=False)
    from pytorch_msssim import ms_ssim
    from skimage.metrics import peak_signal_noise_ratio

    for (ref, rec), row in zip(pairs, result.pairs.itertuples()):
        assert row.psnr == pytest.approx(peak_signal_noise_ratio(ref, rec, data_range=255), rel=1e-12)
        theirs = ms_ssim(tensor([ref]) * 255, tensor([rec]) * 255, data_range=255)
        assert row.ms_ssim == pytest.approx(theirs.item(), rel=1e-5)
    sets = result.sets.set_index(["codec", "target_bpp"])
    assert len(sets) == 4 and (sets["n_samples"] == 2).all() and (sets["n_samples_patch"] == 6).all()
    assert (sets["fid_patch"] > 0).all() and np.isfinite(sets["kid"]).all()

    import evalkit.metrics.engine as engine_module

    decoded = []
    monkeypatch.setattr(engine_module, "load_image", lambda p: decoded.append(p))
    again = MetricEngine(["psnr", "ms-ssim", "lpips", "fid"], weights_dir=weights, device="cpu")
    warm = again.evaluate(table, root=run, progress=False)
    assert decoded == []  # everything came from the cache
    pd.testing.assert_series_equal(warm.pairs["lpips"], result.pairs["lpips"])
    pd.testing.assert_series_equal(warm.sets["fid"], result.sets["fid"])


def test_engine_errors(run, tmp_path, weights):
    from PIL import Image

    table = read_pairs(run / "manifest.csv")
    with pytest.raises(InputError, match="unknown metric.*'butteraugli'.*choose from psnr"):
        MetricEngine(["butteraugli"])
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(small)
    bad = pd.DataFrame({"reference": [str(run / table["reference"][0])], "reconstruction": [str(small)]})
    with pytest.raises(InputError, match="small.png is 120×100 but its reference"):
        MetricEngine(["psnr"], cache=False).evaluate(bad, progress=False)
    tiny = pd.DataFrame({"reference": [str(small)], "reconstruction": [str(small)]})
    assert MetricEngine(["psnr"], cache=False).evaluate(tiny, progress=False).pairs["psnr"][0] == np.inf
    with pytest.raises(InputError, match="at least 161 px"):
        MetricEngine(["ms-ssim"], cache=False).evaluate(tiny, progress=False)
    with pytest.raises(InputError, match="nothere.png"):
        MetricEngine(["psnr"]).evaluate(
            pd.DataFrame({"reference": ["nothere.png"], "reconstruction": ["nothere.png"]})
        )
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"lacks the column\(s\) reference, reconstruction; it has a, b"):
        read_pairs(tmp_path / "t.csv")


def test_cli_metrics_writes_csv_and_parquet(run, weights, capsys):
    from evalkit.cli import main

    out = run / "m.parquet"
    code = main(
        [
            "metrics",
            "--manifest",
            str(run / "manifest.csv"),
            "--metrics",
            "psnr,ms-ssim,fid",
            "--weights-dir",
            str(weights),
            "--fid-patch-size",
            "0",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    # whole-image FID only: the patches are the engine's (test_engine_equals_direct_calls_and_caches)
    assert code == 0
    table = pd.read_parquet(out)
    assert {"psnr", "ms_ssim", "codec", "bpp"} <= set(table.columns) and len(table) == 8
    assert "n_samples" in pd.read_parquet(run / "m_sets.parquet").columns
    assert "fid" in capsys.readouterr().out
    assert main(["metrics", "--manifest", str(run / "manifest.csv"), "--metrics", "psnr,nope"]) == 2


# ------------------------------------------------------------------ the registry's declarations
DIFFERENTIABLE = [name for name, m in METRICS.items() if m.differentiable]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """A Pillow (libjpeg-turbo) JPEG round trip: a real, deterministic degradation."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.array(Image.open(buffer).convert("RGB"))


@pytest.fixture(scope="module")
def ladder(kodak):
    """A real 168 × 168 Kodak crop (MS-SSIM needs 161 px a side) and the same crop degraded more
    and more: identical, JPEG at quality 75, JPEG at quality 10."""
    crop = np.ascontiguousarray(kodak(23)[100:268, 200:368])
    return crop, [crop, jpeg(crop, 75), jpeg(crop, 10)]


def torch_form(name, weights):
    """The registry's torch form of ``name``; a skip where its network's weights are not in
    ../shared/weights, which holds LPIPS' AlexNet and FID's Inception only (its README: the VGG
    and SqueezeNet trunks are never required by a test)."""
    try:
        return pair_metric(name, weights)
    except WeightsError as missing:
        pytest.skip(f"{name}: its weights are not among ../shared's ({missing})")


def test_registry_columns_and_levels():
    """Every column is written by one metric; a set metric is computed over features and has no
    torch form; a pair metric has a torch form and nothing over features."""
    columns = [c for m in METRICS.values() for c in m.columns]
    assert len(columns) == len(set(columns))
    for name, m in METRICS.items():
        is_set = m.level == "set"
        assert m.level in ("pair", "set") and len(m.labels) == len(m.columns)
        assert (m.compute is not None) == is_set and (m.build is None) == is_set, name
        if m.level == "set":
            with pytest.raises(InputError, match=f"unknown pair-level metric '{name}'"):
                pair_metric(name)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_a_differentiable_metric_has_a_gradient_on_a_real_crop(name, ladder, weights):
    """Declared differentiable: its torch form's value has a finite, non-zero gradient with respect
    to the reconstruction (a JPEG of a real crop), so a training loss learns from it."""
    reference, (_, _, degraded) = ladder
    x_hat = tensor([degraded]).requires_grad_(True)
    torch_form(name, weights)(tensor([reference]), x_hat).sum().backward()
    assert torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if not m.differentiable])
def test_a_metric_not_differentiable_is_never_a_training_loss(name, tmp_path):
    """Declared not differentiable: not trainable, refused as a recipe's distortion, and refused
    as a term of a combined loss."""
    from evalkit.fit import CombinationModel, CombinedLoss
    from evalkit.train.losses.distortion import distortion

    assert not METRICS[name].trainable
    with pytest.raises(InputError, match=f"unknown distortion '{name}'"):
        distortion(name)
    CombinationModel(["psnr", name], [0.1, 0.05], 0.0, "pairwise", 0.7).save(tmp_path / "q.json")
    with pytest.raises(InputError, match=f"{name}, which is not differentiable"):
        CombinedLoss.from_model(tmp_path / "q.json")


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.level == "pair"])
def test_a_pair_metric_moves_the_declared_way_as_a_real_crop_degrades(name, ladder, weights):
    """``higher_is_better`` agrees with the metric: identical, JPEG 75, JPEG 10 of a real crop
    score strictly better to worse in the declared direction."""
    reference, degraded = ladder
    with torch.no_grad():
        values = torch_form(name, weights)(tensor([reference] * 3), tensor(degraded)).tolist()
    better_first = values if METRICS[name].higher_is_better else [-v for v in values]
    assert better_first[0] > better_first[1] > better_first[2], values


@pytest.fixture(scope="module")
def feature_ladder(kodak, weights):
    """Inception pool3 features of eight 96-px crops of a real photo, and of their JPEGs at
    quality 10 (one network load for every set metric)."""
    image = kodak(23)
    crops = [image[r : r + 96, c : c + 96] for r in (0, 200) for c in (0, 150, 300, 450)]
    with torch.no_grad():
        inception = load_inception(weights)
        return [
            inception(tensor(s))[0].flatten(1).double().numpy() for s in (crops, [jpeg(c, 10) for c in crops])
        ]


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.level == "set"])
def test_a_set_metric_moves_the_declared_way_as_real_crops_degrade(name, feature_ladder):
    """The same for set metrics: a set of real crops against itself scores better than against
    its JPEGs."""
    reference, degraded = feature_ladder
    values = [METRICS[name].compute(reference, f) for f in (reference, degraded)]
    better_first = values if METRICS[name].higher_is_better else [-v for v in values]
    assert better_first[0] > better_first[1], values


@pytest.mark.parametrize("name", ["psnr", "psnr-y", "ms-ssim", "ssim", "lpips"])
def test_torch_form_equals_the_engine_on_kodak(name, run, pairs, weights):
    """What a training loss computes is what the engine reports: the same 8-bit images in, the
    same value out (the alternative trunks share LPIPS' code and have no weights here). That the
    value has a gradient is checked for every differentiable metric on a crop (above)."""
    engine = MetricEngine([name], weights_dir=weights, device="cpu", cache=False)
    column = METRICS[name].column
    reported = engine.evaluate(read_pairs(run / "manifest.csv"), root=run, progress=False).pairs[column]
    form = pair_metric(name, weights)
    with torch.no_grad():
        for (ref, rec), value in zip(pairs, reported):  # one at a time: portrait and landscape
            assert abs(form(tensor([ref]), tensor([rec])).item() - value) <= 1e-6


@pytest.mark.parametrize("name", ["psnr", "psnr-y"])
def test_psnr_gradients_pass_gradcheck(name):
    x, x_hat = torch.rand(2, 3, 6, 5, dtype=torch.float64), torch.rand(2, 3, 6, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(pair_metric(name), (x, x_hat.requires_grad_()))


def test_ms_ssim_gradient_passes_gradcheck():
    """Full-size (MS-SSIM needs 161 px a side), so the fast mode: the gradient is checked along
    random directions against central finite differences, in float64."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 164, 170, dtype=torch.float64, generator=generator)
    x_hat = (x + 0.1 * torch.rand(x.shape, dtype=torch.float64, generator=generator)).clamp(0, 1)
    assert torch.autograd.gradcheck(MSSSIM(), (x, x_hat.requires_grad_()), fast_mode=True)


def test_ssim_gradient_passes_gradcheck():
    """Fast mode, as for MS-SSIM: the gradient along random directions against central finite
    differences, in float64 (the full Jacobian, 2 688 columns, took 26 s)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 14, dtype=torch.float64, generator=generator)
    x_hat = (x + 0.1 * torch.rand(x.shape, dtype=torch.float64, generator=generator)).clamp(0, 1)
    assert torch.autograd.gradcheck(SSIM(), (x.requires_grad_(), x_hat.requires_grad_()), fast_mode=True)


def test_lpips_gradient_passes_gradcheck(weights):
    metric = LPIPS("alex", weights_dir=weights).double()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 48, 40, dtype=torch.float64, generator=generator)
    x_hat = torch.rand(1, 3, 48, 40, dtype=torch.float64, generator=generator)
    assert torch.autograd.gradcheck(metric, (x, x_hat.requires_grad_()), fast_mode=True)
    assert not any(p.requires_grad for p in metric.parameters())  # the network stays frozen


def test_patch_fid_and_kid_equal_their_definitions_computed_independently(run, weights):
    """Patches cut by hand (a 256-px grid from the corner, and one shifted by 128 px), pool3
    features from pytorch-fid's network, FID by the formula that the test above holds equal to
    pytorch-fid's, KID by scikit-learn's polynomial kernel: the engine's patch FID/KID must equal
    these."""
    from sklearn.metrics.pairwise import polynomial_kernel

    from evalkit.images import load_image

    table = read_pairs(run / "manifest.csv")
    group = table[(table.codec == "webp") & (table.target_bpp == 0.8)]
    engine = MetricEngine(["fid", "kid"], weights_dir=weights, device="cpu", cache=False)
    row = engine.evaluate(group, root=run, progress=False).sets.iloc[0]
    model = load_inception(weights)

    def patch_features(paths):
        tiles = []
        for p in paths:
            image = load_image(run / p)
            h, w = image.shape[:2]
            for offset in (0, 128):
                for top in range(offset, h - 255, 256):
                    for left in range(offset, w - 255, 256):
                        tiles.append(image[top : top + 256, left : left + 256])
        with torch.no_grad():
            return model(tensor(tiles))[0].flatten(1).double().numpy()

    a, b = patch_features(group["reference"]), patch_features(group["reconstruction"])
    assert row.n_samples_patch == len(b) == 6
    assert row.fid_patch == pytest.approx(frechet_distance(a, b), rel=1e-4)  # batched features: ~1e-6
    kernel = lambda x, y: polynomial_kernel(x, y, degree=3, gamma=1 / x.shape[1], coef0=1)
    n = len(a)
    off_diagonal = lambda k: (k.sum() - np.trace(k)) / (n * (n - 1))
    expected_kid = off_diagonal(kernel(a, a)) + off_diagonal(kernel(b, b)) - 2 * kernel(a, b).mean()
    assert row.kid_patch == pytest.approx(expected_kid, rel=1e-6)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_batched_and_on_each_device_within_the_registry_tolerance(device, run, weights):
    """What a GPU worker computes — batches of 8, on CUDA when there is one — equals the CPU's
    one image at a time within each metric's ``rtol`` (on this CPU: the batching alone)."""
    table = read_pairs(run / "manifest.csv")
    table = table[table.codec == "jpeg"]  # 2 images × 2 rates; FID on whole images
    names = ["psnr", "psnr-y", "ms-ssim", "lpips", "fid", "kid"]
    one, batched = (
        MetricEngine(names, weights_dir=weights, device=d, batch_size=n, cache=False, patch_size=None)
        for d, n in (("cpu", 1), (device, 8))
    )
    a, b = (e.evaluate(table, root=run, progress=False) for e in (one, batched))
    for name in names:
        m = METRICS[name]
        for column in m.columns[:1]:
            frame_a, frame_b = (a.pairs, b.pairs) if m.level == "pair" else (a.sets, b.sets)
            np.testing.assert_allclose(frame_b[column], frame_a[column], rtol=m.rtol, err_msg=column)


def test_on_a_cpu_references_run_side_by_side_each_on_one_thread(run, weights, monkeypatch, tmp_path):
    """With torch at two threads, two references are measured at once on the engine's threads,
    each with torch at one thread: exactly the values of one reference at a time; the caller's
    thread count is restored; an error in one reference is raised as it is."""
    import threading

    from PIL import Image

    import evalkit.metrics.engine as engine_module
    from evalkit.scoped import torch_settings

    table = read_pairs(run / "manifest.csv")
    names = ["psnr", "ms-ssim", "lpips"]
    engine = MetricEngine(names, weights_dir=weights, device="cpu", cache=False)
    with torch_settings(threads=1):
        one_at_a_time = engine.evaluate(table, root=run, progress=False).pairs
    seen = []
    compute = engine_module.MetricEngine.compute

    def spy(self, unit):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return compute(self, unit)

    monkeypatch.setattr(engine_module.MetricEngine, "compute", spy)
    with torch_settings(threads=2):
        side_by_side = engine.evaluate(table, root=run, progress=False).pairs
        assert torch.get_num_threads() == 2
    assert len(seen) == table["reference"].nunique() == 2
    assert all(name.startswith("evalkit-metrics") and threads == 1 for name, threads in seen)
    pd.testing.assert_frame_equal(side_by_side, one_at_a_time)

    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(small)
    bad = pd.DataFrame(
        {"reference": [str(run / r) for r in table["reference"].unique()], "reconstruction": [str(small)] * 2}
    )
    with torch_settings(threads=2), pytest.raises(InputError, match="small.png is 120×100 but its reference"):
        engine.evaluate(bad, progress=False)


def test_ms_ssim_halving_equals_the_pooling_of_pytorch_msssim(pairs):
    """MS-SSIM's 2×2 averaging by slices equals pytorch_msssim's ``avg_pool2d`` (odd sides padded
    by one zero on each end) bit for bit, on a Kodak photo cut to even and to odd sides, in both
    memory layouts. Gamma-lifted, so that its values are not integers, whose sums any order gets
    exactly."""
    import torch.nn.functional as F

    from evalkit.metrics.msssim import _down

    photo = tensor([pairs[0][0]]).sqrt() * 255
    for x in (photo, photo[..., :255, :257], photo[..., :6, :9]):
        for layout in (x.contiguous(), x.contiguous(memory_format=torch.channels_last)):
            expected = F.avg_pool2d(layout, kernel_size=2, padding=[s % 2 for s in x.shape[2:]])
            assert torch.equal(_down(layout), expected), x.shape


def test_the_command_freezes_what_is_left_only_as_the_processs_own_command(run, monkeypatch):
    """``main(argv)`` called as a library leaves the garbage collector alone; as the process's
    command (argv None) it freezes what is left before the interpreter exits; ``gc_paused``
    (around the lpips import) restores the collector either way."""
    import gc

    from evalkit.cli import main
    from evalkit.scoped import gc_paused

    command = ["metrics", "--manifest", str(run / "manifest.csv"), "--metrics", "psnr,nope"]
    frozen = gc.get_freeze_count()
    assert main(command) == 2 and gc.get_freeze_count() == frozen
    monkeypatch.setattr("sys.argv", ["evalkit", *command])
    try:
        gc.collect()  # no garbage created before this line is left uncollected
        assert main() == 2 and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
    for enabled in (False, True):
        (gc.enable if enabled else gc.disable)()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
