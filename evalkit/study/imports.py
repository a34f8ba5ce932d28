"""Public studies in: answer files of other studies read into evalkit's comparison and stimuli
tables (:mod:`evalkit.study.comparisons`), so that every analysis of evalkit's own studies runs on
them too.

Formats (:data:`FORMATS`):

* ``aic3`` — the JPEG AIC-3 triplet files (plain PTC and boosted BTC; Testolina et al., DCC 2025,
  arXiv 2410.09501; the JPEG AI study of Jenadeleh et al., arXiv 2504.06301). A row shows a pivot
  (the source) between two stimuli and the worker names the side that differs *more* from the
  pivot: on the trap questions (the source against level 10) the answer names the level-10 side
  (PTC 672 of 885 decided traps, BTC 5 667 of 5 910), so the importer turns it round into the side
  of better quality. ``notsure`` becomes ``not_sure``; ``skip`` and the bias checks that show one
  stimulus on both sides are not comparisons and are counted, not kept.
* ``clic`` — CLIC-style answer files: ``methodA,methodB,originalName,answerValue`` with
  ``answerValue`` 0 where A was preferred and 1 where B was (the convention of CLIC's perceptual
  oracle files, ``<O,A,B,T>``); an optional ``rater`` column names the rater, else every answer is
  the anonymous rater ``clic``.
* ``csv`` — any CSV with a :class:`ColumnMapping`: which CSV column holds each table column, how
  its answer values read, and whether an answer names the better or the worse side.

Bad input stops the import with one error naming the file, the line (as an editor counts it, the
header being line 1) and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import comparisons as cmp

FORMATS = ("aic3", "clic", "csv")


@dataclass(frozen=True)
class Imported:
    """An import's result: the comparison table, the stimuli table, and what was left out
    (condition → reason → number of rows)."""

    comparisons: pd.DataFrame
    stimuli: pd.DataFrame
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self) -> dict:
        """Per condition and in all: answers imported, not-sure answers, traps, raters, and the
        rows left out and why."""

        def counts(c: pd.DataFrame, skipped: dict[str, int]) -> dict:
            return {
                "answers": len(c),
                "not_sure": int((c[cmp.ANSWER] == cmp.NOT_SURE).sum()),
                "traps": int(c[cmp.TRAP].sum()),
                "raters": int(c[cmp.RATER].nunique()),
                "images": int(c[cmp.IMAGE].nunique()),
                "skipped": skipped,
            }

        c = self.comparisons
        total = {}
        for reasons in self.skipped.values():
            for reason, n in reasons.items():
                total[reason] = total.get(reason, 0) + n
        return {
            "all": {**counts(c, total), "stimuli": len(self.stimuli)},
            **{
                str(k): counts(part, self.skipped.get(str(k), {}))
                for k, part in c.groupby(cmp.CONDITION, sort=True)
            },
        }


def _skipped(conditions, reasons: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """condition → reason → rows, from a mask per reason."""
    out: dict[str, dict[str, int]] = {}
    conditions = np.asarray(conditions, dtype=object)
    for reason, mask in reasons.items():
        for condition, n in zip(*np.unique(conditions[mask], return_counts=True)):
            out.setdefault(str(condition), {})[reason] = int(n)
    return out


def _merged(parts) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for condition, reasons in part.items():
            for reason, n in reasons.items():
                out.setdefault(condition, {})[reason] = out.get(condition, {}).get(reason, 0) + n
    return out


def _read(path: str | Path) -> pd.DataFrame:
    """A CSV file as text cells (nothing guessed), or InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a readable CSV file ({str(error).strip()})") from None


def _where(path, table: pd.DataFrame, bad: np.ndarray, column: str, wanted: str) -> None:
    """InputError at the first row where ``bad`` holds: file, line, column, value, what it must be."""
    if bad.any():
        n = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}, line {table.index[n] + 2}, column {column!r}: {table[column].iloc[n]!r} is not {wanted}"
        )


def _require(path, table: pd.DataFrame, columns) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise InputError(
            f"{path}: column(s) {', '.join(absent)} missing; the file has "
            f"{', '.join(table.columns) or 'no columns'}"
        )


