"""Fitting metric combinations to 2AFC judgements, on data whose answer is known."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score

from evalkit.errors import InputError
from evalkit.fit import (
    CombinationModel,
    CombinedLoss,
    CombinedMetric,
    bootstrap_ci,
    features_and_targets,
    metric_values,
    preferences,
    ransac,
    read_judgements,
    score_2afc,
)

TRUE = np.array([0.01, 1.5, -1.0])  # weights of psnr, ms-ssim, lpips


def simulate(n=3000, outliers=0.3, seed=1):
    """Judgements from a known combination plus noise; 30 % gross outliers, half of them random
    answers and half a block of raters who answer in reverse (systematic)."""
    rng = np.random.default_rng(seed)
    draw = lambda: np.c_[rng.normal(30, 3, n), rng.normal(0.95, 0.03, n), rng.normal(0.2, 0.08, n)]
    ma, mb = draw(), draw()
    p = np.clip(0.5 + (ma - mb) @ TRUE + rng.normal(0, 0.01, n), 0, 1)
    bad = rng.permutation(n)[: int(outliers * n)]
    p[bad[: len(bad) // 2]] = rng.uniform(0, 1, len(bad) // 2)
    reversed_block = bad[len(bad) // 2 :]
    p[reversed_block] = 1 - p[reversed_block]
    return np.c_[ma, mb], p


def test_2afc_score_is_the_lpips_formula():
    d0 = np.array([0.1, 0.5, 0.3, 0.2, 0.7])
    d1 = np.array([0.2, 0.4, 0.3, 0.9, 0.1])
    gts = np.array([0.0, 0.25, 0.6, 1.0, 0.5])  # fraction preferring p1 (= B)
    lpips_repo = (d0 < d1) * (1.0 - gts) + (d1 < d0) * gts + (d1 == d0) * 0.5
    ours = score_2afc(preferences(d1 - d0), 1 - gts)  # a distance: A preferred when d0 < d1
    np.testing.assert_allclose(ours, lpips_repo)
    assert ours.tolist() == [1.0, 0.25, 0.5, 0.0, 0.5]


def test_bootstrap_ci_covers_the_mean():
    scores = np.random.default_rng(0).uniform(0, 1, 4000)
    lo, hi = bootstrap_ci(scores)
    assert lo < scores.mean() < hi and hi - lo == pytest.approx(
        2 * 1.96 * scores.std() / np.sqrt(4000), rel=0.1
    )


def test_ransac_recovers_weights_where_least_squares_does_not():
    x, p = simulate()
    model = CombinedMetric(residual_threshold=0.03, link="linear").fit(x, p)
    np.testing.assert_allclose(model.coef_, TRUE, rtol=0.03)
    ols = LinearRegression(fit_intercept=False).fit(x[:, :3] - x[:, 3:], p - 0.5).coef_
    assert np.max(np.abs(ols / TRUE - 1)) > 0.25  # pulled toward 0 by the reversed raters
    assert 0.65 < model.inlier_mask_.mean() < 0.8  # the clean 70 %, and lucky random answers
    default = CombinedMetric(link="linear").fit(x, p)  # no counts: threshold from the targets' MAD
    np.testing.assert_allclose(default.coef_, TRUE, rtol=0.1)


def test_same_seed_same_model_and_standardisation_units():
    x, p = simulate(1000)
    a = CombinedMetric(random_state=7).fit(x, p)
    b = CombinedMetric(random_state=7).fit(x, p)
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.inlier_mask_, b.inlier_mask_)
    s = CombinedMetric(standardize=True, residual_threshold=0.03, link="linear").fit(x, p)
    np.testing.assert_allclose(s.coef_scaled_, s.coef_ * s.scale_)
    np.testing.assert_allclose(s.coef_, TRUE, rtol=0.05)


def test_core_ransac_on_exact_equations():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 2))
    b = a @ np.array([2.0, -3.0])
    b[:150] = rng.normal(0, 5, 150)
    result = ransac(a, b, threshold=1e-6, n_hypotheses=200, seed=0)
    np.testing.assert_allclose(result.coef, [2.0, -3.0], rtol=1e-9)
    assert result.inlier_mask[150:].all() and not result.inlier_mask[:150].any()


def test_scikit_learn_api():
    x, p = simulate(600)
    model = CombinedMetric(residual_threshold=0.03)
    assert clone(model).get_params() == model.get_params()
    scores = cross_val_score(model, x, p, cv=3)
    assert scores.shape == (3,) and (scores > 0.5).all()
    fitted = model.fit(x, p)
    assert fitted.predict(x).min() >= 0 and fitted.predict(x).max() <= 1
    assert fitted.score(x, p) == pytest.approx(fitted.score_samples(x, p).mean())
    per_sample = CombinedMetric("per-sample", fit_intercept=True, residual_threshold=0.05).fit(x, p)
    assert per_sample.score(x, p) > 0.55 and per_sample.inlier_mask_.shape == (1200,)


def test_degenerate_inputs_give_clear_errors():
    x, p = simulate(100)
    collinear = np.c_[x[:, 0], 2 * x[:, 0], x[:, 3], 2 * x[:, 3]]
    with pytest.raises(InputError, match="collinear"):
        CombinedMetric().fit(collinear, p)
    with pytest.raises(InputError, match="need at least 3"):
        CombinedMetric().fit(x[:2], p[:2])
    with pytest.raises(InputError, match="need at least 2"):
        CombinedMetric().fit(x[:1, [0, 3]], p[:1])
    nan = x.copy()
    nan[5, 1] = np.nan
    with pytest.raises(InputError, match="NaN or infinite .* row 5"):
        CombinedMetric().fit(nan, p)
    with pytest.raises(InputError, match=r"p_A in \[0, 1\]"):
        CombinedMetric().fit(x, p + 1)
    with pytest.raises(InputError, match="no intercept"):
        CombinedMetric(fit_intercept=True).fit(x, p)
    with pytest.raises(InputError, match="formulation"):
        CombinedMetric("triplet").fit(x, p)


def _judgement_csv(path, n=400):
    x, p = simulate(n, outliers=0.2)
    raters = 15
    n_a = np.random.default_rng(0).binomial(raters, p)
    table = pd.DataFrame(
        {
            "reference": [f"img{i % 24}" for i in range(n)],
            "a": [f"a{i}.png" for i in range(n)],
            "b": [f"b{i}.png" for i in range(n)],
            "n_a": n_a,
            "n_b": raters - n_a,
        }
    )
    for j, c in enumerate(["psnr", "ms_ssim", "lpips"]):
        table[f"{c}_a"], table[f"{c}_b"] = x[:, j], x[:, 3 + j]
    table.to_csv(path, index=False)
    return table


def test_judgement_table_checks(tmp_path):
    written = _judgement_csv(tmp_path / "j.csv")
    table = read_judgements(tmp_path / "j.csv")
    np.testing.assert_array_equal(table["p_a"], written["n_a"] / 15)
    x, y = features_and_targets(
        metric_values(table, ["psnr", "ms-ssim", "lpips"]), ["psnr", "ms-ssim", "lpips"]
    )
    expected_x, _ = simulate(400, outliers=0.2)  # the precomputed columns, A's then B's, unchanged
    np.testing.assert_allclose(x, expected_x, rtol=1e-12)
    np.testing.assert_array_equal(y, table["p_a"])
    pd.DataFrame({"reference": ["r"], "a": ["x"], "n_a": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="lacks b, n_b"):
        read_judgements(tmp_path / "bad.csv")
    pd.DataFrame({"reference": ["r"], "a": ["x"], "b": ["y"], "n_a": [-1], "n_b": [0]}).to_csv(
        tmp_path / "neg.csv", index=False
    )
    with pytest.raises(InputError, match="non-negative counts"):
        read_judgements(tmp_path / "neg.csv")


def test_cli_fit_prints_every_combination_and_saves_a_model(tmp_path, capsys):
    from evalkit.cli import main

    _judgement_csv(tmp_path / "j.csv")
    out = tmp_path / "combined.json"
    assert main(["fit", "--judgements", str(tmp_path / "j.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") >= 9 and "ms-ssim + lpips" in printed and "ci_low" in printed
    saved = json.loads(out.read_text())
    assert {"metrics", "coef", "intercept", "formulation", "score_2afc"} <= set(saved)
    model = CombinationModel.load(out)
    assert model.metrics == ["psnr", "ms-ssim", "lpips"] and 0.5 < model.score_2afc < 1
    assert model.coef[2] < 0 < model.coef[1]
    assert main(["fit", "--judgements", str(tmp_path / "j.csv"), "--metrics", "psnr,fid"]) == 2


def test_cli_fit_takes_metrics_evalkit_does_not_compute_from_the_table(tmp_path, capsys):
    from evalkit.cli import main

    table = _judgement_csv(tmp_path / "j.csv")
    table = table.assign(**{"VMAF-neg_a": 100 * table["ms_ssim_a"], "VMAF-neg_b": 100 * table["ms_ssim_b"]})
    table.to_csv(tmp_path / "j.csv", index=False)
    out = tmp_path / "vmaf.json"
    assert (
        main(
            ["fit", "--judgements", str(tmp_path / "j.csv"), "--metrics", "psnr,VMAF-neg", "--out", str(out)]
        )
        == 0
    )
    assert "probit link" in capsys.readouterr().out
    model = CombinationModel.load(out)
    assert (
        model.metrics == ["psnr", "VMAF-neg"]
        and model.link == "probit"
        and model.columns == ["psnr", "VMAF-neg"]
    )
    assert model.coef[1] > 0
    assert main(["fit", "--judgements", str(tmp_path / "j.csv"), "--metrics", "psnr,CVVDP"]) == 2
    assert "CVVDP_a/CVVDP_b columns" in capsys.readouterr().err
    legacy = json.loads(out.read_text())
    del legacy["link"]
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    assert CombinationModel.load(tmp_path / "old.json").link == "linear"  # files from before links


@pytest.fixture(scope="module")
def run(tmp_path_factory, shared_dir):
    from evalkit.compress import compress
    from evalkit.datasets import resolve_images

    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        refs = [r for r in resolve_images("kodak", shared_dir / "data" / "kodak") if r.name == "kodim19"]
        compress(refs, ["jpeg", "webp"], [0.3, 0.8], out, workers=1, progress=False)
    return out


def test_metrics_are_computed_for_real_images_and_the_model_is_a_metric_and_a_loss(run, shared_dir, tmp_path):
    from evalkit.cli import main
    from evalkit.images import load_image
    from evalkit.metrics import read_pairs
    from evalkit.metrics.psnr import psnr

    manifest = read_pairs(run / "manifest.csv")
    jpeg, webp = manifest[manifest.codec == "jpeg"], manifest[manifest.codec == "webp"]
    judgements = pd.DataFrame(
        {
            "reference": jpeg["reference"].to_numpy(),
            "a": jpeg["reconstruction"].to_numpy(),
            "b": webp["reconstruction"].to_numpy(),
            "n_a": [2, 3],
            "n_b": [8, 7],
        }
    )
    judgements.to_csv(run / "j.csv", index=False)
    weights = shared_dir / "weights"
    filled = metric_values(
        read_judgements(run / "j.csv"), ["psnr", "lpips"], root=run, engine_options={"weights_dir": weights}
    )
    assert filled["lpips_a"].notna().all()
    for side, rows in (("a", jpeg), ("b", webp)):  # A is JPEG's, B is WebP's, in order
        direct = [
            psnr(load_image(run / r.reference), load_image(run / r.reconstruction)) for r in rows.itertuples()
        ]
        np.testing.assert_allclose(filled[f"psnr_{side}"], direct, rtol=1e-12)

    model = CombinationModel(["psnr", "ms-ssim", "lpips"], [0.01, 1.0, -2.0], 0.1, "pairwise", 0.7)
    model.save(tmp_path / "combined.json")
    assert (
        main(
            [
                "metrics",
                "--manifest",
                str(run / "manifest.csv"),
                "--out",
                str(tmp_path / "m.csv"),
                "--metrics",
                f"combined:{tmp_path / 'combined.json'}",
                "--weights-dir",
                str(weights),
                "--quiet",
            ]
        )
        == 0
    )
    result = pd.read_csv(tmp_path / "m.csv")
    expected = 0.01 * result["psnr"] + result["ms_ssim"] - 2 * result["lpips"] + 0.1
    np.testing.assert_allclose(result["combined"], expected)

    loss_fn = CombinedLoss.from_model(tmp_path / "combined.json", weights_dir=weights)
    row = manifest.iloc[0]
    x = torch.from_numpy(load_image(run / row.reference)).permute(2, 0, 1)[None].float() / 255
    x_hat = torch.from_numpy(load_image(run / row.reconstruction)).permute(2, 0, 1)[None].float() / 255
    x_hat.requires_grad_(True)
    loss = loss_fn(x, x_hat)
    loss.backward()
    assert loss.item() == pytest.approx(-result["combined"][0], rel=1e-6)
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0


def simulate_probit(n=1500, reversed_share=0.15, seed=0):
    """Counted judgements from a known probit truth P(A) = Φ(Δm · w) with 3–15 people per row
    (about a fifth of the rows unanimous), and a share of rows answered in reverse."""
    from scipy import special

    rng = np.random.default_rng(seed)
    draw = lambda: np.c_[rng.normal(35, 4, n), rng.normal(0.3, 0.15, n)]
    ma, mb = draw(), draw()
    people = rng.integers(3, 16, n)
    n_a = rng.binomial(people, special.ndtr((ma - mb) @ PROBIT_TRUE))
    bad = rng.permutation(n)[: int(reversed_share * n)]
    n_a[bad] = people[bad] - n_a[bad]
    return np.c_[ma, mb], n_a / people, people


PROBIT_TRUE = np.array([0.15, -1.0])  # weights of a PSNR-like and an LPIPS-like metric


def test_probit_link_keeps_the_unanimous_rows_the_linear_form_rejects():
    from sklearn.model_selection import KFold

    x, p, people = simulate_probit()
    assert 0.15 < ((p == 0) | (p == 1)).mean() < 0.3
    fitted, held_out = {}, {}
    for link in ("probit", "linear"):
        fitted[link] = CombinedMetric(link=link).fit(x, p, people)
        scores = [
            np.average(
                CombinedMetric(link=link).fit(x[tr], p[tr], people[tr]).score_samples(x[te], p[te]),
                weights=people[te],
            )
            for tr, te in KFold(5, shuffle=True, random_state=0).split(x)
        ]
        held_out[link] = np.mean(scores)
    probit, linear = fitted["probit"], fitted["linear"]
    assert probit.threshold_.shape == (len(p),)  # each row's own sampling band
    assert probit.inlier_mask_.mean() > linear.inlier_mask_.mean() + 0.1
    assert probit.inlier_mask_.mean() > 0.8
    assert held_out["probit"] >= held_out["linear"] - 0.002
    ratio = probit.coef_[1] / probit.coef_[0]
    assert ratio == pytest.approx(PROBIT_TRUE[1] / PROBIT_TRUE[0], rel=0.15)
    assert (probit.predict(x) > 0).all() and (probit.predict(x) < 1).all()
    with pytest.raises(InputError, match="link must be one of probit, logit, linear"):
        CombinedMetric(link="cloglog").fit(x, p)
    with pytest.raises(InputError, match="positive count"):
        CombinedMetric().fit(x, p, np.zeros(len(p)))
