"""The comparison table: one row per answer of a 2AFC or triplet comparison, whatever study it
came from (evalkit's own, AIC-3's triplets, CLIC-style answer files, a mapped CSV), and the
stimuli table beside it. Importers produce these tables; the analyses read them.

Comparison columns (exact names, see :data:`COLUMNS`):

* ``rater`` (str): the worker or rater id.
* ``image`` (str): the source image (content) id, e.g. ``"2"`` or ``"kodim03"``.
* ``left``, ``right`` (str): the stimuli shown, ids unique within the image; the undistorted
  source is named exactly :data:`REFERENCE`; others e.g. ``"c3-l7"`` (codec 3, level 7) or
  ``"jpeg@0.5"`` (evalkit's own: codec@target bpp, :func:`stimulus_id`).
* ``answer`` (str): ``"left"``, ``"right"`` or ``"not_sure"``, the side judged of *better*
  quality (closer to the reference, less distorted). Skipped answers are not rows.
* ``boosted`` (bool): shown with boosted (amplified) artefacts, as AIC-3's BTC.
* ``trap`` (bool): a check question with a known answer, given in ``expected`` (``"left"`` or
  ``"right"``; ``""`` for every other row).
* ``response_time_s`` (float): seconds the rater took, NaN when unknown.
* ``condition`` (str): the data set or experiment part ("PTC", "BTC", a study's name).
* optional ``pivot`` (str): the stimulus shown between the two (AIC-3's triplets:
  ``reference``), ``""`` when none.

Stimuli columns (:data:`STIMULUS_COLUMNS`): ``image, stimulus, codec, level, file`` — one row per
stimulus of an image; ``level`` is a float (NaN when unknown), ``file`` the distorted image's
file name, by which metric tables are joined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

RATER, IMAGE, LEFT, RIGHT, ANSWER = "rater", "image", "left", "right", "answer"
BOOSTED, TRAP, EXPECTED, RESPONSE_TIME_S, CONDITION, PIVOT = (
    "boosted",
    "trap",
    "expected",
    "response_time_s",
    "condition",
    "pivot",
)
#: The columns every comparison table has, in this order; :data:`PIVOT` may follow.
COLUMNS = [RATER, IMAGE, LEFT, RIGHT, ANSWER, BOOSTED, TRAP, EXPECTED, RESPONSE_TIME_S, CONDITION]
OPTIONAL_COLUMNS = [PIVOT]
#: The answers: the better side, or not sure.
NOT_SURE = "not_sure"
SIDES = ("left", "right")
ANSWERS = (*SIDES, NOT_SURE)
#: The stimulus id of the undistorted source image.
REFERENCE = "reference"

#: What an analysis does with a not-sure answer: half a win each way, or leave it out.
NOT_SURE_RULES = ("split", "drop")

STIMULUS, CODEC, LEVEL, FILE = "stimulus", "codec", "level", "file"
STIMULUS_COLUMNS = [IMAGE, STIMULUS, CODEC, LEVEL, FILE]

#: The string columns (``expected`` may be empty).
TEXT_COLUMNS = (RATER, IMAGE, LEFT, RIGHT, ANSWER, EXPECTED, CONDITION)
_FLAGS = (BOOSTED, TRAP)


def _missing(table: pd.DataFrame, columns: list[str], what: str) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise InputError(
            f"the {what} table lacks column(s) {', '.join(absent)}; it needs "
            f"{', '.join(columns)} (see evalkit.study.comparisons)"
        )


def _text_column(table: pd.DataFrame, column: str, what: str, allow_empty: bool = False) -> None:
    values = table[column]
    bad = values.isna() | ~values.map(lambda v: isinstance(v, str))
    if not allow_empty:
        bad |= values.map(lambda v: v == "" if isinstance(v, str) else False)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"the {what} table's column {column!r} must hold "
            f"{'strings' if allow_empty else 'non-empty strings'}; row {row} holds "
            f"{values.iloc[row]!r}"
        )


def check_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` itself if it is a comparison table (see the module's docstring); else InputError
    naming the column and the first row that does not fit."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"a comparison table is a pandas DataFrame, not {type(table).__name__}")
    _missing(table, COLUMNS, "comparison")
    for column in TEXT_COLUMNS:
        _text_column(table, column, "comparison", allow_empty=column == EXPECTED)
    if PIVOT in table.columns:
        _text_column(table, PIVOT, "comparison", allow_empty=True)
    for column in _FLAGS:
        if table[column].dtype != bool:
            raise InputError(
                f"the comparison table's column {column!r} must be bool, not {table[column].dtype}"
            )
    rules = [
        (ANSWER, ~table[ANSWER].isin(ANSWERS), f"one of {', '.join(ANSWERS)}"),
        (EXPECTED, table[TRAP] & ~table[EXPECTED].isin(SIDES), "'left' or 'right' on a trap row"),
        (EXPECTED, ~table[TRAP] & (table[EXPECTED] != ""), "'' on a row that is not a trap"),
    ]
    if not pd.api.types.is_float_dtype(table[RESPONSE_TIME_S]):
        raise InputError(
            f"the comparison table's column {RESPONSE_TIME_S!r} must be float seconds "
            f"(NaN when unknown), not {table[RESPONSE_TIME_S].dtype}"
        )
    rules.append((RESPONSE_TIME_S, table[RESPONSE_TIME_S] < 0, "seconds ≥ 0 (or NaN)"))
    rules.append((RIGHT, table[LEFT] == table[RIGHT], "a stimulus other than the row's left one"))
    for column, bad, wanted in rules:
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"the comparison table's column {column!r} must hold {wanted}; row {row} "
                f"holds {table[column].iloc[row]!r}"
            )
    return table


def check_stimuli(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` itself if it is a stimuli table (image, stimulus, codec, level, file; one row per
    stimulus of an image); else InputError naming the column."""
    _missing(table, STIMULUS_COLUMNS, "stimuli")
    for column in (IMAGE, STIMULUS):
        _text_column(table, column, "stimuli")
    for column in (CODEC, FILE):
        _text_column(table, column, "stimuli", allow_empty=True)
    if not pd.api.types.is_float_dtype(table[LEVEL]):
        raise InputError(
            f"the stimuli table's column 'level' must be float (NaN when unknown), not {table[LEVEL].dtype}"
        )
    twice = table.duplicated([IMAGE, STIMULUS])
    if twice.any():
        row = int(np.flatnonzero(twice.to_numpy())[0])
        raise InputError(
            f"the stimuli table lists stimulus {table[STIMULUS].iloc[row]!r} of image "
            f"{table[IMAGE].iloc[row]!r} twice (row {row}); one row per stimulus of an image"
        )
    return table


