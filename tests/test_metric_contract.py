"""The public metric forms (functional and module): what they refuse, and that what they accept
gives the engine's values."""

import re
from functools import cache

import numpy as np
import pandas as pd
import pytest
import torch

from evalkit.images import save_png
from evalkit.metrics import METRICS, PAIR_METRICS, MetricEngine, create_metric, functional
from evalkit.metrics.contract import ConventionError


@pytest.fixture(scope="module")
def crops(tmp_path_factory, shared_dir):
    """Two Kodak crops (192 px: MS-SSIM's smallest is 161) and their JPEG reconstructions at two
    qualities, as uint8 arrays and as files the engine reads."""
    from evalkit.codecs import get_codec
    from evalkit.images import load_image

    folder = tmp_path_factory.mktemp("contract")
    jpeg, rows, images = get_codec("jpeg"), [], {}
    for n in (4, 23):
        ref = np.ascontiguousarray(
            load_image(shared_dir / "data" / "kodak" / f"kodim{n:02d}.png")[:192, :200]
        )
        save_png(ref, folder / f"ref{n}.png")
        images[f"ref{n}.png"] = ref
        for q in (20, 60):
            rec = jpeg.decode(jpeg.encode(ref, float(q)))
            save_png(rec, folder / f"rec{n}_{q}.png")
            images[f"rec{n}_{q}.png"] = rec
            rows.append({"reference": f"ref{n}.png", "reconstruction": f"rec{n}_{q}.png"})
    return folder, pd.DataFrame(rows), images


@pytest.fixture(scope="module")
def weights(shared_dir):
    return shared_dir / "weights"


def public_form(form, name, weights_dir, **declared):
    """The functional or the module form of ``name`` as one call."""
    if form == "module":
        return _module(name, weights_dir, tuple(declared.items()))
    return lambda *args, **kw: functional.measure(name, *args, weights_dir=weights_dir, **declared, **kw)


@cache
def _module(name, weights_dir, declared):
    return create_metric(name, weights_dir=weights_dir, **dict(declared))


@pytest.fixture(scope="module")
def pair(crops):
    _, _, images = crops
    x = torch.from_numpy(np.stack([images["ref4.png"]])).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(np.stack([images["rec4_20.png"]])).permute(0, 3, 1, 2).double()
    return x, y  # (1, 3, H, W) float64 in [0, 255]


#: The pair metrics whose weights shared/ holds (the alternative LPIPS trunks share LPIPS' code and
#: have none): the module form loads them when it is made, the functional form after the checks.
WITH_WEIGHTS = [n for n in PAIR_METRICS if METRICS[n].network in (None, "AlexNet")]

#: What each metric must refuse: case → (reference, distorted) from 0–255 floats, what the
#: message must say.
REFUSED = {
    "uint8": (lambda x: x.to(torch.uint8), "uint8"),
    "0-255 floats without data_range": (lambda x: x, "give data_range=255"),
    "[-1,1] without its convention": (lambda x: x / 127.5 - 1, "give convention='[-1,1]'"),
    "NaN": (lambda x: torch.where(x > 200, torch.nan, x / 255), "NaN"),
    "one channel": (lambda x: x[:, :1] / 255, "RGB images are (3, H, W) or (N, 3, H, W)"),
}


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize(
    "name, form", [(n, "functional") for n in PAIR_METRICS] + [(n, "module") for n in WITH_WEIGHTS]
)
def test_every_pair_metric_refuses_what_does_not_fit_its_convention(name, form, case, pair, weights):
    x255, y255 = pair
    convert, says = REFUSED[case]
    with pytest.raises(ConventionError, match=re.escape(says)):
        public_form(form, name, weights)(reference=convert(x255), distorted=convert(y255))


@pytest.mark.parametrize(
    "name, form", [(n, "functional") for n in PAIR_METRICS] + [(n, "module") for n in WITH_WEIGHTS]
)
def test_every_pair_metric_refuses_mismatched_shapes_swapped_or_misdeclared_ranges(name, form, pair, weights):
    x, y = pair[0] / 255, pair[1] / 255
    call = public_form(form, name, weights)
    with pytest.raises(ConventionError, match="same size"):
        call(reference=x, distorted=y[..., :-8])
    with pytest.raises(TypeError):  # images are keyword-only: no order to swap
        call(x, y)
    with pytest.raises(ConventionError, match="need no data_range"):
        public_form(form, name, weights, data_range=255)(reference=x, distorted=y)


def test_conventions_give_the_same_value_and_numpy_mirrors_torch(pair, weights):
    x255, y255 = pair
    for name in ("psnr", "lpips"):
        unit = functional.measure(name, reference=x255 / 255, distorted=y255 / 255, weights_dir=weights)
        scaled = functional.measure(name, reference=x255, distorted=y255, data_range=255, weights_dir=weights)
        signed = functional.measure(
            name,
            reference=x255 / 127.5 - 1,
            distorted=y255 / 127.5 - 1,
            convention="[-1,1]",
            weights_dir=weights,
        )
        assert scaled.item() == pytest.approx(unit.item(), rel=1e-6)
        assert signed.item() == pytest.approx(unit.item(), rel=1e-6)
        one = functional.measure(
            name,
            reference=x255[0].permute(1, 2, 0).numpy() / 255,
            distorted=y255[0].permute(1, 2, 0).numpy() / 255,
            weights_dir=weights,
        )
        assert isinstance(one, np.ndarray) and one.shape == () and one == pytest.approx(unit.item(), rel=1e-6)
    with pytest.raises(ConventionError, match="not both"):
        create_metric("psnr", data_range=255, convention="[-1,1]")
    with pytest.raises(ConventionError, match="unknown convention"):
        create_metric("psnr", convention="[0,255]")


def test_functional_and_module_forms_equal_the_engine_on_kodak(crops, weights):
    folder, table, images = crops
    engine = MetricEngine(WITH_WEIGHTS, device="cpu", weights_dir=weights, cache=False)
    expected = engine.evaluate(table, root=folder, progress=False).pairs
    refs = np.stack([images[p] for p in table["reference"]])
    recs = np.stack([images[p] for p in table["reconstruction"]])
    for name in WITH_WEIGHTS:
        column = expected[METRICS[name].column].to_numpy()
        as_255 = getattr(functional, name.replace("-", "_"))(
            reference=refs.astype(np.float64),
            distorted=recs.astype(np.float64),
            data_range=255,
            weights_dir=weights,
        )
        module = create_metric(name, weights_dir=weights)
        as_unit = module(
            reference=torch.from_numpy(refs).permute(0, 3, 1, 2).float() / 255,
            distorted=torch.from_numpy(recs).permute(0, 3, 1, 2).float() / 255,
        )
        np.testing.assert_allclose(as_255, column, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(as_unit.numpy(), column, rtol=1e-6, err_msg=name)


def test_the_functional_form_is_differentiable(pair):
    x255, y255 = pair
    y = (y255[..., :64, :64] / 255).requires_grad_()
    functional.psnr(reference=x255[..., :64, :64] / 255, distorted=y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
