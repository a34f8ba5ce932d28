"""Where evalkit keeps things on disk, and how it writes them without ever leaving half a file."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import InputError


def cache_dir() -> Path:
    """``$EVALKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/evalkit``, else ``~/.cache/evalkit``."""
    if os.environ.get("EVALKIT_CACHE_DIR"):
        return Path(os.environ["EVALKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "evalkit"


def image_hash(pixels: np.ndarray) -> str:
    """Content hash of an image: its shape and pixel bytes (file format and metadata ignored)."""
    digest = hashlib.sha256(repr((pixels.shape, str(pixels.dtype))).encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()[:24]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj) -> None:
    write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def read_toml(path: str | Path, what: str) -> dict:
    """The table in a TOML file; an :class:`~evalkit.errors.InputError` saying which ``what``
    (study file, recipe, zoo file) is missing or malformed."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give the {what} itself (a .toml file)") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: {what} is not UTF-8 text (TOML files are UTF-8; byte "
            f"{exc.start} is {exc.object[exc.start : exc.start + 1]!r})"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {what} is not valid TOML: {exc}") from None


def read_csv_table(path: str | Path, what: str = "table", written_by_evalkit: bool = False):
    """A CSV table as a DataFrame, numbers parsed exactly as written (``round_trip``) and empty
    cells kept as ""; an :class:`~evalkit.errors.InputError` naming ``path`` for a missing
    file, a folder, an empty or unparsable file, a row with more or fewer fields than the header
    (a file cut mid-row), or text that is not UTF-8. A table ``written_by_evalkit`` must also end
    with a line break, as pandas writes it: one cut inside its last cell does not."""
    import warnings

    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the {what} itself (a .csv file)")
    if not path.is_file():
        raise InputError(f"{path}: no such {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path, keep_default_na=False, float_precision="round_trip", index_col=False, encoding="utf-8"
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the {what} is empty (not even a header row)") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, ValueError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: the {what} is not a readable CSV table ({cause})") from None
    short = table.isna().any(axis=1).to_numpy()  # with keep_default_na=False only a missing field is NaN
    if short.any():
        raise InputError(
            f"{path}: line {int(np.argmax(short)) + 2} of the {what} has fewer fields "
            "than its header (a file cut short?)"
        )
    if written_by_evalkit and not path.read_bytes().endswith(b"\n"):
        raise InputError(f"{path}: the {what} does not end with a line break: it was cut short")
    return table


def check_columns(table, path: str | Path, what: str, text: list[str] = (), numbers: list[str] = ()) -> None:
    """Refuse a table lacking a column of ``text`` or ``numbers``, or with a row whose cell in one
    of them is empty or (in ``numbers``) not a finite number: a file cut mid-row, say. The
    message names the file, its line and the column."""
    import pandas as pd

    missing = [c for c in [*text, *numbers] if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: the {what} lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, table.columns)) or 'none'}"
        )
    for column in [*text, *numbers]:
        values = table[column]
        if column in numbers:
            parsed = pd.to_numeric(values.replace("", None), errors="coerce").astype(float)
            bad = ~np.isfinite(parsed.to_numpy())
        else:
            bad = (values.isna() | (values.astype(str) == "")).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(
                f"{path}: line {row + 2} of the {what} has "
                f"{'no value' if values.iloc[row] in ('', None) else repr(values.iloc[row])} "
                f"in column {column} (a file cut short, or edited?)"
            )
