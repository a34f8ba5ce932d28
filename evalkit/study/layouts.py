"""How the task page shows a trial: each layout (study protocol) declared once.

A :class:`Layout` names the script that runs it on the task page (in ``webapp/static/``, loaded
after ``task.js``), whether A and B stand beside the original or share one place beside it, the
study settings its script reads, and the :class:`Measure`\\ s its page sends with every answer.
Each measure is stored in the ``Response`` column of the same name (``study/database.py``),
checked against its range by the web app and exported with the responses
(``study/responses.py``); other layouts store None.

>>> LAYOUTS["flip"].measures[0]
Measure(name='flips', low=0, high=100000, integer=True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Measure:
    """A number a layout's page reports with each answer, the range it must lie in, and what a
    simulated rater who looked for ``response_ms`` reports (given the layout's settings)."""

    name: str
    low: float
    high: float
    integer: bool = False
    simulated: Callable[[float, dict], float] = field(kw_only=True, repr=False, compare=False)


@dataclass(frozen=True)
class Layout:
    name: str
    summary: str  # what the rater sees, for docs and error messages
    script: str | None = None  # the layout's own script in webapp/static/
    shared_place: bool = False  # A and B take turns in one place beside the original
    measures: tuple[Measure, ...] = ()
    settings: tuple[str, ...] = ()  # StudyConfig keys its script reads (as LAYOUT_SETTINGS)

    def settings_of(self, config) -> dict:
        """The values of :attr:`settings` in a study's configuration."""
        return {key: getattr(config, key) for key in self.settings}

    def simulated_measures(self, config, response_ms: float) -> dict:
        """The measures a simulated rater sends with an answer that took ``response_ms``."""
        settings = self.settings_of(config)
        return {m.name: m.simulated(response_ms, settings) for m in self.measures}


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("side-by-side", "A left, B right, the original between them (Patel et al.'s MTurk page)"),
        Layout(
            "flip",
            "A and B share one place beside the original, toggled by Space (CLIC)",
            script="flip.js",
            shared_place=True,
            measures=(
                Measure(
                    "flips",
                    0,
                    100000,
                    integer=True,  # how often the rater toggled
                    simulated=lambda ms, settings: 1,
                ),
                Measure(
                    "left_view_ms",
                    0,
                    1e8,  # how long each side was shown
                    simulated=lambda ms, settings: ms / 2,
                ),
                Measure("right_view_ms", 0, 1e8, simulated=lambda ms, settings: ms / 2),
            ),
        ),
        Layout(
            "flicker",
            "A and B beside the original, each alternating in place with it "
            "(flicker boosting, Men et al. 2021)",
            script="flicker.js",
            settings=("flicker_hz",),
            measures=(
                Measure(
                    "flicker_cycles",
                    0,
                    1e7,
                    integer=True,  # whole cycles shown
                    simulated=lambda ms, settings: int(ms / 1000 * settings["flicker_hz"]),
                ),
            ),
        ),
    )
}

#: Every layout's measures, in declaration order: the layout columns of the responses export.
MEASURES: tuple[Measure, ...] = tuple(m for layout in LAYOUTS.values() for m in layout.measures)