def _integers(path, table: pd.DataFrame, column: str, low: int = 0, high: int | None = None) -> np.ndarray:
    text = table[column].str.strip()
    ok = text.str.fullmatch(r"\d+").to_numpy(dtype=bool)
    _where(path, table, ~ok, column, f"a whole number ≥ {low}")
    values = text.astype(np.int64).to_numpy()
    if high is not None:
        _where(path, table, (values < low) | (values > high), column, f"a whole number from {low} to {high}")
    return values


def _seconds(path, table: pd.DataFrame, column: str, unit: float) -> np.ndarray:
    values = pd.to_numeric(table[column].str.strip().replace("", "nan"), errors="coerce").to_numpy(
        dtype=float
    )
    text_nan = table[column].str.strip().str.lower().isin(["", "nan"]).to_numpy()
    _where(
        path, table, (np.isnan(values) & ~text_nan) | (values < 0), column, "a time ≥ 0 (empty when unknown)"
    )
    return values * unit


def _text(path, table: pd.DataFrame, column: str) -> np.ndarray:
    values = table[column].str.strip()
    _where(path, table, (values == "").to_numpy(), column, "a non-empty name")
    return values.to_numpy(dtype=object)


# --- AIC-3 ----------------------------------------------------------------------------------------

AIC3_COLUMNS = [
    "worker",
    "method",
    "img_num",
    "codec_left",
    "codec_right",
    "codec_pivot",
    "dlevel_left",
    "dlevel_right",
    "dlevel_pivot",
    "img_left",
    "img_right",
    "img_pivot",
    "is_trap",
    "response",
    "response_time",
]
#: AIC-3's answers, as the side of *better* quality (the worker names the more distorted side).
AIC3_ANSWERS = {"left": "right", "right": "left", "notsure": cmp.NOT_SURE}
AIC3_METHODS = {"PTC": False, "BTC": True}  # method → boosted
_AIC3_FILE = re.compile(r"(?P<method>[A-Z]+)_(?P<image>\d+)_(?P<codec>.+)_(?P<level>\d+)\.png")


def aic3_stimulus(codec: int, level: int) -> str:
    """The stimulus id of an AIC-3 codec number and distortion level: ``reference`` for the source
    (codec 0), else ``c<codec>-l<level>`` (``c6-l7``: JPEG AI at level 7)."""
    return cmp.REFERENCE if codec == 0 else f"c{codec}-l{level}"


