"""Every metric against its reference implementation, on Kodak and on real reconstructions."""
import numpy as np
import pandas as pd
import pytest
import torch

from evalkit.metrics import (LPIPSMetric, MetricEngine, MSSSIMReference, WeightsError,
                             frechet_distance, kernel_inception_distance, patches, psnr, psnr_y,
                             read_pairs)
from evalkit.metrics.fid import load_inception, statistics


def tensor(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_dir):
    """A real compress run: two Kodak images (one portrait) × JPEG, WebP × two rates."""
    from evalkit.compress import compress
    from evalkit.datasets import resolve_images
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        refs = [r for r in resolve_images("kodak", shared_dir / "data" / "kodak")
                if r.name in ("kodim04", "kodim23")]
        compress(refs, ["jpeg", "webp"], [0.3, 0.8], out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def pairs(run):
    table = read_pairs(run / "manifest.csv")
    from evalkit.images import load_image
    return [(load_image(run / a), load_image(run / b)) for a, b in
            zip(table["reference"], table["reconstruction"])]


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


def test_ms_ssim_matches_pytorch_msssim(pairs):
    from pytorch_msssim import ms_ssim
    for ref, rec in pairs:
        ours = MSSSIMReference(tensor([ref])).score(tensor([rec]))
        theirs = ms_ssim(tensor([ref]), tensor([rec]), data_range=255, size_average=False)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    ref = pairs[0][0]
    batch = MSSSIMReference(tensor([ref])).score(tensor([rec for r, rec in pairs if r is ref or np.array_equal(r, ref)]))
    assert batch.shape[0] == 4 and (batch < 1).all()
    assert MSSSIMReference(tensor([ref])).score(tensor([ref])).item() == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_refuses_small_images():
    with pytest.raises(ValueError, match="at least 161 px"):
        MSSSIMReference(torch.zeros(1, 3, 160, 400))


def test_lpips_matches_the_package(pairs, weights):
    import lpips
    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    reference.load_state_dict(torch.load(weights / "lpips-alex-v0.1.pth"))
    reference.eval()
    ours = LPIPSMetric("alex", weights_dir=weights)
    assert not ours.model.training
    for ref, rec in pairs:
        with torch.no_grad():
            theirs = reference(tensor([ref]) / 127.5 - 1, tensor([rec]) / 127.5 - 1).item()
        assert ours(tensor([ref]) / 255, tensor([rec]) / 255).item() == pytest.approx(theirs, rel=1e-5)


def test_lpips_small_images_and_reduced_precision(pairs, weights):
    metric = LPIPSMetric("alex", weights_dir=weights)
    with pytest.raises(ValueError, match="16×20 px is too small for LPIPS-alex"):
        metric(torch.rand(1, 3, 20, 16), torch.rand(1, 3, 20, 16))
    ref, rec = (tensor([a]) / 255 for a in pairs[0])
    full = metric(ref, rec).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = metric(ref, rec).float().item()
    assert reduced == pytest.approx(full, rel=0.05) and reduced != full


def test_missing_weights_say_which_file_and_where(tmp_path, monkeypatch):
    def offline(url, *a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match=r"vgg16-397923af\.pth.*download\.pytorch\.org.*lpips-vgg-v0\.1\.pth"):
        LPIPSMetric("vgg", weights_dir=tmp_path)
    with pytest.raises(WeightsError, match=r"pt_inception-2015-12-05-6726825d\.pth.*github\.com/mseitzer"):
        load_inception(tmp_path)


def test_inception_features_and_fid_match_pytorch_fid(run, weights, tmp_path):
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations
    model = load_inception(weights)
    table = read_pairs(run / "manifest.csv")
    refs = [str(run / p) for p in table["reference"].unique()]
    recs = [str(run / p) for p in table["reconstruction"]]
    theirs_ref = get_activations(refs, model, batch_size=1, dims=2048, device="cpu")
    theirs_rec = get_activations(recs, model, batch_size=1, dims=2048, device="cpu")
    engine = MetricEngine(["fid"], weights_dir=weights, device="cpu")
    from evalkit.images import load_image
    features = engine.inception_features([str(i) for i in range(len(recs))],
                                         lambda i: load_image(recs[i]), "image")
    ours = np.concatenate(features)
    np.testing.assert_allclose(ours, theirs_rec, rtol=1e-5, atol=1e-6)
    expected = calculate_frechet_distance(*statistics(theirs_ref), *statistics(theirs_rec))
    ours = frechet_distance(theirs_ref, theirs_rec)
    # 2 and 8 samples in 2048 dimensions: the covariance product is singular, and scipy's sqrtm
    # (which pytorch-fid uses) warns that its result may be inaccurate; it drifts by ~1e-5.
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
            calculate_frechet_distance(*statistics(a), *statistics(b)), rel=1e-6)
    a, b = rng.normal(size=(20000, 2)), rng.normal([1, 0], 2.0, size=(20000, 2))
    assert frechet_distance(a, b) == pytest.approx(1 + 2 * (1 + 4 - 2 * 2), rel=0.03)  # |Δμ|² + tr(Σ1+Σ2−2(Σ1Σ2)^½)
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
    engine = MetricEngine(["psnr", "psnr-y", "ms-ssim", "lpips", "fid", "kid"], weights_dir=weights,
                          device="cpu", batch_size=3)
    result = engine.evaluate(table, root=run, progress=False)
    direct = LPIPSMetric("alex", weights_dir=weights)
    for (ref, rec), row in zip(pairs, result.pairs.itertuples()):
        assert row.psnr == pytest.approx(psnr(ref, rec), rel=1e-12)
        assert row.ms_ssim == pytest.approx(MSSSIMReference(tensor([ref])).score(tensor([rec])).item(), rel=1e-5)
        assert row.lpips == pytest.approx(direct(tensor([ref]) / 255, tensor([rec]) / 255).item(), rel=1e-5)
    sets = result.sets.set_index(["codec", "target_bpp"])
    assert len(sets) == 4 and (sets["n_samples"] == 2).all() and (sets["n_samples_patch"] == 16).all()
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
    with pytest.raises(ValueError, match="unknown metric.*'ssim'.*choose from psnr"):
        MetricEngine(["ssim"])
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(small)
    bad = pd.DataFrame({"reference": [str(run / table["reference"][0])], "reconstruction": [str(small)]})
    with pytest.raises(ValueError, match="small.png is 120×100 but its reference"):
        MetricEngine(["psnr"], cache=False).evaluate(bad, progress=False)
    tiny = pd.DataFrame({"reference": [str(small)], "reconstruction": [str(small)]})
    assert MetricEngine(["psnr"], cache=False).evaluate(tiny, progress=False).pairs["psnr"][0] == np.inf
    with pytest.raises(ValueError, match="at least 161 px"):
        MetricEngine(["ms-ssim"], cache=False).evaluate(tiny, progress=False)
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        MetricEngine(["psnr"]).evaluate(pd.DataFrame({"reference": ["nothere.png"],
                                                      "reconstruction": ["nothere.png"]}))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="reference and reconstruction"):
        read_pairs(tmp_path / "t.csv")


def test_cli_metrics_writes_csv_and_parquet(run, weights, capsys):
    from evalkit.cli import main
    out = run / "m.parquet"
    code = main(["metrics", "--manifest", str(run / "manifest.csv"), "--metrics", "psnr,ms-ssim,fid",
                 "--weights-dir", str(weights), "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_parquet(out)
    assert {"psnr", "ms_ssim", "codec", "bpp"} <= set(table.columns) and len(table) == 8
    assert "n_samples" in pd.read_parquet(run / "m_sets.parquet").columns
    assert "fid" in capsys.readouterr().out
    assert main(["metrics", "--manifest", str(run / "manifest.csv"), "--metrics", "psnr,nope"]) == 2
