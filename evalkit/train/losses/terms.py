"""A recipe's loss term, ``[main:][roi:]NAME``, parsed once for the recipe check and the losses.

``NAME`` is ``mse``, a metric the registry marks ``trainable``, or ``combined:PATH``, a
combination fitted with ``evalkit fit``; ``roi:`` weights the term by the masks given with the
data, ``main:`` scores selective-detail's main decoder output x̂_m (paper 002 eq. 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...fit import COMBINED_PREFIX as COMBINED


def combined_model(name: str) -> Path | None:
    """The model file a distortion ``combined:PATH`` names; None for any other distortion."""
    return Path(name.removeprefix(COMBINED)) if name.startswith(COMBINED) else None


@dataclass(frozen=True)
class LossTerm:
    distortion: str  # mse, a trainable metric's name, or combined:PATH
    main: bool = False  # on the main decoder's output x̂_m
    masked: bool = False  # weighted by the masks (roi:)

    @classmethod
    def parse(cls, text: str) -> LossTerm:
        """The parts of ``[main:][roi:]NAME`` (the name is checked by whoever uses it)."""
        rest = text.removeprefix("main:")
        return cls(rest.removeprefix("roi:"), main=rest != text, masked=rest.startswith("roi:"))

    @property
    def model(self) -> Path | None:
        """The fitted combination the term names (``combined:PATH``), else None."""
        return combined_model(self.distortion)
