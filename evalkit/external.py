"""Reconstructions made by other tools, brought into a run folder that ``evalkit metrics`` and
``evalkit report`` take like one of ``evalkit compress``'s (``evalkit import``).

The layout read: the originals in one folder (``<image>.png``, any format evalkit reads); the
reconstructions in another, one subfolder per rate point (its name is the point's setting, e.g.
``q30``), each with ``<image>.<ext>`` decoded images; the bitstreams, when given, in a folder of
the same shape (``<point>/<image>.<ext>``, any extension), whose size gives the bpp — else a table
``image, point, bpp`` gives it. What is written is what is known, nothing invented:
``manifest.csv`` with ``image``, ``reference`` (the original as PNG in ``references/``), ``codec``,
``target_bpp``, ``bpp``, ``bytes`` (with bitstreams), ``setting_name`` (the point),
``reconstruction`` (copied as PNG into ``<codec>/<point>/``), ``bitstream``, ``flag``, ``height``,
``width``, ``source``, ``image_sha``. No target was asked of the other tool, so a point's
``target_bpp`` is the mean bpp its images reached (the report's tables and curves group by it),
and no point is flagged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .codecs.base import bitstream_bpp
from .compress import folder_name
from .datasets import resolve_images
from .errors import InputError
from .files import image_hash
from .images import save_png

COLUMNS = [
    "image",
    "reference",
    "codec",
    "target_bpp",
    "bpp",
    "bytes",
    "setting_name",
    "reconstruction",
    "bitstream",
    "flag",
    "height",
    "width",
    "source",
    "image_sha",
]


def import_reconstructions(
    originals: str | Path,
    reconstructions: str | Path,
    codec: str,
    out: str | Path,
    bitstreams: str | Path | None = None,
    bpp: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write ``out/manifest.csv`` (see the module docstring) for ``codec``'s reconstructions of
    ``originals`` and return it; bpp from ``bitstreams`` or from the table ``bpp`` (columns
    ``image``, ``point``, ``bpp``). Refused, with what is missing, when an image of a point has
    no original, no bitstream or no bpp, or differs in size from its original."""
    if (bitstreams is None) == (bpp is None):
        raise InputError("give the bitstreams (their size is the rate) or a bpp table, one of them")
    out, reconstructions = Path(out), Path(reconstructions)
    refs = {r.name: r for r in resolve_images(str(originals))}
    points = sorted(p for p in reconstructions.iterdir() if p.is_dir()) if reconstructions.is_dir() else []
    if not points:
        raise InputError(f"{reconstructions}: no rate-point subfolders (<point>/<image>.png)")
    given = None if bpp is None else {(str(r.image), str(r.point)): float(r.bpp) for r in bpp.itertuples()}
    rows, sizes = [], {}
    for point in points:
        for rec in resolve_images(str(point)):
            if rec.name not in refs:
                raise InputError(f"{point / rec.name}: no original named {rec.name} in {originals}")
            if rec.name not in sizes:
                pixels = refs[rec.name].load()
                reference = out / "references" / f"{rec.name}.png"
                save_png(pixels, reference)
                sizes[rec.name] = (pixels.shape[:2], image_hash(pixels), refs[rec.name].source)
            (h, w), sha, source = sizes[rec.name]
            decoded = rec.load()
            if decoded.shape[:2] != (h, w):
                raise InputError(
                    f"{rec.source}: {decoded.shape[1]}×{decoded.shape[0]} but its original is {w}×{h}"
                )
            row = {
                "image": rec.name,
                "reference": f"references/{rec.name}.png",
                "codec": codec,
                "setting_name": point.name,
                "flag": "",
                "height": h,
                "width": w,
                "source": source,
                "image_sha": sha,
            }
            target = Path(folder_name(codec)) / point.name / f"{rec.name}.png"
            save_png(decoded, out / target)
            row["reconstruction"] = str(target)
            if bitstreams is not None:
                found = sorted((Path(bitstreams) / point.name).glob(f"{rec.name}.*"))
                if len(found) != 1:
                    raise InputError(
                        f"{Path(bitstreams) / point.name}: {len(found)} bitstreams named "
                        f"{rec.name}.*; one is needed"
                    )
                kept = Path(folder_name(codec)) / point.name / found[0].name
                if (out / kept).resolve() != found[0].resolve():
                    shutil.copyfile(found[0], out / kept)
                row.update(
                    bytes=found[0].stat().st_size,
                    bitstream=str(kept),
                    bpp=bitstream_bpp(found[0].stat().st_size, h, w),
                )
            else:
                if (rec.name, point.name) not in given:
                    raise InputError(f"the bpp table has no row for image {rec.name} at point {point.name}")
                row.update(bytes=np.nan, bitstream="", bpp=given[(rec.name, point.name)])
            rows.append(row)
    manifest = pd.DataFrame(rows)
    manifest["target_bpp"] = manifest.groupby("setting_name")["bpp"].transform("mean")
    manifest = manifest[COLUMNS]
    manifest.to_csv(out / "manifest.csv", index=False)
    return manifest
