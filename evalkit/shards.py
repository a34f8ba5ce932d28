"""Shards for job arrays without a scheduler: ``--shard K/N`` takes every N-th work unit.

Slurm's ``--array=1-N`` (``$SLURM_ARRAY_TASK_ID``) or a shell loop runs the same command N times
with K = 1 … N; each run takes the units at positions K−1, K−1+N, … of the command's list of
work units (round robin, so every shard gets a mix of images and codecs), and writes a shard
record (:func:`write_record`) beside its output. ``evalkit merge`` (:mod:`evalkit.merge`) joins
the N outputs and refuses a set of shards that is incomplete, repeated or from different
commands (the record's ``plan`` is a hash of the whole unit list).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import InputError
from .files import text_hash, write_json

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 1
    count: int  # N

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` with 1 ≤ K ≤ N; anything else is an :class:`InputError`."""
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not found:
            raise InputError(f"--shard must be K/N (e.g. 2/8: the second of eight), got {text!r}")
        index, count = int(found.group(1)), int(found.group(2))
        if not 1 <= index <= count:
            raise InputError(f"--shard {text}: K must be between 1 and N")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def label(self) -> str:
        """For file names: ``shard-2-of-8``."""
        return f"shard-{self.index}-of-{self.count}"

    def take(self, units: Sequence[T]) -> list[T]:
        """This shard's units: positions K−1, K−1+N, K−1+2N, …"""
        return list(units[self.index - 1 :: self.count])


def plan_hash(description) -> str:
    """A hash of a command's whole list of work units (any JSON-able description)."""
    return text_hash(json.dumps(description, sort_keys=True, default=str))


def write_record(path: Path, command: str, shard: Shard, plan: str, rows: list[list], **extra) -> None:
    """The shard record ``merge`` reads: which command, which shard of how many, of which plan,
    and the key of every row this shard's output must hold (``merge`` refuses a shard whose
    table lacks one: a run that failed or a file cut short)."""
    write_json(
        path,
        {"command": command, "shard": shard.index, "of": shard.count, "plan": plan, "rows": rows, **extra},
    )


def read_record(path: Path) -> dict | None:
    """The shard record at ``path`` (None where there is none), checked: an
    :class:`~evalkit.errors.InputError` naming the file for one that is not JSON, lacks a key, or
    comes from an evalkit that did not record its rows."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable shard record ({exc}); run that shard again") from None
    fields = {"command": str, "shard": int, "of": int, "plan": str, "rows": list}
    wrong = [
        k
        for k, kind in fields.items()
        if not isinstance(record, dict)
        or not isinstance(record.get(k), kind)
        or isinstance(record.get(k), bool)
    ]
    if wrong:
        raise InputError(
            f"{path}: a damaged shard record (no valid {', '.join(wrong)}), or one "
            "written by an older evalkit; run that shard again"
        )
    if not 1 <= record["shard"] <= record["of"]:
        raise InputError(f"{path}: a damaged shard record (shard {record['shard']} of {record['of']})")
    return record
