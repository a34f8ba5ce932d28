"""How the task page shows a trial: each layout (study protocol) declared once.

A :class:`Layout` names the script that runs it on the task page (in ``webapp/static/``, loaded
after ``task.js``), whether A and B stand beside the original or share one place beside it, the
study settings its script reads, and the :class:`Measure`\\ s its page sends with every answer.
Each measure is stored in the ``Response`` column of the same name (``study/database.py``),
checked against its range by the web app and exported with the responses
(``study/analysis.py``); other layouts store None.

>>> LAYOUTS["flip"].measures[0]
Measure(name='flips', low=0, high=100000, integer=True)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """A number a layout's page reports with each answer, and the range it must lie in."""
    name: str
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Layout:
    name: str
    summary: str                       # what the rater sees, for docs and error messages
    script: str | None = None          # the layout's own script in webapp/static/
    shared_place: bool = False         # A and B take turns in one place beside the original
    measures: tuple[Measure, ...] = ()
    settings: tuple[str, ...] = ()     # StudyConfig keys its script reads (as LAYOUT_SETTINGS)


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("side-by-side", "A left, B right, the original between them (Patel et al.'s MTurk page)"),
    Layout("flip", "A and B share one place beside the original, toggled by Space (CLIC)",
           script="flip.js", shared_place=True,
           measures=(Measure("flips", 0, 100000, integer=True),     # how often the rater toggled
                     Measure("left_view_ms", 0, 1e8),               # how long each side was shown
                     Measure("right_view_ms", 0, 1e8))),
    Layout("flicker", "A and B beside the original, each alternating in place with it "
           "(flicker boosting, Men et al. 2021)", script="flicker.js", settings=("flicker_hz",),
           measures=(Measure("flicker_cycles", 0, 1e7, integer=True),)),   # whole cycles shown
)}

#: Every layout's measures, in declaration order: the layout columns of the responses export.
MEASURES: tuple[Measure, ...] = tuple(m for layout in LAYOUTS.values() for m in layout.measures)
