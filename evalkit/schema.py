"""The keys of a file a user writes (a study file, say), declared once on its dataclass and checked
whole before anything runs.

A key is a dataclass field whose type annotation is its type (``str``, ``int``, ``float``,
``bool``, ``list[str]``, ``list[float]``, ``dict``; ``X | None`` for an optional one) and whose
:func:`key` says the rest: a range, the allowed values, whether it names a file or folder (a
*safe name*), and an example that every message about it shows. TOML's own types are kept
strict: ``"5"`` is not a number, ``2.5`` not a whole number, ``"no"`` not a boolean, and a single
value not a list. Adding a key to such a file is one field::

    not_sure: bool = key(False, example=True)   # may raters answer "not sure"?

:func:`check_keys` returns every mistake, each naming its key, what was expected and an example.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, dataclass
from typing import Any

#: A name that is safe as one file or folder name: letters, digits, ``.``, ``_``, ``-``, not
#: starting with a dot or a dash (so never ``..`` or a path).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Key:
    example: object = None
    at_least: float | None = None
    more_than: float | None = None
    at_most: float | None = None
    less_than: float | None = None
    choices: tuple[object, ...] | None = None
    safe_name: bool = False
    why: str = ""  # said after a range or choice mistake: what the limit protects


def key(
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    example: object = None,
    at_least: float | None = None,
    more_than: float | None = None,
    at_most: float | None = None,
    less_than: float | None = None,
    choices: Iterable[object] | None = None,
    safe_name: bool = False,
    why: str = "",
) -> Any:
    """A dataclass field declared as a file key (see the module docstring); ``example`` defaults
    to ``default``. Typed ``Any`` as :func:`dataclasses.field` is: it stands where the annotated
    type's default goes."""
    spec = Key(
        default if example is None else example,
        at_least,
        more_than,
        at_most,
        less_than,
        None if choices is None else tuple(choices),
        safe_name,
        why,
    )
    return dataclasses.field(default=default, default_factory=factory, metadata={"key": spec})


def _inline(v: object) -> str:
    """A value as TOML writes it (``false``, ``"split"``, inline tables and arrays)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_inline(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(map(_inline, v)) + "]"
    return repr(v)


def _toml(name: str, value: object) -> str:
    """``name = value`` as one line of TOML (inline tables and arrays)."""
    return f"{name} = {_inline(value)}"


_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", dict: "a table"}


def _kind(hint: Any) -> tuple[type | tuple[type, ...], type | None, bool]:
    """(outer type — or the alternatives of a union such as ``bool | str`` —, element type of a
    list or None, whether None is allowed) of an annotation."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = len(args) < len(typing.get_args(hint)), args[0]
        if len(args) > 1:
            return tuple(args), None, optional
    if typing.get_origin(hint) is list:
        return list, typing.get_args(hint)[0], optional
    return typing.get_origin(hint) or hint, None, optional


def _is(value: object, kind: type | tuple[type, ...]) -> bool:
    if isinstance(kind, tuple):
        return any(_is(value, k) for k in kind)
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


_LIST_NAMES = {str: "a list of strings", int: "a list of whole numbers", float: "a list of numbers"}


def _describe(kind: type | tuple[type, ...], element: type | None) -> str:
    if isinstance(kind, tuple):
        return " or ".join(_describe(k, None) for k in kind)
    if kind is list and element is not None:
        return _LIST_NAMES[element]
    return _NAMES.get(kind, kind.__name__)


def _range_text(spec: Key) -> str:
    """``at least 1``, ``more than 0``, or an interval such as ``in (0, 3]``."""
    low = [(b, c) for b, c in ((spec.at_least, "["), (spec.more_than, "(")) if b is not None]
    high = [(b, c) for b, c in ((spec.at_most, "]"), (spec.less_than, ")")) if b is not None]
    if low and high:
        return f"in {low[0][1]}{low[0][0]:g}, {high[0][0]:g}{high[0][1]}"
    words = {"[": "at least", "(": "more than", "]": "at most", ")": "less than"}
    return " ".join(f"{words[c]} {b:g}" for b, c in low + high)


def _in_range(value: float, spec: Key) -> bool:
    return (
        (spec.at_least is None or value >= spec.at_least)
        and (spec.more_than is None or value > spec.more_than)
        and (spec.at_most is None or value <= spec.at_most)
        and (spec.less_than is None or value < spec.less_than)
    )


def check_value(name: str, value: Any, hint: object, spec: Key) -> str | None:
    """The mistake in ``name = value`` for a key of type ``hint`` declared by ``spec``, or None."""
    kind, element, optional = _kind(hint)
    example = f"(e.g. {_toml(name, spec.example)})" if spec.example is not None else ""
    if value is None and optional:
        return None
    if not _is(value, kind) or (element is not None and not all(_is(v, element) for v in value)):
        return f"{name}: expected {_describe(kind, element)}, got {value!r} {example}".strip()
    if spec.safe_name and not SAFE_NAME.fullmatch(value):
        return (
            f"{name} must be a plain name (letters, digits, '.', '_', '-'; not a path), got "
            f"{value!r} {example}"
        ).strip()
    if spec.choices is not None and value not in spec.choices:
        return (
            f"{name} must be one of {', '.join(map(_inline, spec.choices))}, got {_inline(value)}"
            f"{': ' + spec.why if spec.why else ''}"
        )
    for item in value if kind is list else [value]:
        if isinstance(item, (int, float)) and not _in_range(item, spec):
            return f"{name} must be {_range_text(spec)}, got {item!r}{': ' + spec.why if spec.why else ''}"
    return None


def declared_keys(cls: type) -> dict[str, tuple[object, Key]]:
    """Key name → (type annotation, declaration) of every :func:`key` field of ``cls``."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.metadata["key"]) for f in dataclasses.fields(cls) if "key" in f.metadata
    }


def check_keys(cls: type, data: dict[str, object]) -> list[str]:
    """Every mistake in ``data`` against the keys ``cls`` declares: unknown keys, missing
    required keys (those without a default), and each value's type, range and allowed values."""
    keys = declared_keys(cls)
    problems = [f"unknown key {k!r} (known: {', '.join(keys)})" for k in data if k not in keys]
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name in keys and f.default is MISSING and f.default_factory is MISSING
    ]
    for name in required:
        if name not in data:
            _, spec = keys[name]
            problems.append(f"missing key {name!r} (e.g. {_toml(name, spec.example)})")
    for name, value in data.items():
        if name in keys:
            problem = check_value(name, value, *keys[name])
            if problem:
                problems.append(problem)
    return problems
