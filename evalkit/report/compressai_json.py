"""CompressAI's ``eval_model`` JSON, read and written: the format learned-compression papers
share their rate–distortion curves in (``compressai/utils/eval_model``; the published curves in
CompressAI's ``results/image/kodak/*.json``).

A codec file holds one curve, each list one value per rate point, the mean over the images::

    {"name": "...", "description": "...",
     "results": {"psnr-rgb": [...], "ms-ssim-rgb": [...], "bpp": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

A per-image file (``--per-image``) holds one point of one image, ``"source"`` naming the image
and each result a number. CompressAI's ``psnr-rgb`` is PSNR over RGB with peak 255 (on [0, 1]
tensors, peak 1: the same number) and ``ms-ssim-rgb`` ``pytorch_msssim.ms_ssim(data_range=255)``
— evalkit's ``psnr`` and ``ms_ssim``; other metric columns are written under evalkit's column
names, which CompressAI's plotting reads by name like any other key.

Read, a file becomes rows of an RD table (``codec``, ``bpp``, metric columns; per image also
``image``); written, a metrics table of ``evalkit metrics`` becomes one codec file per codec
(the mean over images at each target, as the report's mean curve) and, optionally, one file per
(image, codec, target). Writing then reading gives the same numbers (JSON keeps every digit).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..files import write_json
from ..metrics.registry import BY_COLUMN

#: CompressAI's result keys ↔ evalkit's columns (every other key keeps its name).
KEYS = {
    "psnr-rgb": "psnr",
    "ms-ssim-rgb": "ms_ssim",
    "bpp": "bpp",
    "encoding_time": "encode_s",
    "decoding_time": "decode_s",
}
COLUMNS = {column: key for key, column in KEYS.items()}


def read_eval_model(path: str | Path) -> pd.DataFrame:
    """One row per rate point of a codec file (``codec`` = its ``name``), or the one row of a
    per-image file (with ``image`` = its ``source``); columns named as evalkit names them."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        name, results = data["name"], data["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path}: not a CompressAI eval_model JSON file ({type(exc).__name__}: "
            f"{exc}); it needs 'name' and 'results'"
        ) from exc
    if "bpp" not in results:
        raise InputError(f"{path}: its results have no 'bpp' (keys: {', '.join(results)})")
    columns = {KEYS.get(k, k): v for k, v in results.items()}
    if "source" in data:
        return pd.DataFrame([{"image": data["source"], "codec": name, **columns}])
    lengths = {k: len(v) for k, v in columns.items() if isinstance(v, list)}
    if len(set(lengths.values())) != 1 or len(lengths) != len(columns):
        raise InputError(
            f"{path}: every result must be a list of one value per rate point; lengths {lengths}"
        )
    return pd.DataFrame({"codec": name, **columns})


def _kept(columns) -> list[str]:
    """The columns a file carries: bpp, the times, every metric column."""
    return ["bpp", *(c for c in columns if c in BY_COLUMN or c in ("encode_s", "decode_s"))]


def write_eval_model(pairs: pd.DataFrame, folder: str | Path, per_image: bool = False) -> list[Path]:
    """``<codec>.json`` per codec of a metrics (or manifest) table — per target bpp, the mean
    over images of achieved bpp, times and every metric — and with ``per_image`` also
    ``<image>-<codec>-<target>bpp.json`` per row. Returns the files written."""
    missing = {"codec", "target_bpp", "bpp", "image"} - set(pairs.columns)
    if missing:
        raise InputError(
            f"the table lacks {', '.join(sorted(missing))}: give a manifest or metrics "
            "table of evalkit compress / metrics"
        )
    folder = Path(folder)
    written = []
    for codec, rows in pairs.groupby("codec", sort=True):
        columns = _kept(rows.columns)
        mean = rows.groupby("target_bpp", sort=True)[columns].mean()
        written.append(folder / f"{codec}.json")
        write_json(
            written[-1],
            {
                "name": codec,
                "description": _description(len(rows["image"].unique())),
                "results": {COLUMNS.get(c, c): mean[c].tolist() for c in columns},
            },
        )
        for _, row in rows.iterrows() if per_image else ():
            results = {COLUMNS.get(c, c): float(row[c]) for c in columns}
            written.append(folder / f"{row['image']}-{codec}-{row['target_bpp']:g}bpp.json")
            write_json(
                written[-1],
                {"source": row["image"], "name": codec, "description": _description(1), "results": results},
            )
    return written


def _description(images: int) -> str:
    return f"evalkit {__version__}: real bitstreams at matched bpp, mean over {images} image(s) per target"


#: How a published curve is named in the report: its file's name, marked.
PUBLISHED = "{name} (published)"


def with_published(curves: dict[str, pd.DataFrame], files) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The report's RD curves (:func:`~evalkit.report.tables.rd_curves`) with the mean curve of
    each codec file of ``files`` added to every metric it has (panel ``"all"``, codec named
    :data:`PUBLISHED`), and those names."""
    names, out = [], dict(curves)
    for path in files:
        table = read_eval_model(path)
        if "image" in table.columns:
            raise InputError(f"{path}: a per-image file; a published curve is a codec file")
        name = PUBLISHED.format(name=table["codec"].iloc[0])
        names.append(name)
        for column in (c for c in table.columns if c in out):
            points = table[["bpp", column]].rename(columns={column: "value"})
            out[column] = pd.concat(
                [out[column], points.assign(panel="all", codec=name)], ignore_index=True
            ).sort_values(["panel", "codec", "bpp"], ignore_index=True)
    return out, names