def read_aic3(paths) -> Imported:
    """AIC-3 triplet response files (PTC and/or BTC) as comparison and stimuli tables. A stimulus's
    ``file`` is the plain image's name (``PTC_00002_AVIF_01.png``, the name the AIC-4 metric table
    uses; BTC shows that image boosted, named ``BTC_…``). Worker numbers are per experiment
    (PTC's 73 and BTC's 386 are 459 people), so a rater is named ``PTC-11`` or ``BTC-11``."""
    frames, stimuli, skipped = [], [], []
    for path in _paths(paths):
        t = _read(path)
        _require(path, t, AIC3_COLUMNS)
        methods = t["method"].str.strip()
        _where(path, t, ~methods.isin(list(AIC3_METHODS)).to_numpy(), "method", "PTC or BTC")
        response = t["response"].str.strip().str.lower()
        _where(
            path,
            t,
            ~response.isin([*AIC3_ANSWERS, "skip"]).to_numpy(),
            "response",
            "left, right, notsure or skip",
        )
        image = _integers(path, t, "img_num")
        trap = _integers(path, t, "is_trap", 0, 1).astype(bool)
        codec, level, ids = {}, {}, {}
        for side in ("left", "right", "pivot"):
            codec[side] = _integers(path, t, f"codec_{side}")
            level[side] = _integers(path, t, f"dlevel_{side}")
            _where(
                path,
                t,
                (codec[side] == 0) != (level[side] == 0),
                f"dlevel_{side}",
                "0 exactly where the codec is 0 (the source)",
            )
            _text(path, t, f"img_{side}")
            ids[side] = np.array(
                [aic3_stimulus(c, l) for c, l in zip(codec[side], level[side])], dtype=object
            )
        seconds = _seconds(path, t, "response_time", 1e-3)
        rater = methods.to_numpy(dtype=object) + "-" + _text(path, t, "worker")
        # a trap's expected answer: the less distorted side (the source)
        lower = np.where(level["left"] < level["right"], "left", "right")
        _where(
            path,
            t,
            trap & (level["left"] == level["right"]),
            "is_trap",
            "1 on a row whose two sides are equally distorted (a trap needs a right answer)",
        )
        same = ids["left"] == ids["right"]
        keep_answer = (response != "skip").to_numpy()
        keep = keep_answer & ~same
        skipped.append(
            _skipped(
                methods,
                {
                    "skip": (response == "skip").to_numpy(),
                    "same stimulus on both sides (bias check)": same & keep_answer,
                },
            )
        )
        frames.append(
            pd.DataFrame(
                {
                    cmp.RATER: rater,
                    cmp.IMAGE: image.astype(str),
                    cmp.LEFT: ids["left"],
                    cmp.RIGHT: ids["right"],
                    cmp.ANSWER: response.map(AIC3_ANSWERS).fillna("").to_numpy(dtype=object),
                    cmp.BOOSTED: methods.map(AIC3_METHODS).to_numpy(dtype=bool),
                    cmp.TRAP: trap,
                    cmp.EXPECTED: np.where(trap, lower, ""),
                    cmp.RESPONSE_TIME_S: seconds,
                    cmp.CONDITION: methods.to_numpy(dtype=object),
                    cmp.PIVOT: ids["pivot"],
                }
            )[keep]
        )
        for side in ("left", "right", "pivot"):
            stimuli.append(
                pd.DataFrame(
                    {
                        cmp.IMAGE: image.astype(str),
                        cmp.STIMULUS: ids[side],
                        "_codec": codec[side],
                        cmp.LEVEL: level[side].astype(float),
                        cmp.FILE: t[f"img_{side}"].str.strip().to_numpy(),
                    }
                )
            )
    table = pd.concat(frames, ignore_index=True)
    table[cmp.ANSWER] = table[cmp.ANSWER].astype(object)
    return Imported(
        cmp.check_comparisons(table), _aic3_stimuli(pd.concat(stimuli, ignore_index=True)), _merged(skipped)
    )


