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
from .comparisons import NOT_SURE_RULES
from .layouts import LAYOUTS


@dataclass(frozen=True)
class StudyConfig:
    name: str
    images: str                          # anything `evalkit compress --images` accepts
    codecs: list[str]
    bpp: list[float]
    seed: int = 0
    pairs: str = "all"                   # "all" codec pairs, or "anchor": each codec vs anchor
    anchor: str | None = None
    bpp_tolerance: float = 0.05          # max |bpp_A / bpp_B − 1| for a pair to be shown
    judgements_per_pair: int = 5
    trials_per_assignment: int = 20
    sentinels_per_assignment: int = 2
    repeats_per_assignment: int = 2
    allow_pair_repeats: bool = False     # may an assignment show a pair twice (unlabelled)?
    assignments_per_rater: int = 1       # how many assignments one rater may take
    lease_minutes: int = 0               # an unfinished claim returns to the pool after this
                                         # (0: 3 × minutes, the MTurk HIT's assignment duration)
    title: str = "Which image is closer to the original?"
    instructions: str = ("The middle image is the original. Decide which of the two images beside "
                         "it, left or right, looks closer to it. Move the mouse over any image to "
                         "compare details in the magnified windows below.")
    reward: str = ""                     # shown to raters, e.g. "$1.50"
    minutes: int = 10                    # expected time, shown to raters
    completion_code: str = ""            # shown (lab) or sent (Prolific) when every answer is stored
    prolific_completion_url: str = ""    # e.g. https://app.prolific.com/submissions/complete?cc=CODE
    layout: str = "side-by-side"         # how a trial is shown: a name in study/layouts.py
    flicker_hz: float = 2.0              # flicker layout: original ↔ reconstruction cycles a second
    sampling: str = "fixed"              # or "active": each assignment's pairs chosen from the answers
                                         # so far (study/sampling.py); judgements_per_pair is unused
    stop_when: dict = field(default_factory=dict)   # active only: {gap_ci_jod = W, judgements = N}
    not_sure: bool | str = False         # a "not sure" button (key N): false (none), or what the
                                         # analysis does with the answer: "split" (half a win
                                         # each way) or "drop" (left out)
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

    keys = {f.name: getattr(config, f.name) for f in fields(StudyConfig)
            if f.name != "folder" and getattr(config, f.name) is not None}
    path = config.folder / "study.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(keys))
    return path


def config_from_dict(data: dict, folder: Path, where) -> StudyConfig:
    """A checked study from the keys of a study.toml (``where``: what messages name, e.g. the
    file); ``folder`` is where it lives (its ``out/`` goes there)."""
    known = {f.name for f in fields(StudyConfig)} - {"folder"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = [k for k in ("name", "images", "codecs", "bpp") if k not in data]
    if missing:
        raise InputError(f"{where}: missing {missing}")
    config = StudyConfig(**data, folder=folder)
    _check(config, where)
    return config


def _check(c: StudyConfig, path) -> None:
    problems = []
    if len(set(c.codecs)) < 2:
        problems.append("at least two distinct codecs are needed")
    if not c.bpp or any(not (b > 0) for b in c.bpp):
        problems.append("bpp targets must be positive")
    if c.layout not in LAYOUTS:
        problems.append(f"layout must be one of {', '.join(map(repr, LAYOUTS))}")
    if not 0 < c.flicker_hz <= 3:
        problems.append("flicker_hz must be in (0, 3]: more than three flashes a second can "
                        "trigger seizures (WCAG 2.3.1)")
    if c.pairs not in ("all", "anchor"):
        problems.append("pairs must be 'all' or 'anchor'")
    if c.pairs == "anchor" and c.anchor not in c.codecs:
        problems.append("pairs = 'anchor' needs anchor = one of the codecs")
    for name in ("judgements_per_pair", "trials_per_assignment", "assignments_per_rater", "minutes"):
        if getattr(c, name) < 1:
            problems.append(f"{name} must be at least 1")
    for name in ("sentinels_per_assignment", "repeats_per_assignment", "lease_minutes"):
        if getattr(c, name) < 0:
            problems.append(f"{name} cannot be negative")
    if c.repeats_per_assignment > c.trials_per_assignment:
        problems.append("repeats_per_assignment cannot exceed trials_per_assignment")
    problems += _stop_problems(c)
    if c.not_sure is not False and c.not_sure not in NOT_SURE_RULES:
        problems.append("not_sure must be false (no 'not sure' button) or, with the button, what the "
                        "analysis does with the answer: 'split' (half a win each way) or 'drop'")
    elif c.not_sure and c.sampling == "active":
        problems.append("not_sure is not offered in active studies (the sampler's posterior takes "
                        "decided answers only)")
    if not 0 <= c.bpp_tolerance < 1:
        problems.append("bpp_tolerance must be in [0, 1)")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))


STOP_RULES = {"gap_ci_jod": float, "judgements": int}


def _stop_problems(c: StudyConfig) -> list[str]:
    """``sampling`` and ``stop_when``: the study is complete when every gap between neighbouring
    codecs has a 95 % interval narrower than ``gap_ci_jod`` JOD, or once ``judgements`` pair
    answers are stored (whichever comes first)."""
    if c.sampling not in ("fixed", "active"):
        return ["sampling must be 'fixed' or 'active'"]
    if not isinstance(c.stop_when, dict):
        return ["stop_when must be a table, e.g. stop_when = { gap_ci_jod = 0.5, judgements = 2000 }"]
    if c.stop_when and c.sampling != "active":
        return ["stop_when needs sampling = 'active' (a fixed design stops when its assignments are done)"]
    problems = [f"stop_when: unknown rule {k!r}; known: {sorted(STOP_RULES)}" for k in c.stop_when if k not in STOP_RULES]
    for key, kind in STOP_RULES.items():
        value = c.stop_when.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or (kind is int and value != int(value)) or not value > 0):
            problems.append(f"stop_when.{key} must be a positive {'whole number' if kind is int else 'number'}")
    if c.sampling == "active" and not c.stop_when:
        problems.append("an active study needs stop_when (gap_ci_jod, judgements or both): it has no fixed end")
    return problems
