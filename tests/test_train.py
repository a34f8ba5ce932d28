"""evalkit train: recipes checked before training, resumable and repeatable runs, DDP gradients,
and a short CPU run on BSDS crops that learns."""

import csv
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from needs import unavailable
from PIL import Image

from evalkit.cli import main
from evalkit.codecs import get_codec
from evalkit.codecs.checkpoints import LearnedSpec, file_sha256, learned_zoo
from evalkit.errors import InputError
from evalkit.train.data import RandomCrops
from evalkit.train.recipe import RecipeError, load_recipe, parse_recipe
from evalkit.train.trainer import Trainer

TINY = {
    "architecture": "variable-rate",
    "N": 16,
    "M": 16,
    "lambda": [0.004, 0.06],
    "losses": {"mse": 1.0},
    "patch": 64,
    "batch": 4,
    "steps": 6,
    "lr": 1e-3,
    "validate_every": 3,
    "validate_images": 1,
    "validate_lambdas": [0.004, 0.06],
}


def tiny(**changes) -> dict:
    return {"train": {**TINY, **changes}}


# selective detail with paper 002 eq. 3's form (MSE in place of MS-SSIM, which needs 192-px crops)
SELECTIVE = {
    "architecture": "selective-detail",
    "lambda": 0.01,
    "validate_lambdas": [0.01],
    "losses": {"main:mse": 1.0, "roi:mse": 2.0},
    "roi": {"masks": "masks", "salient": 1.0, "background": 0.0},
}


@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory):
    """A small image folder cut from BSDS500: train/ (8 crops of 96×96) and val/ (one 192×176)."""
    root = os.environ.get("EVALKIT_SHARED_DIR")
    bsds = root and os.path.join(root, "data", "bsds500")
    if not bsds or not os.path.isdir(bsds):
        unavailable("BSDS500 not found under $EVALKIT_SHARED_DIR/data/bsds500")
    out = tmp_path_factory.mktemp("bsds-crops")
    (out / "train").mkdir()
    (out / "val").mkdir()
    names = sorted(os.listdir(os.path.join(bsds, "train")))
    for i, name in enumerate(n for n in names if n.endswith(".jpg")):
        if i == 8:
            break
        image = Image.open(os.path.join(bsds, "train", name)).convert("RGB")
        image.crop((100, 100, 196, 196)).save(out / "train" / f"{i}.png")
    val = sorted(n for n in os.listdir(os.path.join(bsds, "val")) if n.endswith(".jpg"))[0]
    Image.open(os.path.join(bsds, "val", val)).convert("RGB").crop((0, 0, 192, 176)).save(
        out / "val" / "0.png"
    )
    return out