def split_not_sure(rows: pd.DataFrame, answer: str = ANSWER, rule: str = "split") -> pd.DataFrame:
    """``rows`` with a ``weight`` column: 1 for a decided answer; a not-sure answer dropped
    (``rule="drop"``) or split into half an answer for each side (``"split"``: two rows of weight
    ½ whose ``answer`` column says ``left`` and ``right``), as a tie counts in Thurstone and
    Bradley–Terry fits (Rao & Kupper 1967 give a tie half a win each way in the limit of a narrow
    tie band)."""
    if rule not in NOT_SURE_RULES:
        raise InputError(
            f"not_sure must be one of {', '.join(NOT_SURE_RULES)} (what an analysis does "
            f"with a not-sure answer), not {rule!r}"
        )
    unsure = (rows[answer] == NOT_SURE).to_numpy()
    decided = rows[~unsure].assign(weight=1.0)
    if rule == "drop" or not unsure.any():
        return decided
    halves = [rows[unsure].assign(**{answer: side, "weight": 0.5}) for side in SIDES]
    return pd.concat([decided, *halves]).sort_index(kind="stable")


def settle_not_sure(responses: pd.DataFrame, rule: str = "split") -> pd.DataFrame:
    """evalkit's own responses (:func:`evalkit.study.responses.responses`) with a ``weight``
    column and their pair trials' not-sure answers split or dropped by ``rule``
    (:func:`split_not_sure`; ``choice`` and ``chosen_codec`` then name each half's side). Sentinels
    and repeats are kept as they are: not sure on a sentinel is not its right answer."""
    pair = (responses["kind"] == "pair").to_numpy()
    settled = split_not_sure(responses[pair], "choice", rule)
    settled = settled.assign(
        chosen_codec=np.where(settled["choice"] == "left", settled["left_codec"], settled["right_codec"])
    )
    return (
        pd.concat([settled, responses[~pair].assign(weight=1.0)])
        .sort_index(kind="stable")
        .reset_index(drop=True)
    )


