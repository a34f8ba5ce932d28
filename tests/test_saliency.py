"""Saliency masks computed where the data gives none (evalkit/train/saliency.py), cached beside
the data or in evalkit's cache, and the training images shrunk by a recipe's downscale."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from evalkit.errors import InputError
from evalkit.images import load_image
from evalkit.train import saliency
from evalkit.train.data import RandomCrops, read_image
from evalkit.train.recipe import RecipeError, parse_recipe

pytest.importorskip("cv2.saliency", reason="opencv-contrib-python-headless is not installed")

ROI = {
    "architecture": "selective-detail",
    "lambda": 0.01,
    "losses": {"main:mse": 1.0, "roi:mse": 2.0},
    "patch": 64,
    "steps": 1,
}


def square_on_texture(seed=0) -> np.ndarray:
    """192×256 pixels of a grey gradient with a little noise and one white square (rows 72–120,
    columns 104–152): the salient region, where the answer is known."""
    rng = np.random.default_rng(seed)
    columns = np.mgrid[:192, :256][1]
    image = (80 + 40 * columns / 256)[..., None] + rng.normal(0, 3, (192, 256, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    image[72:120, 104:152] = 250
    return image


def data_folder(root, count=3) -> list:
    (root / "train").mkdir(parents=True)
    files = []
    for i in range(count):
        files.append(root / "train" / f"{i}.png")
        Image.fromarray(square_on_texture(seed=i)).save(files[-1])
    return files


@pytest.mark.parametrize("method", saliency.BUILTIN)
def test_builtin_saliency_finds_the_square(method):
    image = square_on_texture()
    mask = saliency.to_mask(saliency.saliency_function(method)(image)).astype(float)
    assert mask.shape == image.shape[:2] and mask.max() == 255
    inside = mask[64:128, 96:160].mean()  # the square and its edges
    away = np.zeros(mask.shape, bool)  # the rest, but the image's borders
    away[16:-16, 16:-16], away[48:144, 80:176] = True, False
    assert inside > 4 * mask[away].mean()


def test_masks_are_computed_once_beside_writable_data_and_read_by_the_crops(tmp_path):
    files = data_folder(tmp_path)
    folder = tmp_path / "train"
    with pytest.raises(InputError, match='no mask subfolder masks/.*saliency = "spectral-residual"'):
        RandomCrops([folder], 64, 0, masks="masks")
    crops = RandomCrops([folder], 64, 0, masks="masks", saliency="spectral-residual")
    assert len(crops.images) == 3  # masks are not images
    made = sorted((folder / "masks").glob("*.png"))
    assert [p.stem for p in made] == ["0", "1", "2"]
    assert json.loads((folder / "masks" / "saliency.json").read_text()) == {"method": "spectral-residual"}
    expected = saliency.to_mask(saliency.saliency_function("spectral-residual")(load_image(files[0])))
    assert np.array_equal(load_image(made[0])[..., 0], expected)
    assert crops.mask_batch(0, 2).shape == (2, 1, 64, 64)
    stamps = [p.stat().st_mtime_ns for p in made]
    RandomCrops([folder], 64, 0, masks="masks", saliency="spectral-residual")  # cached
    assert [p.stat().st_mtime_ns for p in made] == stamps
    RandomCrops([folder], 64, 0, masks="masks", saliency="fine-grained")  # another method
    assert json.loads((folder / "masks" / "saliency.json").read_text()) == {"method": "fine-grained"}
    assert [p.stat().st_mtime_ns for p in made] != stamps


def test_given_masks_are_never_replaced(tmp_path):
    data_folder(tmp_path, 1)
    (tmp_path / "train" / "masks").mkdir()
    Image.new("L", (256, 192), 200).save(tmp_path / "train" / "masks" / "0.png")
    crops = RandomCrops([tmp_path / "train"], 64, 0, masks="masks", saliency="spectral-residual")
    assert torch.allclose(crops.mask_batch(0, 1), torch.full((1, 1, 64, 64), 200 / 255))
    assert not (tmp_path / "train" / "masks" / "saliency.json").exists()


def test_read_only_data_is_cached_in_evalkits_cache(tmp_path, monkeypatch):
    data_folder(tmp_path / "data")
    folder = tmp_path / "data" / "train"
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    os.chmod(folder, 0o555)
    try:
        RandomCrops([folder], 64, 0, masks="masks", saliency="spectral-residual")
        assert sorted(os.listdir(folder)) == ["0.png", "1.png", "2.png"]  # nothing written
        cached = list((tmp_path / "cache" / "saliency").glob("*/masks/*.png"))
        assert sorted(p.stem for p in cached) == ["0", "1", "2"]
    finally:
        os.chmod(folder, 0o755)


class RedChannel(torch.nn.Module):
    """A stand-in saliency network: the red channel, (1, 1, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * 2 - 1


def test_an_exported_network_gives_the_masks(tmp_path):
    files = data_folder(tmp_path / "data", 1)
    network = tmp_path / "red.pt2"
    side = {2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    torch.export.save(
        torch.export.export(RedChannel(), (torch.rand(1, 3, 64, 96),), dynamic_shapes={"x": side}),
        str(network),
    )
    recipe = tmp_path / "sd.toml"
    recipe.write_text("")
    roi = parse_recipe({"train": {**ROI, "roi": {"masks": "masks", "saliency": "red.pt2"}}}, "sd", recipe).roi
    assert roi.saliency == str(network)
    RandomCrops([tmp_path / "data" / "train"], 64, 0, masks="masks", saliency=roi.saliency)
    mask = load_image(tmp_path / "data" / "train" / "masks" / "0.png")[..., 0]
    red = saliency.to_mask(load_image(files[0])[..., 0]).astype(int)
    assert np.abs(mask.astype(int) - red).max() <= 1  # float32 in the network
    record = json.loads((tmp_path / "data" / "train" / "masks" / "saliency.json").read_text())
    assert record["method"] == "network" and len(record["sha256"]) == 64


@pytest.mark.parametrize(
    "value, message",
    [("itti", "train.roi.saliency = 'itti' is unknown"), ("absent.pt2", "absent.pt2 does not exist")],
)
def test_a_bad_saliency_method_is_refused(tmp_path, value, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(
            {"train": {**ROI, "roi": {"masks": "masks", "saliency": value}}}, "sd", tmp_path / "sd.toml"
        )


def test_downscale_shrinks_images_and_masks_alike(tmp_path):
    data_folder(tmp_path, 1)
    folder = tmp_path / "train"
    image = read_image(folder / "0.png", 2.0)
    assert image.shape == (96, 128, 3) and image.flags.writeable
    assert read_image(folder / "0.png", 1.25).shape == (154, 205, 3)  # round(192/1.25), round(256/1.25)
    crops = RandomCrops([folder], 64, 0, masks="masks", saliency="spectral-residual", downscale=2.0)
    assert crops.images[0].shape == (3, 96, 128) and crops.masks[0].shape == (1, 96, 128)
    with pytest.raises(RecipeError, match="train.downscale"):
        parse_recipe(
            {
                "train": {
                    "architecture": "variable-rate",
                    "lambda": [0.004, 0.06],
                    "losses": {"mse": 1.0},
                    "steps": 1,
                    "downscale": 0.5,
                }
            },
            "vr",
        )
