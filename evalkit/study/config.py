"""A study defined in a file: ``studies/<name>/study.toml``.

Everything a study needs is here — the images, the codecs and target bpps, which pairs to
compare, how many judgements, what raters are told and paid — so a study can be rebuilt and
reviewed from the file alone. Unknown keys are errors (a typo must not silently change a study).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import InputError
from ..files import read_toml
from ..schema import check_keys, key
from .comparisons import NOT_SURE_RULES
from .layouts import LAYOUTS


@dataclass(frozen=True)
class StudyConfig:
    """The keys of a study.toml, each declared once (:func:`evalkit.schema.key`: its type, range,
    allowed values and an example), checked whole by :func:`config_from_dict`."""

    name: str = key(example="kodak-jpeg-vs-webp", safe_name=True)  # its out/ and database name it
    images: str = key(example="kodak")  # anything `evalkit compress --images` accepts
    codecs: list[str] = key(example=["jpeg", "webp"])
    bpp: list[float] = key(example=[0.25, 0.5, 1.0], more_than=0)
    seed: int = key(0, example=7)
    pairs: str = key("all", choices=("all", "anchor"))  # "all" codec pairs, or "anchor": each codec vs anchor
    anchor: str | None = key(None, example="jpeg")
    bpp_tolerance: float = key(
        0.05, at_least=0, less_than=1
    )  # max |bpp_A / bpp_B − 1| for a pair to be shown
    judgements_per_pair: int = key(5, at_least=1)
    trials_per_assignment: int = key(20, at_least=1)
    sentinels_per_assignment: int = key(2, at_least=0)
    repeats_per_assignment: int = key(2, at_least=0)
    allow_pair_repeats: bool = key(False, example=True)  # may an assignment show a pair twice (unlabelled)?
    assignments_per_rater: int = key(1, at_least=1)  # how many assignments one rater may take
    claims_per_client: int = key(20, at_least=1)  # leases in progress one address (IP) may hold at
    # once, whatever rater ids it sends; a lab behind one address raises it
    lease_minutes: int = key(0, example=30, at_least=0)  # an unfinished claim returns to the pool after this
    # (0: 3 × minutes, the MTurk HIT's assignment duration)
    title: str = key("Which image is closer to the original?")
    instructions: str = key(
        "The middle image is the original. Decide which of the two images beside it, left or "
        "right, looks closer to it. Move the mouse over any image to compare details in the "
        "magnified windows below.",
        example="Which of the two looks closer to the middle one?",
    )
    reward: str = key("", example="$1.50")  # shown to raters
    minutes: int = key(10, at_least=1)  # expected time, shown to raters
    completion_code: str = key(
        "", example="C1A2B3"
    )  # shown (lab) or sent (Prolific) when every answer is stored
    prolific_completion_url: str = key("", example="https://app.prolific.com/submissions/complete?cc=C1A2B3")
    layout: str = key("side-by-side", choices=LAYOUTS)  # how a trial is shown: a name in study/layouts.py
    flicker_hz: float = key(
        2.0, more_than=0, at_most=3, why="more than three flashes a second can trigger seizures (WCAG 2.3.1)"
    )  # flicker layout: original ↔ reconstruction cycles a second
    sampling: str = key("fixed", choices=("fixed", "active"))  # "active": each assignment's pairs chosen from
    # the answers so far (study/sampling.py); judgements_per_pair is unused
    stop_when: dict = key(factory=dict, example={"gap_ci_jod": 0.5, "judgements": 2000})  # active only
    not_sure: bool | str = key(
        False,
        choices=(False, *NOT_SURE_RULES),
        example="split",
        why=(
            "false (no 'not sure' button) or, with the button (key N), what the analysis does with the "
            "answer: 'split' (half a win each way) or 'drop' (left out)"
        ),
    )
    folder: Path = field(default=Path("."), compare=False)

    @property
    def lease_seconds(self) -> int:
        return (self.lease_minutes or 3 * self.minutes) * 60

    @property
    def out_dir(self) -> Path:
        return self.folder / "out"

    @property
    def database_path(self) -> Path:
        return self.out_dir / "study.sqlite"

    @property
    def trials_path(self) -> Path:
        return self.out_dir / "trials.json"

    @property
    def budget_assignments(self) -> int | None:
        """Assignments an active study's judgement budget needs, ⌈stop_when.judgements /
        trials_per_assignment⌉ (what its MTurk HIT and its simulated crowd are sized by); None
        without that budget."""
        if "judgements" not in self.stop_when:
            return None
        return -(-self.stop_when["judgements"] // self.trials_per_assignment)


def not_sure_rule(config: StudyConfig) -> str:
    """What the analysis does with a not-sure answer: the study's rule, ``split`` where the study
    offers no button (there are then no such answers)."""
    return config.not_sure or "split"


def database_url(config: StudyConfig, given: str | None = None) -> str:
    """The study's database: the URL ``given`` (``--database``, PostgreSQL…), else SQLite in its
    ``out/`` folder."""
    return given or f"sqlite:///{config.database_path}"


def load_config(path: str | Path) -> StudyConfig:
    path = Path(path)
    return config_from_dict(read_toml(path, "study file"), path.parent.resolve(), path)


def save_config(config: StudyConfig) -> Path:
    """Write ``config`` as its folder's study.toml (what :func:`load_config` reads back)."""
    import tomli_w

    keys = {
        f.name: getattr(config, f.name)
        for f in fields(StudyConfig)
        if f.name != "folder" and getattr(config, f.name) is not None
    }
    path = config.folder / "study.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(keys))
    return path