def _aic3_stimuli(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per stimulus of an image, named by its plain file; the codec's name from the file
    name (``PTC_00002_JPEG-AI_07.png`` → ``JPEG-AI``), the source's codec ``""``."""
    rows = rows.drop_duplicates([cmp.IMAGE, cmp.STIMULUS]).copy()
    names, files = [], []
    for file, number in zip(rows[cmp.FILE], rows["_codec"]):
        match = _AIC3_FILE.fullmatch(file)
        names.append("" if number == 0 else match["codec"] if match else str(number))
        files.append(f"PTC_{file[len(match['method']) + 1 :]}" if match else file)
    rows[cmp.CODEC], rows[cmp.FILE] = names, files
    rows = rows.sort_values([cmp.IMAGE, "_codec", cmp.LEVEL], key=_natural).reset_index(drop=True)
    return cmp.check_stimuli(rows[cmp.STIMULUS_COLUMNS])


def _natural(column: pd.Series) -> pd.Series:
    """Numbers sorted as numbers (image "10" after "9")."""
    return pd.to_numeric(column, errors="coerce") if column.name == cmp.IMAGE else column


# --- CLIC -----------------------------------------------------------------------------------------

CLIC_COLUMNS = ["methodA", "methodB", "originalName", "answerValue"]
CLIC_ANSWERS = {"0": "left", "1": "right"}  # 0: A preferred (CLIC's oracle <O,A,B,T>)


def read_clic(paths) -> Imported:
    """CLIC-style answer files (``methodA,methodB,originalName,answerValue``; A is the left side)
    as comparison and stimuli tables; ``condition`` is the file's name without its suffix."""
    mapping = ColumnMapping(
        rater="rater",
        image="originalName",
        left="methodA",
        right="methodB",
        answer="answerValue",
        answers=CLIC_ANSWERS,
    )
    frames = []
    for path in _paths(paths):
        t = _read(path)
        _require(path, t, CLIC_COLUMNS)
        if "rater" not in t:
            t = t.assign(rater="clic")
        frames.append(mapping.read(path, t, condition=Path(path).stem))
    return _imported(frames)


# --- any CSV --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """Which CSV column holds each comparison column, and how answers read.

    ``answers`` maps the file's answer values to ``left``, ``right``, ``not_sure`` or ``skip``
    (default: those words themselves); ``answer_names`` says whether an answer names the side of
    ``better`` quality (evalkit's convention) or the ``worse`` one (AIC-3's). Optional columns left
    as None take their defaults: no traps, not boosted, time unknown, ``condition`` from the file's
    name, no pivot. ``trap`` holds 0/1 (or true/false); ``expected`` the right answer of a trap in
    the file's own answer values; ``response_time`` is in ``time_unit_s`` seconds (0.001: ms)."""

    rater: str
    image: str
    left: str
    right: str
    answer: str
    answers: dict[str, str] | None = None
    answer_names: str = "better"
    trap: str | None = None
    expected: str | None = None
    boosted: str | None = None
    response_time: str | None = None
    time_unit_s: float = 1.0
    condition: str | None = None
    pivot: str | None = None

    def __post_init__(self):
        if self.answer_names not in ("better", "worse"):
            raise InputError(
                f"answer_names is 'better' or 'worse' (which side an answer names), not {self.answer_names!r}"
            )
        wrong = {v for v in (self.answers or {}).values()} - {*cmp.ANSWERS, "skip"}
        if wrong:
            raise InputError(
                f"answer values map to left, right, not_sure or skip, not {', '.join(sorted(wrong))}"
            )
        if self.expected is not None and self.trap is None:
            raise InputError("an 'expected' column needs a 'trap' column (which rows are traps)")

    @classmethod
    def parse(cls, items: list[str], answers: list[str] = (), **options) -> ColumnMapping:
        """From ``table=csv`` words (``rater=worker image=content``) and ``value=answer`` words
        (``A=left B=right tie=not_sure``), as the command line gives them."""

        def pairs(words, what):
            out = {}
            for word in words:
                key, sep, value = word.partition("=")
                if not sep or not key or not value:
                    raise InputError(f"{what} {word!r} is not NAME=VALUE")
                out[key] = value
            return out

        columns = pairs(items, "column mapping")
        known = {f for f in cls.__dataclass_fields__} - {"answers", "answer_names", "time_unit_s"}
        unknown = set(columns) - known
        if unknown:
            raise InputError(
                f"unknown column(s) in the mapping: {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        needed = [c for c in ("rater", "image", "left", "right", "answer") if c not in columns]
        if needed:
            raise InputError(
                f"the column mapping must name the CSV column of {', '.join(needed)} (e.g. rater=worker)"
            )
        return cls(**columns, answers=pairs(answers, "answer value") or None, **options)

    def read(self, path, t: pd.DataFrame, condition: str | None = None) -> tuple[pd.DataFrame, dict]:
        """One file's table as comparison rows, and the rows skipped (condition → reason → count)."""
        named = [
            c
            for c in (
                self.rater,
                self.image,
                self.left,
                self.right,
                self.answer,
                self.trap,
                self.expected,
                self.boosted,
                self.response_time,
                self.condition,
                self.pivot,
            )
            if c
        ]
        _require(path, t, named)
        values = self.answers or {a: a for a in (*cmp.ANSWERS, "skip")}
        raw = t[self.answer].str.strip()
        _where(
            path, t, ~raw.isin(list(values)).to_numpy(), self.answer, f"an answer value ({', '.join(values)})"
        )
        said = raw.map(values)
        if self.answer_names == "worse":
            said = said.map({"left": "right", "right": "left"}).fillna(said)
        trap = self._flag(path, t, self.trap) if self.trap else np.zeros(len(t), dtype=bool)
        expected = np.full(len(t), "", dtype=object)
        if self.expected:
            right = t[self.expected].str.strip().map(values)
            if self.answer_names == "worse":
                right = right.map({"left": "right", "right": "left"})
            _where(
                path,
                t,
                trap & ~right.isin(cmp.SIDES).to_numpy(),
                self.expected,
                "the right answer of a trap (an answer value meaning left or right)",
            )
            expected = np.where(trap, right.fillna(""), "")
        left, right_ids = _text(path, t, self.left), _text(path, t, self.right)
        table = pd.DataFrame(
            {
                cmp.RATER: _text(path, t, self.rater),
                cmp.IMAGE: _text(path, t, self.image),
                cmp.LEFT: left,
                cmp.RIGHT: right_ids,
                cmp.ANSWER: said.to_numpy(dtype=object),
                cmp.BOOSTED: self._flag(path, t, self.boosted)
                if self.boosted
                else np.zeros(len(t), dtype=bool),
                cmp.TRAP: trap,
                cmp.EXPECTED: expected,
                cmp.RESPONSE_TIME_S: (
                    _seconds(path, t, self.response_time, self.time_unit_s)
                    if self.response_time
                    else np.full(len(t), np.nan)
                ),
                cmp.CONDITION: (
                    _text(path, t, self.condition) if self.condition else condition or Path(path).stem
                ),
            }
        )
        if self.pivot:
            table[cmp.PIVOT] = t[self.pivot].str.strip().to_numpy(dtype=object)
        _where(path, t, left == right_ids, self.right, "a stimulus other than the left one")
        skip = (said == "skip").to_numpy()
        return table[~skip], _skipped(table[cmp.CONDITION], {"skip": skip})

    @staticmethod
    def _flag(path, t: pd.DataFrame, column: str) -> np.ndarray:
        text = t[column].str.strip().str.lower()
        words = {"0": False, "1": True, "false": False, "true": True}
        _where(path, t, ~text.isin(list(words)).to_numpy(), column, "0, 1, true or false")
        return text.map(words).to_numpy(dtype=bool)


def read_csv_mapped(paths, mapping: ColumnMapping) -> Imported:
    """CSV files of any layout, read through ``mapping``."""
    return _imported([mapping.read(path, _read(path)) for path in _paths(paths)])


def _imported(parts: list[tuple[pd.DataFrame, dict]]) -> Imported:
    table = pd.concat([p[0] for p in parts], ignore_index=True)
    return Imported(cmp.check_comparisons(table), _stimuli_of(table), _merged(p[1] for p in parts))


def _stimuli_of(table: pd.DataFrame) -> pd.DataFrame:
    """The stimuli of a comparison table that names them only: codec = the stimulus id, level and
    file unknown (metric tables then join by stimulus name)."""
    ids = (
        pd.concat(
            [table[[cmp.IMAGE, side]].set_axis([cmp.IMAGE, cmp.STIMULUS], axis=1) for side in cmp.SIDES]
        )
        .drop_duplicates()
        .sort_values([cmp.IMAGE, cmp.STIMULUS])
    )
    return cmp.check_stimuli(
        ids.assign(
            **{
                cmp.CODEC: np.where(ids[cmp.STIMULUS] == cmp.REFERENCE, "", ids[cmp.STIMULUS]),
                cmp.LEVEL: np.nan,
                cmp.FILE: "",
            }
        ).reset_index(drop=True)[cmp.STIMULUS_COLUMNS]
    )


def _paths(paths) -> list[Path]:
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise InputError("no file to import: name one or more answer files")
    return paths


def read(format: str, paths, mapping: ColumnMapping | None = None) -> Imported:
    """Import answer files of ``format`` (:data:`FORMATS`); ``csv`` needs a ``mapping``."""
    if format not in FORMATS:
        raise InputError(f"unknown import format {format!r}; known: {', '.join(FORMATS)}")
    if format == "csv":
        if mapping is None:
            raise InputError("the csv format needs a column mapping (e.g. rater=worker image=content ...)")
        return read_csv_mapped(paths, mapping)
    return read_aic3(paths) if format == "aic3" else read_clic(paths)


# --- metric tables and output ---------------------------------------------------------------------


def join_metrics(
    stimuli: pd.DataFrame,
    metrics: pd.DataFrame,
    on: str = "file",
    key: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The stimuli table with a metric table's numeric columns joined: by file name (``on="file"``,
    the metric table's column ``key``, e.g. AIC-4's ``img_distorted``; only the name counts, not
    the folder) or by stimulus id (``on="stimulus"``: the metric table's ``image`` and ``key``
    columns). ``columns`` names the metric columns to join (default: every numeric column whose
    name the stimuli table does not use). Stimuli without a metric row (the sources) get NaN."""
    cmp.check_stimuli(stimuli)
    if on not in ("file", "stimulus"):
        raise InputError(f"metric tables join on 'file' or 'stimulus', not {on!r}")
    key = key or on
    needed = [key] if on == "file" else [cmp.IMAGE, key]
    absent = [c for c in needed if c not in metrics.columns]
    if absent:
        raise InputError(
            f"the metric table lacks column(s) {', '.join(absent)} to join on; it has "
            f"{', '.join(map(str, metrics.columns))}"
        )
    if columns is None:
        values = [
            c
            for c in metrics.columns
            if c not in needed and c not in stimuli.columns and pd.api.types.is_numeric_dtype(metrics[c])
        ]
    else:
        values = list(columns)
        absent = [c for c in values if c not in metrics.columns]
        if absent:
            raise InputError(f"the metric table has no column(s) {', '.join(absent)}")
        text = [c for c in values if not pd.api.types.is_numeric_dtype(metrics[c])]
        if text:
            raise InputError(f"metric column(s) {', '.join(text)} hold non-numbers")
    if not values:
        raise InputError("the metric table has no numeric column to join")
    m = metrics[needed + values].copy()
    if on == "file":
        m["_key"] = [Path(str(f)).name for f in m[key]]
        left = stimuli.assign(_key=[Path(f).name if f else "" for f in stimuli[cmp.FILE]])
        keys = ["_key"]
    else:
        m = m.assign(_key=m[key].astype(str), **{cmp.IMAGE: m[cmp.IMAGE].astype(str)})
        left = stimuli.assign(_key=stimuli[cmp.STIMULUS])
        keys = [cmp.IMAGE, "_key"]
    twice = m.duplicated(keys)
    if twice.any():
        raise InputError(
            f"the metric table has two rows for {m.loc[twice, key].iloc[0]!r}; one row per stimulus"
        )
    clash = [c for c in values if c in stimuli.columns]
    if clash:
        raise InputError(f"the metric table's column(s) {', '.join(clash)} clash with the stimuli table's")
    return left.merge(m[keys + values], on=keys, how="left").drop(columns="_key")


def write(
    imported: Imported, out_dir: str | Path, fmt: str = "csv", metrics: pd.DataFrame | None = None
) -> list[Path]:
    """``comparisons`` and ``stimuli`` tables (CSV or Parquet) in ``out_dir``, the stimuli with
    ``metrics`` joined when given; returns the files written."""
    if fmt not in ("csv", "parquet"):
        raise InputError(f"tables are written as csv or parquet, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (
        ("comparisons", imported.comparisons),
        ("stimuli", imported.stimuli if metrics is None else metrics),
    ):
        path = out / f"{name}.{fmt}"
        table.to_csv(path, index=False) if fmt == "csv" else table.to_parquet(path, index=False)
        written.append(path)
    return written


def read_comparisons(path: str | Path) -> pd.DataFrame:
    """A comparison table written by :func:`write` (CSV or Parquet), checked."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(
            path,
            dtype={c: str for c in (*cmp.TEXT_COLUMNS, cmp.PIVOT)},
            keep_default_na=False,
            na_values={cmp.RESPONSE_TIME_S: [""]},
        )
    return cmp.check_comparisons(table)
