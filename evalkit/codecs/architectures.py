"""What each learned architecture is, said once: one :class:`Architecture` per name.

The zoo (:mod:`.checkpoints`) builds and loads networks through it, the codec wrappers
(:mod:`.learned`) read how the rate moves (``kind``), how far to pad, the coded shape and the
number of coded strings from it, the recipe check and the trainer (:mod:`evalkit.train`) read
which architectures train and how to build an untrained one, and ``evalkit codecs`` shows each
entry's.
Adding an architecture CompressAI provides is one row of :data:`ARCHITECTURES`.

CompressAI's architectures load through their ``from_state_dict``, evalkit's own (the
variable-rate and selective-detail models) through their self-describing checkpoints'
``from_checkpoint``. Nothing here imports compressai or the networks until one is built:
importing them takes seconds (torch_geometric comes with compressai).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import torch

from ..scoped import importing_compressai
from .base import CodecError


def read_state_dict(path: Path) -> dict:
    """The dict a checkpoint file holds, on the CPU; :class:`CodecError` for any other file."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise CodecError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise CodecError(f"checkpoint {path} holds a {type(loaded).__name__}, not a state dict")
    return loaded


def evalkit_checkpoint(architecture: str, path: Path) -> dict:
    """A self-describing checkpoint of one of evalkit's own architectures (``models/checkpoint.py``)."""
    checkpoint = read_state_dict(path)
    if checkpoint.get("architecture") != architecture or "config" not in checkpoint:
        raise CodecError(
            f"checkpoint {path} is not an evalkit {architecture} model (no "
            f"architecture={architecture!r} and config entries); export it with "
            "`evalkit train`"
        )
    return checkpoint


def checkpoint_config(architecture: str, path: Path) -> dict:
    """The constructor configuration an evalkit checkpoint records, read without building the
    network: building one imports compressai, which takes seconds (torch_geometric comes with it)."""
    return evalkit_checkpoint(architecture, path)["config"]


