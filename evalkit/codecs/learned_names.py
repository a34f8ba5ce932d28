"""The names of learned codecs beyond the zoo's entries, parsed in one place.

``<ladder>-q<N>`` is rung N of a ladder entry, ``<variable-rate>-beta<β>`` a variable-rate entry
decoding at realism β (paper 003), and ``<architecture>@<path>`` any checkpoint file of a known
architecture (:mod:`.architectures`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoints import LearnedSpec

FORMS = "<ladder>-q<N>, <variable-rate>-beta<β>, <architecture>@<checkpoint path>"


@dataclass(frozen=True)
class LearnedName:
    """A learned codec's name, parsed: the zoo entry (or checkpoint file) it names and the
    options it sets for the codec class of the entry's kind (``quality`` of a rung, ``beta``)."""

    name: str
    spec: LearnedSpec
    options: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, zoo: dict[str, LearnedSpec]) -> LearnedName | None:
        """``name`` read against the learned zoo; None when it is none of the forms."""
        if name in zoo:
            return cls(name, zoo[name])
        rung = re.fullmatch(r"(.+)-q(\d+)", name)
        if rung and rung[1] in zoo and zoo[rung[1]].kind == "ladder":
            return cls(name, zoo[rung[1]], {"quality": int(rung[2])})
        realism = re.fullmatch(r"(.+)-beta(\d+(?:\.\d+)?)", name)
        if realism and realism[1] in zoo and zoo[realism[1]].kind == "variable-rate":
            return cls(name, zoo[realism[1]], {"beta": float(realism[2])})
        if "@" in name:
            architecture, path = name.split("@", 1)
            spec = LearnedSpec(
                f"{architecture}@{Path(path).name}", architecture, source=str(path), path=Path(path)
            )
            return cls(name, spec, file_options(spec.kind))
        return None


def file_options(kind: str) -> dict:
    """The codec options of one checkpoint file of ``kind``: a ladder's file is its only rung."""
    return {"quality": 0} if kind == "ladder" else {}


def rung_name(entry: str, quality: int) -> str:
    """The name of rung ``quality`` of the ladder ``entry`` (what :meth:`LearnedName.parse` reads)."""
    return f"{entry}-q{quality}"
