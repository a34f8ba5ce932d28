"""Every training loss against values worked out by hand on small tensors."""

import math
from pathlib import Path

import pytest
import torch

from evalkit.errors import InputError
from evalkit.metrics import pair_metric
from evalkit.train.losses import (
    MSE,
    LossTerm,
    MaskWeighted,
    RecipeTerm,
    correlation_loss,
    correlation_map,
    correlation_mask,
    distortion,
    estimated_bpp,
    hrrgan,
    ragan,
    rgan,
    softplus_gan,
)


def sp(a):  # softplus by hand
    return math.log(1 + math.exp(a))


def test_rate_is_bits_over_pixels():
    likelihoods = {"y": torch.full((2, 1, 2, 2), 0.5), "z": torch.tensor([[[[0.25]]], [[[1.0]]]])}
    # image 0: 4 × 1 bit + 2 bits; image 1: 4 × 1 bit + 0 bits; 8×8 pixels each
    assert estimated_bpp(likelihoods, 64).tolist() == pytest.approx([6 / 64, 4 / 64])


def test_mse_on_255_scale():
    x = torch.zeros(1, 3, 2, 2)
    x_hat = torch.zeros(1, 3, 2, 2)
    x_hat[0, 0, 0, 0] = 0.1  # one of 12 values off by 0.1
    assert MSE()(x, x_hat).item() == pytest.approx(255**2 * 0.01 / 12)


def test_ms_ssim_term_is_one_minus_the_registry_metric():
    torch.manual_seed(0)
    x, x_hat = torch.rand(1, 3, 176, 176), torch.rand(1, 3, 176, 176)
    expected = 1 - pair_metric("ms-ssim")(x, x_hat)
    assert distortion("ms-ssim")(x, x_hat).item() == pytest.approx(expected.item())


def test_mask_weighted_distortion_by_hand():
    x = torch.zeros(1, 3, 1, 2)
    x_hat = torch.zeros(1, 3, 1, 2)
    x_hat[..., 0] = 0.2  # salient pixel (mask 1) off by 0.2
    x_hat[..., 1] = 0.4  # background pixel (mask 0) off by 0.4
    mask = torch.tensor([[[[1.0, 0.0]]]])
    loss = MaskWeighted(MSE(), salient_weight=2.0, background_weight=0.5)(x, x_hat, mask)
    salient = 255**2 * (0.2**2) / 2  # d(x⊙s, x̂⊙s): one of two pixels differs
    background = 255**2 * (0.4**2) / 2
    assert loss.item() == pytest.approx(2.0 * salient + 0.5 * background, rel=1e-5)


def test_recipe_terms_pick_the_output_and_the_mask_by_hand():
    x = torch.zeros(1, 3, 1, 2)
    out = {"x_hat": torch.zeros(1, 3, 1, 2), "x_hat_main": torch.full((1, 3, 1, 2), 0.1)}
    out["x_hat"][..., 0] = 0.2  # blended output: salient pixel off by 0.2, background exact
    mask = torch.tensor([[[[1.0, 0.0]]]])
    assert RecipeTerm("mse")(x, out).item() == pytest.approx(255**2 * 0.04 / 2, rel=1e-5)
    assert RecipeTerm("main:mse")(x, out).item() == pytest.approx(255**2 * 0.01, rel=1e-5)
    roi = RecipeTerm("roi:mse", 3.0, 0.5)(x, out, mask).item()
    assert roi == pytest.approx(3.0 * 255**2 * 0.04 / 2, rel=1e-5)
    main_roi = RecipeTerm("main:roi:mse", 3.0, 0.5)(x, out, mask).item()
    assert main_roi == pytest.approx(3.0 * 255**2 * 0.01 / 2 + 0.5 * 255**2 * 0.01 / 2, rel=1e-5)