@dataclass(frozen=True)
class Architecture(ABC):
    """One learned architecture.

    ``kind`` says how its codec moves the rate, one class each in :mod:`.learned`
    (``CODEC_CLASSES``): ``ladder``, one fixed-rate network per quality; ``vbr``, CompressAI's
    continuous-gain models; ``variable-rate``, evalkit's λ/Δ-conditioned model.
    ``downsampling`` is the stride of the latent whose shape ``decompress`` takes (z's, 64, for
    every hyperprior model; y's, 16, for the factorized prior, which codes nothing else) and
    ``strings`` how many coded strings each image has (y and z; y alone for the factorized prior).
    Images are padded to a multiple of ``padding``, 64 for every architecture, as CompressAI's
    ``compressai.utils.eval_model`` pads them. ``trainable``: ``evalkit train`` builds it from a
    recipe; ``main_decoder``: it has a second, main decoder that ``main:`` loss terms score.
    """

    name: str
    kind: str = "ladder"
    downsampling: int = 64
    strings: int = 2
    padding: int = 64
    trainable: bool = False
    main_decoder: bool = False

    @property
    def conditioned(self) -> bool:
        """Whether the network takes λ (and β) as inputs: the variable-rate kind."""
        return self.kind == "variable-rate"

    def coded_shape(self, height: int, width: int) -> tuple[int, int]:
        """The ``shape`` argument of ``decompress`` for an image of ``height`` × ``width``."""

        def side(n: int) -> int:
            return -(-n // self.padding) * self.padding // self.downsampling

        return side(height), side(width)

    @abstractmethod
    def random(self, quality: int):
        """The network with random weights (tests and benchmarks), in eval mode on the CPU."""

    @abstractmethod
    def load(self, path: Path):
        """The network in the checkpoint file at ``path``, in eval mode on the CPU."""

    @abstractmethod
    def untrained(self, N: int, M: int, lambda_range=None, beta_range=None):
        """The network a recipe trains (channel counts N, M; λ and β ranges of a variable-rate
        model)."""

    def export(self, model) -> dict:
        """What ``torch.save`` writes for ``model`` so that :meth:`load` reads it back."""
        return {"architecture": self.name, "state_dict": model.state_dict()}

    def config(self, model) -> dict | None:
        """The constructor configuration a network records (None: inferred from its weights)."""
        return None


@dataclass(frozen=True)
class CompressAIArchitecture(Architecture):
    """An architecture of CompressAI's zoo (``compressai.zoo.image`` or, for kind ``vbr``,
    ``compressai.zoo.image_vbr``), loaded with its ``from_state_dict``. ``variable_bottleneck``:
    the hyperprior ``-vbr`` models use the variable-rate bottleneck (``vr_entbttlnck``)."""

    variable_bottleneck: bool = False

    def _zoo(self):
        with importing_compressai():
            return import_module("compressai.zoo.image_vbr" if self.kind == "vbr" else "compressai.zoo.image")

    def _options(self) -> dict:
        return {"vr_entbttlnck": True} if self.variable_bottleneck else {}

    def random(self, quality):
        zoo = self._zoo()
        config = zoo.cfgs[self.name] if self.kind == "vbr" else zoo.cfgs[self.name][max(quality, 1)]
        return zoo.model_architectures[self.name](*config, **self._options()).eval()

    def load(self, path):
        with importing_compressai():
            from compressai.zoo.pretrained import load_pretrained

        state = read_state_dict(path)
        state = load_pretrained(state.get("state_dict", state))
        try:
            return self._zoo().model_architectures[self.name].from_state_dict(state, **self._options()).eval()
        except (RuntimeError, KeyError) as exc:
            raise CodecError(f"checkpoint {path} does not fit architecture {self.name}: {exc}") from exc

    def untrained(self, N, M, lambda_range=None, beta_range=None):
        return self._zoo().model_architectures[self.name](N, M)


@dataclass(frozen=True)
class EvalkitArchitecture(Architecture):
    """One of evalkit's own networks (``network``: ``module:Class`` under :mod:`evalkit.models`),
    stored as a self-describing checkpoint (:mod:`evalkit.models.checkpoint`)."""

    network: str = ""

    def _class(self):
        module, name = self.network.split(":")
        return getattr(import_module(module), name)

    def random(self, quality):
        return self._class()().eval()

    def load(self, path):
        checkpoint = evalkit_checkpoint(self.name, path)
        try:
            return self._class().from_checkpoint(checkpoint).eval()
        except (RuntimeError, KeyError, TypeError) as exc:
            raise CodecError(f"checkpoint {path} does not fit architecture {self.name}: {exc}") from exc

    def untrained(self, N, M, lambda_range=None, beta_range=None):
        if self.conditioned:
            return self._class()(N, M, lambda_range=lambda_range, beta_range=beta_range)
        return self._class()(N, M)

    def export(self, model):
        return model.checkpoint()

    def config(self, model):
        return model.config


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        CompressAIArchitecture("bmshj2018-factorized", downsampling=16, strings=1),
        CompressAIArchitecture("bmshj2018_factorized_relu", downsampling=16, strings=1),
        CompressAIArchitecture("bmshj2018-hyperprior", trainable=True),
        CompressAIArchitecture("mbt2018-mean", trainable=True),
        CompressAIArchitecture("mbt2018", trainable=True),
        CompressAIArchitecture("cheng2020-anchor"),
        CompressAIArchitecture("cheng2020-attn"),
        CompressAIArchitecture("bmshj2018-hyperprior-vbr", "vbr", variable_bottleneck=True),
        CompressAIArchitecture("mbt2018-mean-vbr", "vbr", variable_bottleneck=True),
        CompressAIArchitecture("mbt2018-vbr", "vbr"),
        EvalkitArchitecture(
            "variable-rate",
            "variable-rate",
            trainable=True,
            network="evalkit.models.variable_rate:VariableRateHyperprior",
        ),
        EvalkitArchitecture(
            "selective-detail",
            trainable=True,
            main_decoder=True,
            network="evalkit.models.selective_detail:SelectiveDetailHyperprior",
        ),
    )
}

TRAINABLE = tuple(name for name, a in ARCHITECTURES.items() if a.trainable)


def architecture(name: str) -> Architecture:
    """The architecture called ``name``; :class:`CodecError` naming the known ones otherwise."""
    if name not in ARCHITECTURES:
        raise CodecError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]
