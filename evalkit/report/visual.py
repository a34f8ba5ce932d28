"""Visual comparisons: reconstructions side by side with a box on one region, magnified per codec.

As in the comparison figures of learned-codec papers (e.g. Choi et al., "Variable Rate Deep Image
Compression With a Conditional Autoencoder", ICCV 2019, supplement figs. 11–22: the
original and each codec at about the same bpp, the same boxed region enlarged below each), the
region is either given or the one where the codecs' reconstructions differ most from each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import InputError
from ..files import text_hash
from ..images import save_png

BOX_COLOR = (255, 127, 14)  # the orange of the papers' boxes (matplotlib tab:orange)
MAGNIFIED_SIDE = 240  # pixels of the enlarged crop on the page
#: What a panel's look depends on besides its pixels and region: this module's code.
DRAWING = text_hash(Path(__file__).read_text())


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Region:
        """``x,y,width,height`` in pixels of the original."""
        try:
            x, y, w, h = (int(v) for v in text.split(","))
        except ValueError:
            raise InputError(f"a region is x,y,width,height in pixels, got {text!r}") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise InputError(f"region {text!r}: needs x, y ≥ 0 and a positive width and height")
        return cls(x, y, w, h)

    def check(self, shape) -> None:
        h, w = shape[:2]
        if self.x + self.width > w or self.y + self.height > h:
            raise InputError(
                f"region {self.x},{self.y},{self.width},{self.height} does not fit in the {w}×{h} image"
            )

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y : self.y + self.height, self.x : self.x + self.width]


def most_different_region(reconstructions: list[np.ndarray], side: int) -> Region:
    """The ``side``×``side`` window where the reconstructions disagree most: the largest sum,
    over its pixels, of the variance across codecs (per channel, summed), found exactly with an
    integral image."""
    stack = np.stack([r.astype(np.float64) for r in reconstructions])
    spread = stack.var(axis=0).sum(axis=-1)
    h, w = spread.shape
    side = max(1, min(side, h, w))
    integral = np.pad(spread.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    )
    y, x = np.unravel_index(np.argmax(sums), sums.shape)
    return Region(int(x), int(y), side, side)


def boxed(image: np.ndarray, region: Region) -> np.ndarray:
    """The image with the region outlined in orange (line width scaled to the image)."""
    out = Image.fromarray(image)
    line = max(3, round(max(image.shape[:2]) / 120))
    ImageDraw.Draw(out).rectangle(
        [
            region.x - line,
            region.y - line,
            region.x + region.width + line - 1,
            region.y + region.height + line - 1,
        ],
        outline=BOX_COLOR,
        width=line,
    )
    return np.asarray(out)


def magnified(image: np.ndarray, region: Region) -> np.ndarray:
    """The region enlarged with nearest-neighbour sampling (pixels stay visible as blocks)."""
    factor = max(1, round(MAGNIFIED_SIDE / max(region.width, region.height)))
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(region.crop(image))).resize(
            (region.width * factor, region.height * factor), Image.NEAREST
        )
    )


def write_panels(
    original: np.ndarray, reconstructions: dict[str, np.ndarray], region: Region, folder: Path, stem: str
) -> dict[str, tuple[Path, Path]]:
    """For the original and each codec: the boxed full image and the magnified crop, as PNGs
    ``folder/stem_<name>.png`` and ``folder/stem_<name>_zoom.png``."""
    region.check(original.shape)
    images = {"original": original, **reconstructions}
    out = panel_paths(folder, stem, list(images))
    for name, image in images.items():
        save_png(boxed(image, region), out[name][0])
        save_png(magnified(image, region), out[name][1])
    return out


def panel_paths(folder: Path, stem: str, names: list[str]) -> dict[str, tuple[Path, Path]]:
    """Name → (boxed full image, magnified crop): the files :func:`write_panels` writes."""
    return {name: (folder / f"{stem}_{name}.png", folder / f"{stem}_{name}_zoom.png") for name in names}