def judgements(table: pd.DataFrame, not_sure: str = "split") -> pd.DataFrame:
    """A comparison table as judgements: its columns plus ``winner``, ``loser`` (stimulus ids) and
    ``weight`` (½ for each half of a split not-sure answer; see :func:`split_not_sure`). Traps are
    kept: leave them out (``table[~table.trap]``) where they would bias a scale."""
    rows = split_not_sure(check_comparisons(table), ANSWER, not_sure)
    left_won = (rows[ANSWER] == "left").to_numpy()
    return rows.assign(
        winner=np.where(left_won, rows[LEFT], rows[RIGHT]), loser=np.where(left_won, rows[RIGHT], rows[LEFT])
    ).reset_index(drop=True)


def stimulus_id(codec: str, target_bpp: float | None) -> str:
    """evalkit's stimulus id: ``codec@target_bpp`` (``"jpeg@0.5"``), or the codec alone where a
    trial has no target (a sentinel's ``faithful`` and ``degraded`` copies)."""
    return codec if target_bpp is None or pd.isna(target_bpp) else f"{codec}@{float(target_bpp):g}"


def from_responses(responses: pd.DataFrame, condition: str) -> pd.DataFrame:
    """evalkit's own stored responses (:func:`evalkit.study.responses.responses`) as a comparison
    table: pair trials as they are, sentinels as traps (the faithful copy is the expected answer).
    Repeats (a consistency check of an answer already counted) and abandoned leases' answers are
    left out, as in the judgement tables. ``response_time_s`` is the page's own timing
    (``response_ms``); the reference is shown beside both, so ``pivot`` is ``reference``."""
    r = responses[responses["kind"].isin(["pair", "sentinel"])]
    if "abandoned" in r:
        r = r[~r["abandoned"].astype(bool)]
    trap = (r["kind"] == "sentinel").to_numpy()
    table = pd.DataFrame(
        {
            RATER: r["rater"].astype(str).to_numpy(),
            IMAGE: r["image"].astype(str).to_numpy(),
            LEFT: [stimulus_id(c, b) for c, b in zip(r["left_codec"], r["target_bpp"])],
            RIGHT: [stimulus_id(c, b) for c, b in zip(r["right_codec"], r["target_bpp"])],
            ANSWER: r["choice"].astype(str).to_numpy(),
            BOOSTED: np.zeros(len(r), dtype=bool),
            TRAP: trap,
            EXPECTED: np.where(trap, r["correct"].fillna("").astype(str), ""),
            RESPONSE_TIME_S: r["response_ms"].to_numpy(dtype=float) / 1000,
            CONDITION: condition,
            PIVOT: REFERENCE,
        }
    )
    return check_comparisons(table)


def stimuli_from_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """The stimuli of evalkit's own responses: per image its reference and every codec@bpp shown
    in a pair trial (``level`` = the target bpp, ``file`` = the path relative to the study's
    output folder; ``""`` where the responses carry no paths, as a simulated crowd's)."""
    pairs = responses[responses["kind"] == "pair"]
    sides = [
        pd.DataFrame(
            {
                IMAGE: pairs["image"].astype(str),
                CODEC: pairs[f"{side}_codec"],
                LEVEL: pairs["target_bpp"].astype(float),
                FILE: pairs.get(f"{side}_path", ""),
            }
        )
        for side in SIDES
    ]
    references = pd.DataFrame(
        {IMAGE: pairs["image"].astype(str), CODEC: "", LEVEL: np.nan, FILE: pairs.get("reference", "")}
    )
    table = pd.concat([references, *sides], ignore_index=True)
    table[STIMULUS] = [
        REFERENCE if c == "" else stimulus_id(c, b) for c, b in zip(table[CODEC], table[LEVEL])
    ]
    table = table.drop_duplicates([IMAGE, STIMULUS]).sort_values([IMAGE, LEVEL, CODEC], na_position="first")
    return check_stimuli(table.reset_index(drop=True)[STIMULUS_COLUMNS])
