import numpy as np
import pytest
from PIL import Image

from evalkit.datasets import resolve_images
from evalkit.errors import InputError
from evalkit.images import ImageConversionWarning, ImageReadError, load_image, to_rgb8


def test_rgb_png_is_read_exactly(kodak_dir):
    image = load_image(kodak_dir / "kodim07.png")
    assert image.shape == (512, 768, 3) and image.dtype == np.uint8
    assert np.array_equal(image, np.asarray(Image.open(kodak_dir / "kodim07.png")))


def test_truncated_png_names_the_file(kodak_dir, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes((kodak_dir / "kodim01.png").read_bytes()[:20000])
    with pytest.raises(ImageReadError, match="broken.png.*truncated"):
        load_image(bad)


def test_sixteen_bit_is_rounded_with_a_warning(tmp_path):
    import imagecodecs

    values = np.array([[[0, 257, 65535], [32896, 128, 129]]], np.uint16)
    imagecodecs.imwrite(tmp_path / "deep.png", values)
    with pytest.warns(ImageConversionWarning, match="16-bit"):
        image = load_image(tmp_path / "deep.png")
    assert image.tolist() == [[[0, 1, 255], [128, 0, 1]]]


def test_alpha_is_dropped_with_a_warning(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, (9, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(ImageConversionWarning, match="alpha"):
        image = load_image(tmp_path / "a.png")
    assert np.array_equal(image, rgba[:, :, :3])


def test_grayscale_is_expanded(tmp_path):
    gray = np.arange(35, dtype=np.uint8).reshape(5, 7)
    Image.fromarray(gray, "L").save(tmp_path / "g.bmp")
    image = load_image(tmp_path / "g.bmp")
    assert image.shape == (5, 7, 3) and all(np.array_equal(image[:, :, c], gray) for c in range(3))


def test_one_pixel_and_other_formats(tmp_path):
    pixel = np.array([[[10, 200, 30]]], np.uint8)
    for ext in ("png", "bmp", "tiff"):
        Image.fromarray(pixel).save(tmp_path / f"p.{ext}")
        assert load_image(tmp_path / f"p.{ext}").tolist() == pixel.tolist()
    Image.fromarray(pixel).save(tmp_path / "p.webp", lossless=True)
    assert load_image(tmp_path / "p.webp").shape == (1, 1, 3)


def test_unsupported_and_missing(tmp_path):
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageReadError, match="unsupported file type"):
        load_image(tmp_path / "x.gif")
    with pytest.raises(ImageReadError, match="nothere.png"):
        load_image(tmp_path / "nothere.png")
    with pytest.raises(ImageReadError, match="shape"):
        to_rgb8(np.zeros((0, 4, 3), np.uint8))


def test_image_sets(tmp_path, kodak_dir):
    samples = resolve_images("samples")
    assert [r.name for r in samples] == ["astronaut", "coffee", "chelsea", "motorcycle"]
    assert all(r.load().shape[2] == 3 for r in samples)
    assert len(resolve_images("kodak", kodak_dir)) == 24
    with pytest.raises(InputError, match="lacks 24 of 24"):
        resolve_images("kodak", tmp_path)
    with pytest.raises(InputError, match="no images"):
        resolve_images(str(tmp_path))
    with pytest.raises(InputError, match="not 'samples'"):
        resolve_images(str(tmp_path / "missing"))


def test_kodak_offline_error_says_where_to_put_files(monkeypatch):
    import urllib.request

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.delenv("EVALKIT_KODAK_DIR", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(InputError, match="kodim01.png .*--kodak-dir / EVALKIT_KODAK_DIR"):
        resolve_images("kodak")
