"""``evalkit merge``: join the outputs of shards (or of any runs over disjoint work) into one run.

Inputs are of two kinds, as ``--shard K/N`` writes them (:mod:`evalkit.shards`):

* a **run folder** of ``evalkit compress`` (``manifest.csv``, its references, bitstreams and
  reconstructions, ``shard.json``), with ``metrics.csv`` and ``metrics_features.npz`` if
  ``evalkit metrics`` measured it: its files are linked (or copied) into the output folder at
  the same relative paths, its rows join the manifest and the metrics table;
* a **metrics table** of ``evalkit metrics --shard`` (``metrics-shard-K-of-N.csv`` with
  ``…_features.npz`` and ``…_shard.json`` beside it): its rows join the metrics table, their
  paths rewritten to be relative to the output folder.

FID and KID are computed again from the union of the features (:func:`~evalkit.metrics.set_metrics`),
so they equal those of one unsharded run: a Fréchet distance of a union is not any average of
the shards' distances. A set of shards that is incomplete, repeated, or from different commands
(their plans differ), a shard whose table lacks a row its record lists (a failed run, a file cut
short), a table with an empty or malformed cell, a file a manifest lists that is missing, two
inputs that both hold the same row, and two different files at one path are
:class:`~evalkit.errors.InputError`\\ s. Everything is written into a temporary folder beside
the output first and moved into place only when it is whole, so a refused merge writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .compress import MANIFEST_COLUMNS, SHARD_RECORD, read_manifest, write_manifest
from .errors import InputError
from .files import check_columns, read_csv_table
from .metrics import Features, read_table, set_metrics, write_table
from .shards import read_record

METRICS_TABLE, FEATURES_FILE = "metrics.csv", "metrics_features.npz"


def features_path(table: Path) -> Path:
    """Where ``evalkit metrics`` keeps the features of ``table``: ``<stem>_features.npz``."""
    return table.with_name(f"{table.stem}_features.npz")


def record_path(table: Path) -> Path:
    """Where a metrics shard keeps its shard record: ``<stem>_shard.json``."""
    return table.with_name(f"{table.stem}_shard.json")


@dataclass
class MergeResult:
    manifest: pd.DataFrame | None  # the joined manifest (None: no run folders were given)
    pairs: pd.DataFrame | None  # the joined metrics table (None: nothing was measured)
    sets: pd.DataFrame | None  # FID / KID from the joined features
    files: int  # files linked or copied into the output folder


@dataclass
class _Table:
    rows: pd.DataFrame
    root: Path | None  # the folder its paths are relative to; None: a run folder's own table,
    features: Path | None  # whose files keep their relative paths in the output


def merge_runs(inputs: list[str | Path], out: str | Path) -> MergeResult:
    """Join ``inputs`` (run folders and metrics tables) into the run folder ``out``."""
    out = Path(out).resolve()
    folders, manifests, tables, records = [], [], [], {"compress": [], "metrics": []}
    for given in map(Path, inputs):
        path = given.resolve()
        if path.is_dir():
            if not (path / "manifest.csv").is_file():
                raise InputError(f"{given}: not a run folder of 'evalkit compress' (no manifest.csv)")
            if path == out:
                raise InputError(f"{given}: the output folder cannot be one of the runs merged")
            record = read_record(path / SHARD_RECORD)
            manifest = read_manifest(path / "manifest.csv")
            _check_rows(given / "manifest.csv", manifest, ["image", "codec", "target_bpp"], record)
            folders.append(path)
            manifests.append(manifest)
            records["compress"].append((given, record))
            if (path / METRICS_TABLE).is_file():
                pairs = _read_pairs(path / METRICS_TABLE)
                measured = set(zip(pairs["reference"], pairs["reconstruction"]))
                listed = set(zip(manifest["reference"], manifest["reconstruction"]))
                if measured != listed:
                    raise InputError(
                        f"{given / METRICS_TABLE}: measures {len(measured & listed)} of the "
                        f"{len(listed)} pairs its manifest lists; measure the run again"
                    )
                tables.append(_Table(pairs, None, _optional(features_path(path / METRICS_TABLE))))
        elif path.is_file():
            record = read_record(record_path(path))
            rows = _read_pairs(given)
            _check_rows(given, rows, ["reference", "reconstruction"], record)
            records["metrics"].append((given, record))
            root = Path(record["root"]) if record and "root" in record else path.parent
            tables.append(_Table(rows, root, _optional(features_path(path))))
        else:
            raise InputError(f"{given}: no such run folder or metrics table")
    if not folders and not tables:
        raise InputError("nothing to merge: give run folders and/or metrics tables")
    for command, found in records.items():
        _check_shards(command, found)

    manifest, placed = None, {}
    if folders:
        manifest = pd.concat(manifests, ignore_index=True)
        _refuse_duplicates(manifest, ["image", "codec", "target_bpp"], "manifest row")
        placed = _files_to_place(folders, manifests, out)
    pairs = sets = None
    if tables:
        pairs, features = _join_tables(tables, out)
        if features is not None and features.metrics:
            sets = set_metrics(pairs, features)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.merging-") as tmp:
        staged = Path(tmp)  # every check has passed: write here, then move it all
        for target, source in placed.items():
            _place(source, staged / target.relative_to(out))
        if manifest is not None:
            manifest = write_manifest(manifest[MANIFEST_COLUMNS].to_dict("records"), staged / "manifest.csv")
        if pairs is not None:
            write_table(pairs, staged / METRICS_TABLE)
            if sets is not None:
                write_table(sets, staged / "metrics_sets.csv")
                features.save(staged / FEATURES_FILE)
        _move_into(staged, out)
    return MergeResult(manifest, pairs, sets, len(placed))


def _read_pairs(path: Path) -> pd.DataFrame:
    table = (
        read_csv_table(path, "metrics table", written_by_evalkit=True)
        if path.suffix == ".csv"
        else read_table(path)
    )
    check_columns(table, path, "metrics table", text=["reference", "reconstruction"])
    return table


def _check_rows(given: Path, table: pd.DataFrame, key: list[str], record: dict | None) -> None:
    """A shard's table must hold exactly the rows its record lists."""
    if record is None:
        return

    def normal(row):
        if len(row) != len(key):
            raise ValueError(row)
        return tuple(float(v) if k == "target_bpp" else str(v) for k, v in zip(key, row))

    try:
        wanted = {normal(r) for r in record["rows"]}
    except (TypeError, ValueError):
        raise InputError(
            f"{given}: the rows its shard record lists are damaged; run that shard again"
        ) from None
    held = {normal(r) for r in table[key].itertuples(index=False)}
    missing, extra = sorted(wanted - held), sorted(held - wanted)
    if missing or extra:
        name = f"{record['command']} shard {record['shard']}/{record['of']}"
        problem = (
            f"lacks {len(missing)} of the {len(wanted)} rows its plan lists (first: {', '.join(map(str, missing[0]))})"
            if missing
            else f"holds {len(extra)} rows its plan does not list (first: {', '.join(map(str, extra[0]))})"
        )
        raise InputError(f"{given}: {name} {problem}: it failed or was cut short; run that shard again")


