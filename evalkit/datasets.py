"""Image sets by name: a folder, the bundled sample photos, or the Kodak suite.

``resolve_images("samples")`` needs nothing but scikit-image; ``"kodak"`` is looked up in
``$EVALKIT_KODAK_DIR`` (or the ``--kodak-dir`` flag), then in the cache, and downloaded there from
its public host when a network exists, each file checked against its known SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .errors import InputError
from .files import cache_dir, write_bytes
from .images import DECODERS, ImageReadError, load_image, to_rgb8

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}"
KODAK_SHA256 = {
    "kodim01.png": "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd",
    "kodim02.png": "133d50ad0f2cda48fef30e251f433fa1a98ee08c0f2d07cdab9462e876ccae5d",
    "kodim03.png": "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",
    "kodim04.png": "1e079e4adc03524e53f1394a2a8e1c5995f0f70a5aec125b12fa3fdbe33cba37",
    "kodim05.png": "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53",
    "kodim06.png": "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18",
    "kodim07.png": "a74d606cef80e70a04fb983364f79fb954ad46665edf2a8b7355ce81adfa7998",
    "kodim08.png": "e3cfc1371a5643c7f8cdf1bd565c172abce6aa26e3f2fdce74cbf7c32364089d",
    "kodim09.png": "a0c72eb70826619305388ed9c0f8aa8f491b234155d62673cda270d7021149a2",
    "kodim10.png": "28fb615837dc8e66fc92c40158cac80b57f07d0ce77d22576aa85ac9e2787336",
    "kodim11.png": "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6",
    "kodim12.png": "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980",
    "kodim13.png": "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08",
    "kodim14.png": "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e",
    "kodim15.png": "d36d884e29bce92adea11de456be4e9a5815e79c112d47453a34a6f6edc84e63",
    "kodim16.png": "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54",
    "kodim17.png": "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",
    "kodim18.png": "5deb2d91e347cbdcc0d8a595daa8877de0772c9cdbce4956a2f45a0f97648a47",
    "kodim19.png": "8f12d577f9ca36f384f82dec11ed8a4e12a27bd5a32ef117b9bcaf4fe4d0606f",
    "kodim20.png": "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a",
    "kodim21.png": "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b",
    "kodim22.png": "37782d92a1cfb36ff586047d5c0a2fa75e042fd0b58f90f866b4ab91349c4e03",
    "kodim23.png": "2ed596d7de74cc43d23add4c116763f49d7b5a78b21444fe84caece531ee933b",
    "kodim24.png": "ac96f39dacff2ec303ddb8a7eb72d59f77af2b491144926335938338ee63473d",
}


def _skimage(name: str, item: int | None = None) -> npt.NDArray[np.uint8]:
    """The image ``skimage.data.<name>()`` gives (its ``item``-th where it gives several)."""
    import skimage.data

    found = getattr(skimage.data, name)()
    image: npt.NDArray[np.uint8] = found if item is None else found[item]
    return image


#: The natural photos scikit-image ships (no download needed), by the name they get here.
SAMPLES: dict[str, Callable[[], npt.NDArray[np.uint8]]] = {
    "astronaut": partial(_skimage, "astronaut"),
    "coffee": partial(_skimage, "coffee"),
    "chelsea": partial(_skimage, "chelsea"),
    "motorcycle": partial(_skimage, "stereo_motorcycle", 0),  # the left view of a stereo pair
}


#: Other photos and textures scikit-image ships, none of them among :data:`SAMPLES`: training
#: images for a codec that is then judged on the samples (the loop demo, ``studies/loop-demo``).
TRAINING_SAMPLES: dict[str, Callable[[], npt.NDArray[np.uint8]]] = {
    name: partial(_skimage, name)
    for name in ("rocket", "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel")
}


@dataclass(frozen=True)
class ImageRef:
    """One image of a set, not yet read: ``load()`` gives RGB uint8 or raises ImageReadError."""

    name: str
    source: str
    loader: Callable[[], npt.NDArray[np.uint8]]

    def load(self) -> npt.NDArray[np.uint8]:
        return self.loader()


#: The bundled image sets, by the name an image spec gives them.
BUNDLED = {"samples": SAMPLES, "training-samples": TRAINING_SAMPLES}
#: Image sets named rather than found at a path: the bundled ones and Kodak.
NAMED_SETS = (*BUNDLED, "kodak")


def image_spec_in(spec: str, folder: Path) -> str:
    """``spec`` as written in a file in ``folder``: a named set as it is, a relative path taken
    from ``folder``."""
    return spec if spec in NAMED_SETS or Path(spec).is_absolute() else str((folder / spec).resolve())


def resolve_images(spec: str, kodak_dir: str | Path | None = None) -> list[ImageRef]:
    """The images named by ``spec``: ``samples``, ``training-samples``, ``kodak``, a folder, or
    one image file."""
    if spec in BUNDLED:
        return [
            ImageRef(name, f"skimage.data:{name}", partial(_checked, f, name))
            for name, f in BUNDLED[spec].items()
        ]
    if spec == "kodak":
        return folder_images(kodak_path(kodak_dir))
    path = Path(spec)
    if path.is_dir():
        refs = folder_images(path)
        if not refs:
            raise InputError(f"{path}: no images ({', '.join(sorted(DECODERS))}) in this folder")
        return refs
    if path.is_file():
        return [ImageRef(path.stem, str(path.resolve()), lambda: load_image(path))]
    raise InputError(f"{spec!r} is not 'samples', 'training-samples', 'kodak', a folder or an image file")


def _checked(load: Callable[[], npt.NDArray[np.uint8]], name: str) -> npt.NDArray[np.uint8]:
    return to_rgb8(load(), name)


def folder_images(folder: Path) -> list[ImageRef]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in DECODERS and p.is_file())
    names = [p.stem for p in files]
    duplicated = {n for n in names if names.count(n) > 1}
    return [
        ImageRef(p.name if p.stem in duplicated else p.stem, str(p.resolve()), partial(load_image, p))
        for p in files
    ]


def kodak_path(kodak_dir: str | Path | None = None) -> Path:
    """A folder holding all 24 Kodak images: the one given, ``$EVALKIT_KODAK_DIR``, or the cache
    (downloading what is missing). Raises InputError saying where to put the files."""
    given = kodak_dir or os.environ.get("EVALKIT_KODAK_DIR")
    if given:
        folder = Path(given)
        missing = [n for n in KODAK_SHA256 if not (folder / n).is_file()]
        if missing:
            raise InputError(f"Kodak folder {folder} lacks {len(missing)} of 24 images (e.g. {missing[0]})")
        return folder
    folder = cache_dir() / "datasets" / "kodak"
    for name, digest in KODAK_SHA256.items():
        if not (folder / name).is_file():
            _download(KODAK_URL.format(name=name), folder / name, digest)
    return folder


def _download(url: str, dest: Path, sha256: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(
            f"cannot download {url} ({exc}). Put the 24 Kodak PNGs (kodim01.png … kodim24.png) in "
            f"{dest.parent}, or point --kodak-dir / EVALKIT_KODAK_DIR at a folder that has them"
        ) from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ImageReadError(f"{url}: downloaded file does not match its known SHA-256; not saved")
    write_bytes(dest, data)