def test_paper_002_eq3_is_main_ms_ssim_plus_roi_weighted_ms_ssim():
    """L_d = [1 − MS-SSIM(x, x̂_m)] + λ_p·[1 − MS-SSIM(x⊙t, x̂⊙t)] (background weight 0)."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 176, 176)
    out = {
        "x_hat": (x + 0.1 * torch.randn_like(x)).clamp(0, 1),
        "x_hat_main": (x + 0.2 * torch.randn_like(x)).clamp(0, 1),
    }
    t = torch.zeros(1, 1, 176, 176)
    t[..., 40:120, 30:100] = 1.0
    ms_ssim, lambda_p = pair_metric("ms-ssim"), 4.0
    expected = (1 - ms_ssim(x, out["x_hat_main"])) + lambda_p * (1 - ms_ssim(x * t, out["x_hat"] * t))
    loss = RecipeTerm("main:ms-ssim", 1.0, 0.0)(x, out, t) + lambda_p * RecipeTerm("roi:ms-ssim", 1.0, 0.0)(
        x, out, t
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert 0 < (1 - ms_ssim(x, out["x_hat_main"])).item() < loss.item()


def test_unknown_distortion_is_refused():
    with pytest.raises(InputError, match="unknown distortion 'l3'"):
        distortion("l3")


REAL = torch.tensor([1.0, 3.0])
FAKE = torch.tensor([0.0, -2.0])


def test_softplus_gan_paper_002_eq4():
    d, g = softplus_gan(REAL, FAKE)
    real_term = (sp(-1) + sp(-3)) / 2
    assert d.item() == pytest.approx(real_term + (sp(0) + sp(-2)) / 2)  # r = −1
    assert g.item() == pytest.approx(real_term + (sp(0) + sp(2)) / 2)  # r = +1


def test_ragan_by_hand():
    mean_real, mean_fake = 2.0, -1.0
    d, g = ragan(REAL, FAKE)
    d_hand = (sp(-(1 - mean_fake)) + sp(-(3 - mean_fake))) / 2 + (sp(0 - mean_real) + sp(-2 - mean_real)) / 2
    g_hand = (sp(-(0 - mean_real)) + sp(-(-2 - mean_real))) / 2 + (sp(1 - mean_fake) + sp(3 - mean_fake)) / 2
    assert d.item() == pytest.approx(d_hand)
    assert g.item() == pytest.approx(g_hand)


def test_rgan_by_hand():
    d, g = rgan(REAL, FAKE)
    assert d.item() == pytest.approx((sp(-1) + sp(-5)) / 2)
    assert g.item() == pytest.approx((sp(1) + sp(5)) / 2)


def test_hrrgan_formula_and_stop_gradient():
    real = REAL.clone().requires_grad_()
    fake = FAKE.clone().requires_grad_()
    higher = torch.tensor([0.5, 1.0], requires_grad=True)
    d, g = hrrgan(real, fake, higher)
    assert d.item() == pytest.approx((sp(-1) + sp(-5)) / 2)
    assert g.item() == pytest.approx((sp(0.5) + sp(3)) / 2)
    g.backward()
    assert higher.grad is None  # sg: no gradient into the higher-rate logits
    sigmoid = lambda a: 1 / (1 + math.exp(-a))  # d softplus(−a)/da = −σ(−a)
    assert fake.grad.tolist() == pytest.approx([-sigmoid(0.5) / 2, -sigmoid(3) / 2])


def test_correlation_map_by_hand():
    n = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # one channel, 2×2
    corr = correlation_map(n, k=3)
    # offset (0,0): mean of squares; offset (0,+1): pairs (1,2),(3,4), zeros outside
    assert corr[1, 1].item() == pytest.approx((1 + 4 + 9 + 16) / 4)
    assert corr[1, 2].item() == pytest.approx((1 * 2 + 3 * 4) / 4)
    assert corr[2, 2].item() == pytest.approx(1 * 4 / 4)
    assert corr[0, 0].item() == pytest.approx(4 * 1 / 4)
    assert corr[2, 0].item() == pytest.approx(2 * 3 / 4)


def test_correlation_masks():
    assert correlation_mask(3, "causal").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert correlation_mask(3, "all").tolist() == [[1, 1, 1], [1, 0, 1], [1, 1, 1]]


def test_correlation_loss_by_hand():
    y = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    means, scales = torch.zeros_like(y), torch.full_like(y, 2.0)  # n = y / 2
    loss = correlation_loss(y, means, scales, k=3, mask="causal")
    # causal offsets: (−1,−1): 4·1/4 → 1; (−1,0): (3·1 + 4·2)/4; (−1,+1): 3·2/4; (0,−1): (2·1 + 4·3)/4
    values = [4 * 1 / 4, (3 * 1 + 4 * 2) / 4, 3 * 2 / 4, (2 * 1 + 4 * 3) / 4]
    assert loss.item() == pytest.approx(sum((v / 4) ** 2 for v in values))


def test_a_loss_term_is_parsed_once_into_its_parts():
    assert LossTerm.parse("main:roi:combined:fits/q.json") == LossTerm("combined:fits/q.json", True, True)
    assert LossTerm.parse("main:roi:combined:fits/q.json").model == Path("fits/q.json")
    assert LossTerm.parse("roi:ms-ssim") == LossTerm("ms-ssim", main=False, masked=True)
    assert LossTerm.parse("lpips").model is None
