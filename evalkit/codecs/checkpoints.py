"""The learned-codec zoo (the top-level ``codecs/`` folder) and the networks behind it.

Each ``codecs/<name>.toml`` describes one named learned codec: its architecture, training loss,
qualities or λ range, the checkpoint(s) with their source URL and SHA-256, and the recipe that
produced them. This module reads those files, finds checkpoints (``--weights-dir`` /
``$EVALKIT_WEIGHTS_DIR``, then the torch hub cache, then a download through torch hub — the way
CompressAI's own zoo loads them), checks their hashes, and builds the networks through their
architecture's descriptor (:mod:`.architectures`).
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch

from ..errors import InputError
from ..files import read_toml
from ..schema import check_keys, key
from ..weights import fetch, hub_checkpoints, local_file, weights_dir
from .architectures import Architecture, architecture
from .base import CodecError

#: The zoo evalkit ships: ``evalkit/zoo``, a link to the checkout's top-level ``codecs/`` folder,
#: installed with the package as package data.
SHIPPED_ZOO = Path(__file__).resolve().parents[1] / "zoo"


#: Folders put before the zoo in use by :func:`zoo_with` blocks in this process, innermost first.
_ADDED: list[Path] = []


def zoo_dirs() -> list[Path]:
    """The folders of the learned zoo, the first one with a name winning: those a
    :func:`zoo_with` block added, then ``$EVALKIT_ZOO_DIR`` (several separated by
    ``os.pathsep``, as in ``PATH``), else the zoo evalkit ships (the checkout's ``codecs/``
    folder)."""
    given = os.environ.get("EVALKIT_ZOO_DIR")
    return [*_ADDED, *([Path(p) for p in given.split(os.pathsep) if p] if given else [SHIPPED_ZOO])]


def added_zoo_folders() -> tuple[str, ...]:
    """The folders :func:`zoo_with` blocks added here, for work that runs in another process
    (``compress.Job.zoo``: a spawned worker enters the same block)."""
    return tuple(map(str, _ADDED))


@contextmanager
def zoo_with(*folders):
    """The learned zoo with the entries of ``folders`` before those in use, for a ``with`` block
    (e.g. the loop's freshly trained codecs beside the shipped ones). The environment is left
    alone: the folders are this process's, and a job for another process carries them
    (:func:`added_zoo_folders`)."""
    _ADDED[:0] = [Path(f) for f in folders]
    learned_zoo.cache_clear()
    try:
        yield
    finally:
        del _ADDED[: len(folders)]
        learned_zoo.cache_clear()


@dataclass(frozen=True)
class CheckpointSource:
    """A ``[checkpoint]`` (or ``[checkpoints.N]``) table of a zoo file; each key declared once."""

    file: str = key(example="bmshj2018-hyperprior-mse-3.pth")  # the file name looked for locally
    url: str = key("", example="https://example.org/model.pth")  # where it is published ("" when it is not)
    sha256: str = key(
        "", example="0123abcd"
    )  # the full digest, or its first hex digits when only those are published

    def verify(self, path: Path) -> str:
        """The file's SHA-256, after checking it against the recorded one."""
        digest = file_sha256(path)
        if self.sha256 and not digest.startswith(self.sha256.lower()):
            raise CodecError(
                f"checkpoint {path} has SHA-256 {digest}, but {self.sha256} is "
                f"recorded for it: the file is damaged or a different model; "
                f"remove it and fetch it again from {self.url or 'its source'}"
            )
        return digest


@dataclass(frozen=True)
class ZooFile:
    """The top-level keys of a zoo file (``codecs/<name>.toml``), each declared once and checked
    whole (:mod:`evalkit.schema`) before anything reads them; ``[train]`` is the recipe, checked by
    :mod:`evalkit.train.recipe`, ``[trained]`` what :meth:`Trainer.export` records."""

    architecture: str = key(example="bmshj2018-hyperprior")
    loss: str = key("mse")
    qualities: list[int] = key(factory=list, example=[1, 2, 3], at_least=0)
    lambdas: list[float] = key(factory=list, example=[0.0018, 0.0932], more_than=0)
    checkpoint: dict = key(factory=dict, example={"file": "model.pth", "url": "", "sha256": ""})
    checkpoints: dict = key(factory=dict, example={"1": {"file": "model-q1.pth", "url": "", "sha256": ""}})
    source: str = key("", example="CompressAI's model zoo")
    recipe: str = key("", example="evalkit train --recipe codecs/NAME.toml --data DIR --out runs/NAME")
    kind: str = key("", example="ladder")  # older files state it; the architecture decides
    train: dict = key(factory=dict, example={"steps": 1000})
    trained: dict = key(factory=dict, example={"steps": 1000})

    @classmethod
    def problems(cls, data: dict) -> list[str]:
        """Every mistake in a zoo file's table: its keys, then each checkpoint table's."""
        problems = check_keys(cls, data)
        if problems:
            return problems
        if "checkpoints" in data:
            entries = {f"checkpoints.{q}": entry for q, entry in data["checkpoints"].items()}
            problems += [
                f"[checkpoints.{q}]: a quality is a whole number"
                for q in data["checkpoints"]
                if not q.isdigit()
            ]
        elif "checkpoint" in data:
            entries = {"checkpoint": data["checkpoint"]}
        else:
            return ["no [checkpoint] table (or [checkpoints.N] tables) says which file holds the model"]
        for where, entry in entries.items():
            problems += (
                [f"[{where}]: expected a table"]
                if not isinstance(entry, dict)
                else [f"[{where}] {p}" for p in check_keys(CheckpointSource, entry)]
            )
        return problems


@dataclass(frozen=True)
class LearnedSpec:
    """One file of the zoo (or a checkpoint given by path)."""

    name: str
    architecture: str
    loss: str = "mse"
    qualities: tuple[int, ...] = ()
    lambdas: tuple[float, ...] = ()
    checkpoints: dict = field(default_factory=dict)  # quality (0: the only model) → CheckpointSource
    source: str = ""
    recipe: str = ""
    path: Path | None = None  # a checkpoint file given directly

    def __post_init__(self):
        architecture(self.architecture)  # an unknown name fails here, with the known ones

    @property
    def arch(self) -> Architecture:
        return architecture(self.architecture)

    @property
    def kind(self) -> str:
        return self.arch.kind

    @classmethod
    def from_toml(cls, path: Path) -> LearnedSpec:
        data = read_toml(path, "learned-codec zoo file")
        problems = ZooFile.problems(data)
        if problems:
            raise InputError(f"{path}: " + "; ".join(problems))
        try:
            kind = architecture(data.get("architecture", "")).kind
        except CodecError as exc:
            raise InputError(f"{path}: {exc}") from exc
        if data.get("kind", kind) != kind:  # older files state it; the architecture decides
            raise InputError(
                f"{path}: architecture {data['architecture']!r} is of kind {kind!r}, "
                f"not {data['kind']!r}; remove the kind line"
            )

        def source(entry: dict) -> CheckpointSource:  # a file beside the zoo file is found there
            beside = path.parent / entry["file"]
            return CheckpointSource(**{**entry, "file": str(beside.resolve())} if beside.is_file() else entry)

        if "checkpoints" in data:
            checkpoints = {int(q): source(c) for q, c in data["checkpoints"].items()}
        else:
            checkpoints = {0: source(data["checkpoint"])}
        return cls(
            path.stem,
            data["architecture"],
            data.get("loss", "mse"),
            tuple(data.get("qualities", ())),
            tuple(data.get("lambdas", ())),
            checkpoints,
            data.get("source", ""),
            data.get("recipe", ""),
        )


@cache
def learned_zoo() -> dict[str, LearnedSpec]:
    specs = {}
    for folder in reversed(zoo_dirs()):
        specs.update({p.stem: LearnedSpec.from_toml(p) for p in sorted(folder.glob("*.toml"))})
    return specs


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per version of it (path, size, modification time)."""
    stat = Path(path).stat()
    return _sha256(Path(path), stat.st_size, stat.st_mtime_ns)


@cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_checkpoints(spec: LearnedSpec, override=None) -> list[CheckpointSource]:
    """The checkpoints of ``spec`` that are neither in the weights folder nor the hub cache."""
    if spec.path is not None:
        return []
    return [c for c in spec.checkpoints.values() if local_file([c.file], override) is None]


def checkpoint_path(spec: LearnedSpec, quality: int, override=None) -> Path:
    """The local file of ``spec``'s checkpoint at ``quality``, downloading it if need be."""
    if spec.path is not None:
        if not spec.path.is_file():
            raise CodecError(f"checkpoint {spec.path} does not exist")
        return spec.path
    source = spec.checkpoints[quality]
    found = local_file([source.file], override)
    if found:
        return found
    if not source.url:
        where = weights_dir(override) or "$EVALKIT_WEIGHTS_DIR"
        raise CodecError(
            f"{spec.name} needs the checkpoint {source.file}, which is not in {where} "
            f"or {hub_checkpoints()} and has no public URL; {spec.recipe or ''} "
            f"Put the file there or give a checkpoint by path as "
            f"{spec.architecture}@PATH."
        )
    try:
        return fetch(source.url, f"learned codec {spec.name}", "", override, check_hash=True)
    except InputError as exc:
        raise CodecError(str(exc)) from exc


def build_network(spec: LearnedSpec, quality: int, path: Path | None) -> torch.nn.Module:
    """The network of ``spec`` at ``quality`` from the checkpoint at ``path`` (None: random
    weights, for tests and benchmarks), in eval mode on the CPU, not yet ``update()``-d."""
    return spec.arch.random(quality) if path is None else spec.arch.load(path)