def _move_into(staged: Path, out: Path) -> None:
    """Move the staged output into ``out``: one rename when ``out`` does not exist yet, else
    file by file (the output may already hold files of an earlier merge)."""
    if not out.exists():
        staged.rename(out)
        staged.mkdir()  # for TemporaryDirectory's clean-up
        return
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        target = out / path.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


def _check_shards(command: str, found: list[tuple[Path, dict | None]]) -> None:
    """Shards of one command must all be there, once each, from the same plan."""
    sharded = [(given, r) for given, r in found if r is not None]
    if not sharded:
        return
    if len(sharded) < len(found):
        plain = [str(g) for g, r in found if r is None]
        raise InputError(f"{', '.join(plain)}: not a shard, but merged with {command} shards")
    plans = {(r["plan"], r["of"]) for _, r in sharded}
    if len(plans) > 1:
        raise InputError(
            f"the {command} shards come from different commands (different images, "
            "codecs, rates or metrics, or a different N); merge shards of one command"
        )
    count = sharded[0][1]["of"]
    seen: dict[int, Path] = {}
    for given, r in sharded:
        if r["shard"] in seen:
            raise InputError(
                f"{command} shard {r['shard']}/{count} given twice: {seen[r['shard']]} and {given}"
            )
        seen[r["shard"]] = given
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in seen]
    if missing:
        raise InputError(
            f"{command} shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            "missing: merge all N shards (FID/KID need every image)"
        )


def _join_tables(tables: list[_Table], out: Path) -> tuple[pd.DataFrame, Features | None]:
    columns = {tuple(t.rows.columns) for t in tables}
    if len(columns) > 1:
        raise InputError(
            "the metrics tables have different columns (different metrics?): "
            + " vs ".join(str(list(c)) for c in columns)
        )
    parts, features = [], []
    for t in tables:
        move = (lambda p: p) if t.root is None else (lambda p, root=t.root: os.path.relpath(root / p, out))
        rows = t.rows.copy()
        for column in ("reference", "reconstruction"):
            rows[column] = [move(p) for p in rows[column]]
        parts.append(rows)
        if t.features is not None:
            features.append(Features.load(t.features).rebased(move))
    if features and len(features) < len(tables):
        raise InputError(
            "some metrics tables have a features file beside them and some not; "
            "measure every shard with the same metrics"
        )
    pairs = pd.concat(parts, ignore_index=True)
    _refuse_duplicates(pairs, ["reference", "reconstruction"], "pair")
    order = [c for c in ("image", "codec", "target_bpp") if c in pairs.columns] or [
        "reference",
        "reconstruction",
    ]
    pairs = pairs.sort_values(order, kind="stable").reset_index(drop=True)
    return pairs, (Features.union(features) if features else None)


def _refuse_duplicates(table: pd.DataFrame, key: list[str], what: str) -> None:
    repeated = table[table.duplicated(key, keep=False)]
    if len(repeated):
        first = ", ".join(f"{k}={repeated.iloc[0][k]}" for k in key)
        raise InputError(
            f"{len(repeated)} rows repeat a {what} held by another run ({first}): the runs overlap"
        )


def _files_to_place(folders: list[Path], manifests: list[pd.DataFrame], out: Path) -> dict[Path, Path]:
    """Target → source of every file the manifests name that the output lacks; one path given
    different contents by two runs (or by a run and the output) is refused."""
    placed: dict[Path, Path] = {}
    for folder, manifest in zip(folders, manifests):
        for column in ("reference", "reconstruction", "bitstream"):
            for rel in dict.fromkeys(manifest[column]):
                source, target = folder / rel, out / rel
                if not source.is_file():
                    raise InputError(
                        f"{source}: listed in {folder / 'manifest.csv'} ({column}) but "
                        "missing; run that compress again"
                    )
                if out not in target.parents:
                    raise InputError(
                        f"{folder / 'manifest.csv'}: the {column} path {rel!r} leads outside the run folder"
                    )
                other = placed.get(target) or (target if target.is_file() else None)
                if other is not None:
                    if other.read_bytes() != source.read_bytes():
                        raise InputError(f"{rel}: {source} and {other} differ; the runs do not agree")
                    continue
                placed[target] = source
    return placed


def _place(source: Path, target: Path) -> None:
    """Link ``source`` to ``target``, or copy it where links cannot be made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