@pytest.fixture(scope="module")
def masked_crops_dir(crops_dir, tmp_path_factory):
    """crops_dir with a mask per training image in train/masks/ (a disc of varying radius) and
    one in val/masks/ that validation must not take for an image."""
    out = tmp_path_factory.mktemp("bsds-masked")
    for part in ("train", "val"):
        (out / part / "masks").mkdir(parents=True)
        for i, image in enumerate(sorted((crops_dir / part).glob("*.png"))):
            (out / part / image.name).write_bytes(image.read_bytes())
            yy, xx = np.mgrid[:96, :96]
            disc = ((yy - 48) ** 2 + (xx - 48) ** 2 < (10 + 4 * i) ** 2) * 255
            Image.fromarray(disc.astype(np.uint8)).save(out / part / "masks" / image.name)
    return out


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ recipe checks
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"losses": {"l3": 1.0}}, "train.losses.l3"),
        ({"lambda": [0.004, 5e3]}, "train.lambda[1]"),
        ({"lambda": -0.01}, "train.lambda"),
        ({"validate_lambdas": [0.5]}, "train.validate_lambdas"),
        ({"gan": {"loss": "wgan"}}, "train.gan.loss"),
        ({"patch": 100}, "train.patch"),
        ({"stpes": 10}, "train.stpes"),
        ({"gan": {"losses": {"lpipz": 1.0}}}, "train.gan.losses.lpipz"),
        (
            {
                "architecture": "bmshj2018-hyperprior",
                "lambda": 0.01,
                "validate_lambdas": [],
                "gan": {"loss": "softplus", "beta": [0.0, 1.0]},
            },
            "train.gan.beta",
        ),
        ({"losses": {"roi:mse": 1.0}}, 'train.losses."roi:mse"'),  # no [train.roi]
        ({"losses": {"main:mse": 1.0}}, 'train.losses."main:mse"'),  # not selective-detail
        ({"losses": {"roi:l3": 1.0}}, 'train.losses."roi:l3"'),
        ({"roi": {"masks": "masks"}}, "train.roi"),  # no roi: term uses it
        ({"losses": {"roi:mse": 1.0}, "roi": {"masks": "../masks"}}, "train.roi.masks"),
        ({"losses": {"roi:mse": 1.0}, "roi": {"masks": "m", "salient": -1}}, "train.roi.salient"),
        ({"losses": {"roi:mse": 1.0}, "roi": {"masks": "m", "weight": 1}}, "train.roi.weight"),
        ({"losses": {"roi:ms-ssim": 1.0}, "roi": {"masks": "m"}}, "train.patch"),
        ({"init": {"file": "base.pth"}}, "train.init.sha256"),
        ({"init": {"file": "base.pth", "sha256": "abc"}}, "train.init.sha256"),
        ({"init": {"sha256": "0" * 64}}, "train.init.file"),
        ({"init": {"file": "base.pth", "sha256": "0" * 64, "strict": True}}, "train.init.strict"),
    ],
)
def test_bad_recipe_names_the_field(changes, field):
    with pytest.raises(RecipeError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_recipe(tiny(**changes), "bad")


def test_roi_recipe_is_read():
    recipe = parse_recipe({"train": {**TINY, **SELECTIVE}}, "sd")
    assert recipe.roi.masks == "masks" and (recipe.roi.salient, recipe.roi.background) == (1.0, 0.0)
    default = parse_recipe(tiny(losses={"roi:mse": 1.0}, roi={"masks": "m"}), "roi").roi
    assert default.salient > default.background > 0  # paper 000: salient weighs more


def test_missing_field_is_named():
    data = tiny()
    del data["train"]["steps"]
    with pytest.raises(RecipeError, match="train.steps is missing"):
        parse_recipe(data, "bad")


def test_cli_refuses_a_bad_recipe_before_training(tmp_path, capsys):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(
        '[train]\narchitecture = "variable-rate"\nlambda = [0.004, 0.06]\n'
        'losses = { mse = 1.0, lpipz = 1.0 }\nsteps = 10\n'
    )
    assert (
        main(["train", "--recipe", str(recipe), "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    )
    assert "train.losses.lpipz" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_every_recipe_in_the_zoo_is_valid():
    folder = os.path.join(os.path.dirname(__file__), "..", "codecs")
    checked = 0
    for name in sorted(os.listdir(folder)):
        if name.startswith("ek-") and name.endswith(".toml") and "combined" not in name:
            load_recipe(os.path.join(folder, name))
            checked += 1
    assert checked >= 5


def test_a_lengthened_run_follows_its_recipes_new_schedule(crops_dir, tmp_path):
    """Resuming with more steps and a milestone moved (not yet passed) applies the new one."""
    torch.set_num_threads(1)
    first = Trainer(
        parse_recipe(tiny(steps=2, validate_every=2, milestones=[50]), "long"),
        crops_dir,
        tmp_path / "run",
        threads=1,
        progress=False,
    )
    first.run()
    longer = Trainer(
        parse_recipe(tiny(steps=5, validate_every=5, milestones=[3]), "long"),
        crops_dir,
        tmp_path / "run",
        threads=1,
        progress=False,
    )
    longer.run()
    lrs = [float(r["lr"]) for r in read_csv(tmp_path / "run" / "train.csv")]
    assert lrs[:2] == [1e-3] * 2 and lrs[2:] == pytest.approx([1e-4] * 3)  # lr after each step


def test_init_starts_from_the_recorded_weights_of_the_same_network(crops_dir, tmp_path):
    """train.init: the run starts from the file's weights, after checking its SHA-256 and that
    it is the network the recipe builds."""
    torch.set_num_threads(1)
    base = Trainer(
        parse_recipe(tiny(steps=1, validate_every=1), "base"),
        crops_dir,
        tmp_path / "base",
        threads=1,
        progress=False,
    )
    base.run()
    base.export(tmp_path / "zoo")
    weights = tmp_path / "base" / "base.pth"
    init = {"file": str(weights), "sha256": file_sha256(weights)}
    started = Trainer(
        parse_recipe(tiny(init=init, seed=5), "next"), crops_dir, tmp_path / "next", threads=1, progress=False
    )
    fresh = Trainer(
        parse_recipe(tiny(seed=5), "fresh"), crops_dir, tmp_path / "fresh", threads=1, progress=False
    )
    ours, theirs = dict(started.model.named_parameters()), dict(base.model.named_parameters())
    assert all(torch.equal(ours[n], theirs[n]) for n in theirs)
    assert not all(torch.equal(p, theirs[n]) for n, p in fresh.model.named_parameters())
    started.run(steps=1)
    assert f"base.pth (SHA-256 {init['sha256']})" in started.export(tmp_path / "zoo").read_text()
    with pytest.raises(InputError, match="SHA-256"):
        Trainer(
            parse_recipe(tiny(init={**init, "sha256": "0" * 64}), "x"),
            crops_dir,
            tmp_path / "x",
            threads=1,
            progress=False,
        )
    with pytest.raises(InputError, match="make N, M and the λ range match"):
        Trainer(
            parse_recipe(tiny(init=init, N=24), "y"), crops_dir, tmp_path / "y", threads=1, progress=False
        )
    with pytest.raises(InputError, match="does not exist"):
        Trainer(
            parse_recipe(tiny(init={**init, "file": str(tmp_path / "gone.pth")}), "z"),
            crops_dir,
            tmp_path / "z",
            threads=1,
            progress=False,
        )


# ------------------------------------------------------ masks given with the data
def coordinate_images(folder, sizes, mask_format=("L", np.uint8)):
    """Images whose red/green channels hold the row/column of each pixel and masks whose value is
    a function of both, so a mask crop can be checked against its image crop pixel by pixel."""
    (folder / "masks").mkdir(parents=True)
    for i, (h, w) in enumerate(sizes):
        yy, xx = np.mgrid[:h, :w]
        Image.fromarray(np.stack([yy, xx, np.full_like(yy, 9 * i)], 2).astype(np.uint8)).save(
            folder / f"{i}.png"
        )
        value = (yy * 7 + xx * 3 + i) % 256
        mode, dtype = mask_format
        if mode == "RGB":  # a mask drawn in colour: red region
            pixels = np.stack([value, np.zeros_like(value), value // 2], 2).astype(dtype)
        else:
            pixels = (value * (257 if dtype == np.uint16 else 1)).astype(dtype)
        Image.fromarray(pixels).save(folder / "masks" / f"{i}.{'tif' if i % 2 else 'png'}")


@pytest.mark.parametrize("mask_format", [("L", np.uint8), ("I;16", np.uint16), ("RGB", np.uint8)])
def test_mask_crops_follow_their_image_crops(tmp_path, mask_format):
    coordinate_images(tmp_path / "train", [(100, 90), (80, 120), (64, 64)], mask_format)
    crops = RandomCrops([tmp_path / "train"], 64, seed=5, masks="masks")
    assert len(crops.images) == 3  # the masks folder holds no images
    flipped = 0
    for step in range(6):
        x = crops.batch(step, 4)
        mask = crops.mask_batch(step, 4)
        assert mask.shape == (4, 1, 64, 64)
        rows, cols, which = (x[:, c].mul(255).round().long() for c in range(3))
        expected = (rows * 7 + cols * 3 + which // 9) % 256
        assert torch.equal(mask[:, 0].mul(255).round().long(), expected)
        flipped += int((cols[:, 0, 1] < cols[:, 0, 0]).sum())
        for rank in (0, 1):  # a process's share: its slice
            assert torch.equal(crops.mask_batch(step, 4, rank, 2), mask[2 * rank : 2 * rank + 2])
    assert 0 < flipped < 24


def test_a_missing_or_misfit_mask_is_refused_with_the_file_named(tmp_path):
    coordinate_images(tmp_path / "train", [(70, 70), (80, 80)])
    (tmp_path / "train" / "masks" / "1.tif").unlink()
    with pytest.raises(InputError, match=r"1\.png: no mask .*masks/1\.\*"):
        RandomCrops([tmp_path / "train"], 64, seed=0, masks="masks")
    Image.new("L", (80, 79)).save(tmp_path / "train" / "masks" / "1.png")
    with pytest.raises(InputError, match=r"1\.png: mask is 80×79 pixels but its image is 80×80"):
        RandomCrops([tmp_path / "train"], 64, seed=0, masks="masks")


# ---------------------------------------------------------- resume and Ctrl-C
@pytest.mark.parametrize("masked", [False, True], ids=["variable-rate", "selective-detail-roi"])
def test_resume_after_ctrl_c_reproduces_the_uninterrupted_run(
    crops_dir, masked_crops_dir, tmp_path, monkeypatch, masked
):
    torch.set_num_threads(1)
    recipe = parse_recipe(tiny(**SELECTIVE) if masked else tiny(), "tiny")
    data = masked_crops_dir if masked else crops_dir
    Trainer(recipe, data, tmp_path / "straight", threads=1, progress=False).run()
    straight = read_csv(tmp_path / "straight" / "train.csv")

    interrupted = Trainer(recipe, data, tmp_path / "resumed", threads=1, progress=False)
    real_step = interrupted.train_step

    def ctrl_c_at_step_4(x, step, global_batch, mask=None):
        if step == 4:
            raise KeyboardInterrupt
        return real_step(x, step, global_batch, mask)

    monkeypatch.setattr(interrupted, "train_step", ctrl_c_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    assert torch.load(tmp_path / "resumed" / "checkpoint.pth", weights_only=False)["step"] == 4
    Trainer(recipe, data, tmp_path / "resumed", threads=1, progress=False).run()
    resumed = read_csv(tmp_path / "resumed" / "train.csv")
    assert [r["step"] for r in resumed] == [str(s) for s in range(1, 7)]
    for a, b in zip(straight, resumed):
        for key in ("loss", "bpp", "distortion", "aux"):
            assert float(a[key]) == float(b[key]), (a["step"], key)


# ------------------------------------------------------------------------ DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, port, x, out, train):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer(parse_recipe({"train": train}, "tiny"), ".", out, threads=1, progress=False)
    if trainer.discriminator is not None:
        trainer.discriminator.eval()  # no power-iteration step: the same weights everywhere
    share = len(x) // 2
    trainer.backward(x[rank * share : (rank + 1) * share], 7, len(x))
    if rank == 0:
        torch.save(gradients(trainer), os.path.join(out, "ddp.pth"))
    torch.distributed.destroy_process_group()


def gradients(trainer) -> dict:
    modules = {"codec": trainer.model, "discriminator": trainer.discriminator}
    return {
        f"{m}.{n}": p.grad.clone()
        for m, module in modules.items()
        if module is not None
        for n, p in module.named_parameters()
        if p.grad is not None
    }


@pytest.mark.parametrize("gan", [None, "hrrgan"])
@pytest.mark.slow
def test_ddp_gradients_equal_one_process_on_the_same_global_batch(tmp_path, gan):
    """Two gloo processes, each on half the batch, against one process on both halves; with a
    GAN the discriminator's gradients (averaged by hand) are compared as well."""
    train = tiny(**({"gan": {"loss": gan, "weight": 1.0, "levels": 2}} if gan else {}))["train"]
    torch.manual_seed(3)
    x = torch.rand(4, 3, 64, 64)
    mp.spawn(_ddp_worker, args=(_free_port(), x, str(tmp_path), train), nprocs=2)
    ddp = torch.load(tmp_path / "ddp.pth")

    torch.set_num_threads(1)
    single = Trainer(parse_recipe({"train": train}, "tiny"), ".", tmp_path, threads=1, progress=False)
    d_params = list(single.discriminator.eval().parameters()) if gan else []
    for rank in (0, 1):  # the same global batch, each half with the noise its process drew
        single.rank = rank
        terms = single.losses(x[2 * rank : 2 * rank + 2], 7, 4)
        if gan:
            d_grads = torch.autograd.grad(terms["d_loss"] / 2, d_params, retain_graph=True)
        (terms["loss"] / 2).backward()
        if gan:
            own = [g + getattr(p, "own_grad", 0) for p, g in zip(d_params, d_grads)]
            for p, g in zip(d_params, own):
                p.own_grad = g
    for p in d_params:
        p.grad = p.own_grad
    grads = gradients(single)
    assert set(grads) == set(ddp) and len(grads) > (30 if gan else 20)
    for name, grad in grads.items():
        torch.testing.assert_close(ddp[name], grad, rtol=1e-4, atol=1e-6, msg=name)


# ------------------------------------------------------------- learning on BSDS
@pytest.mark.parametrize("steps", [60, pytest.param(300, marks=pytest.mark.slow)])
def test_cpu_steps_on_bsds_crops_lower_the_loss_and_improve_validation(crops_dir, tmp_path, steps):
    """The quick version (60 steps) runs by default; the few-hundred-step one is marked slow."""
    torch.set_num_threads(1)
    recipe = parse_recipe(tiny(steps=steps, validate_every=steps // 3), "tiny")
    trainer = Trainer(recipe, crops_dir, tmp_path / "run", threads=1, progress=False)
    trainer.run()
    losses = [float(r["loss"]) for r in read_csv(tmp_path / "run" / "train.csv")]
    window = steps // 6
    assert np.mean(losses[-window:]) < 0.5 * np.mean(losses[:window])
    rows = read_csv(tmp_path / "run" / "validation.csv")
    for lmbda in ("0.004", "0.06"):
        first, last = [r for r in rows if r["lambda"] == lmbda][::2]
        assert float(last["psnr"]) > float(first["psnr"]) + (1.0 if steps >= 300 else 0.0)
        cost = lambda r: float(r["bpp"]) + float(lmbda) * 255**2 * 10 ** (-float(r["psnr"]) / 10)  # noqa: B023
        assert cost(last) < cost(first)
    low, high = (r for r in rows if r["step"] == str(steps) and r["lambda"] in ("0.06", "0.004"))
    assert float(high["bpp"]) > float(low["bpp"])  # λ still orders the rate

    entry = trainer.export(tmp_path / "zoo")  # the zoo entry the codec loads
    assert LearnedSpec.from_toml(entry).kind == "variable-rate"
    codec = get_codec(f"variable-rate@{tmp_path / 'run' / 'tiny.pth'}", device="cpu")
    image = np.asarray(Image.open(crops_dir / "val" / "0.png"))
    assert codec.decode(codec.encode(image, 0.06)).shape == image.shape


# ------------------------------------------------------------ architectures, GAN
@pytest.mark.parametrize("heads", ["shared", "independent", "hybrid"])
def test_discriminator_heads_follow_the_level(heads):
    from evalkit.models.discriminator import ConditionalPatchDiscriminator

    torch.manual_seed(0)
    d = ConditionalPatchDiscriminator(latent_channels=8, heads=heads, levels=3, width=8).eval()
    image, latent = torch.rand(2, 3, 32, 32), torch.rand(2, 8, 2, 2)
    logits = d(image, latent, torch.tensor([0, 2]))
    assert logits.shape == (2, 1, 4, 4)
    alone = d(image[1:], latent[1:], torch.tensor([2]))
    torch.testing.assert_close(logits[1:], alone, rtol=1e-4, atol=1e-4)  # one image's level, not the batch's
    assert not torch.allclose(d(image[:1], latent[:1], torch.tensor([1])), logits[:1])
    if heads != "shared":  # a level's head alone scores it
        logits[0].sum().backward()
        assert d.out[2].weight.grad is None or d.out[2].weight.grad.abs().sum() == 0


def assert_trained_export_decodes_alike(recipe, data, image, out, monkeypatch):
    """Train ``recipe`` briefly on ``data`` (one validation at λ = 0.01), export it, and check
    that ``ARCH@PATH`` and its zoo entry rebuild the network and decode ``image``'s real bytes
    to what the trained weights decode."""
    trainer = Trainer(recipe, data, out / "run", threads=1, progress=False)
    trainer.run()
    assert [r["lambda"] for r in read_csv(out / "run" / "validation.csv")] == ["0.01"]
    entry = trainer.export(out / "zoo")
    trained = trainer.codec()
    expected = trained.decode(trained.encode(image, 0))
    monkeypatch.setenv("EVALKIT_ZOO_DIR", str(entry.parent))
    learned_zoo.cache_clear()
    try:
        for name in (f"{recipe.architecture}@{out / 'run' / f'{recipe.name}.pth'}", recipe.name):
            codec = get_codec(name, device="cpu")
            data = codec.encode(image, 0)
            assert codec.decode(data).shape == image.shape
            np.testing.assert_array_equal(codec.decode(data), expected, err_msg=name)
    finally:
        learned_zoo.cache_clear()


def test_selective_detail_run_exports_a_model_the_codecs_load(masked_crops_dir, tmp_path, monkeypatch):
    """A tiny eq. 3-style run: its file rebuilds the network (N, M from the file) behind
    ``selective-detail@PATH`` and behind its zoo entry, and both decode what the trained
    weights decode."""
    torch.set_num_threads(1)
    recipe = parse_recipe(
        {"train": {**TINY, **SELECTIVE, "N": 16, "M": 24, "steps": 2, "validate_every": 2}}, "tiny-sd"
    )
    image = np.asarray(Image.open(masked_crops_dir / "val" / "0.png"))
    assert_trained_export_decodes_alike(recipe, masked_crops_dir, image, tmp_path, monkeypatch)


def test_mbt2018_trains_and_its_export_round_trips_through_the_codec(crops_dir, tmp_path, monkeypatch):
    """An architecture made trainable through its descriptor alone (CompressAI's joint
    autoregressive + hyperprior, Minnen et al. 2018): the recipe check takes it, two steps run
    on CPU, and the exported file decodes through ``mbt2018@PATH`` and its zoo entry exactly as
    the trained weights do."""
    torch.set_num_threads(1)
    recipe = parse_recipe(
        {
            "train": {
                **TINY,
                "architecture": "mbt2018",
                "lambda": 0.01,
                "validate_lambdas": [],
                "steps": 2,
                "validate_every": 2,
            }
        },
        "tiny-mbt",
    )
    image = np.ascontiguousarray(np.asarray(Image.open(crops_dir / "val" / "0.png"))[:64, :80])
    assert_trained_export_decodes_alike(recipe, crops_dir, image, tmp_path, monkeypatch)


def test_selective_detail_decoder_blends_by_its_mask():
    from evalkit.models.selective_detail import SelectiveDetailHyperprior

    torch.manual_seed(0)
    model = SelectiveDetailHyperprior(16, 16).eval()
    out = model(torch.rand(1, 3, 64, 64))
    y_hat = torch.randn(1, 16, 4, 4)
    blended = model.g_s(y_hat)
    detail = model.g_s.detail(y_hat)
    mask = torch.sigmoid(detail[:, 3:])
    torch.testing.assert_close(blended, detail[:, :3] * mask + model.g_s.main(y_hat) * (1 - mask))
    assert out["mask"].shape == (1, 1, 64, 64) and out["x_hat_main"].shape == (1, 3, 64, 64)


@pytest.mark.parametrize("gan", ["softplus", "ragan", "rgan", "hrrgan"])
def test_gan_recipes_train_codec_and_discriminator(gan):
    torch.set_num_threads(1)
    recipe = parse_recipe(tiny(gan={"loss": gan, "weight": 1.0, "heads": "hybrid", "levels": 2}), "g")
    trainer = Trainer(recipe, ".", "/tmp/unused", threads=1, progress=False)
    before = [p.detach().clone() for p in trainer.discriminator.parameters()]
    values = trainer.train_step(torch.rand(4, 3, 64, 64), 0, 4)
    assert math_finite(values["g_loss"]) and math_finite(values["d_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.discriminator.parameters()))


def test_beta_weights_the_realism_terms_and_reaches_the_decoder():
    """Paper 003's L_cond: D = Σ wᵢ dᵢ + β·Σ vⱼ dⱼ, with β also given to the model."""
    torch.set_num_threads(1)
    recipe = parse_recipe(tiny(gan={"loss": "softplus", "losses": {"mse": 2.0}, "start": 100}), "g")
    trainer = Trainer(recipe, ".", "/tmp/unused", threads=1, progress=False)
    assert trainer.model.beta_range == [0.0, 2.56]
    seen, betas, mse, model = [], [], trainer.terms["mse"], trainer.network
    trainer.terms["mse"] = lambda x, out, mask: seen.append(mse(x, out, mask)) or seen[-1]
    trainer.network = lambda x, lmbda, beta: betas.append(beta) or model(x, lmbda, beta=beta)
    terms = trainer.losses(torch.rand(4, 3, 64, 64), 5, 4)
    beta = trainer.sample_beta(5)
    assert betas == [beta] and 0 < beta < 2.56 and "g_loss" not in terms  # before gan.start
    torch.testing.assert_close(seen[0], seen[1])
    torch.testing.assert_close(terms["distortion"], (seen[0] * (1 + 2 * beta)).mean())


def math_finite(v):
    return np.isfinite(v)