def config_from_dict(data: dict, folder: Path, where) -> StudyConfig:
    """A checked study from the keys of a study.toml (``where``: what messages name, e.g. the
    file); ``folder`` is where it lives (its ``out/`` goes there)."""
    problems = check_keys(StudyConfig, data)  # types, ranges, choices: before anything else
    if not problems:
        config = StudyConfig(**data, folder=folder)
        problems = _together_problems(config)
    if problems:
        raise InputError(f"{where}: " + "; ".join(problems))
    return config


def _together_problems(c: StudyConfig) -> list[str]:
    """What the keys must satisfy together (each alone is checked by its declaration)."""
    problems = []
    if len(set(c.codecs)) < 2:
        problems.append(f"codecs = {c.codecs!r}: at least two distinct codecs are needed")
    if not c.bpp:
        problems.append("bpp: give at least one target (e.g. bpp = [0.5])")
    if c.pairs == "anchor" and c.anchor not in c.codecs:
        problems.append("pairs = 'anchor' needs anchor = one of the codecs")
    if c.repeats_per_assignment > c.trials_per_assignment:
        problems.append("repeats_per_assignment cannot exceed trials_per_assignment")
    if c.not_sure and c.sampling == "active":
        problems.append(
            "not_sure is not offered in active studies (the sampler's posterior takes decided answers only)"
        )
    return problems + _stop_problems(c)


STOP_RULES = {"gap_ci_jod": float, "judgements": int}


def _stop_problems(c: StudyConfig) -> list[str]:
    """``sampling`` and ``stop_when``: the study is complete when every gap between neighbouring
    codecs has a 95 % interval narrower than ``gap_ci_jod`` JOD, or once ``judgements`` pair
    answers are stored (whichever comes first)."""
    if c.stop_when and c.sampling != "active":
        return ["stop_when needs sampling = 'active' (a fixed design stops when its assignments are done)"]
    problems = [
        f"stop_when: unknown rule {k!r}; known: {sorted(STOP_RULES)}"
        for k in c.stop_when
        if k not in STOP_RULES
    ]
    for rule, kind in STOP_RULES.items():
        value = c.stop_when.get(rule)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and value != int(value))
            or not value > 0
        ):
            problems.append(
                f"stop_when.{rule} must be a positive {'whole number' if kind is int else 'number'}"
            )
    if c.sampling == "active" and not c.stop_when:
        problems.append(
            "an active study needs stop_when (gap_ci_jod, judgements or both): it has no fixed end"
        )
    return problems
