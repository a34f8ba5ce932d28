"""Learned codecs behind the :class:`~evalkit.codecs.base.Codec` interface.

A learned codec is a network from the zoo (``codecs/*.toml``, see :mod:`.checkpoints`) plus the
rate parameters that pick its operating point; what the network is (its padding, coded shape and
strings) says its :class:`~.architectures.Architecture`. Encoding pads the image to the
architecture's multiple (replicating the border), runs the network's own ``compress`` (CompressAI's entropy
models and range coder, untouched), and wraps the strings in the self-describing file of
:mod:`.container`; decoding reads only those bytes, runs ``decompress`` and crops back.

Three ways to move the rate, one class each:

- :class:`LadderCodec` — CompressAI's fixed-rate models, one network per quality 1–8 (1–6 for
  cheng2020); the axis is the integer quality, so rate matching lands on a ladder and flags
  ``coarse-axis`` between rungs. ``<name>-q<N>`` is the single rung N.
- :class:`VbrCodec` — CompressAI's ``-vbr`` models: one network, continuous quality 1–8 mapped
  to its gain (inverse quantisation step) by interpolating the model's eight trained gains in
  log space, so matching is continuous.
- :class:`VariableRateCodec` — :mod:`evalkit.models.variable_rate`: the axis is λ inside the
  trained range, continued by the bin size Δ beyond it (see :meth:`VariableRateCodec.rate`).

Networks are loaded once per process and device, and ``update()`` is called once per loaded
network (the ``-vbr`` hyperprior bottleneck is rebuilt when the gain changes, as CompressAI
requires). Images of equal size are coded together by :meth:`LearnedCodec.encode_batch` and
:meth:`LearnedCodec.decode_batch`, which is what makes a GPU pay off. Entropy coding is
bit-exact between runs on one kind of device; a file encoded on a GPU and decoded on a CPU (or
the reverse) is not guaranteed to decode, because the entropy parameters come out of
floating-point networks.
"""

from __future__ import annotations

import hashlib
import math
from abc import abstractmethod
from dataclasses import replace
from functools import cached_property
from importlib import metadata

import numpy as np
import torch
import torch.nn.functional as F

from . import container
from .architectures import checkpoint_config
from .base import Axis, Codec, CodecError, check_rgb8
from .checkpoints import LearnedSpec, build_network, checkpoint_path, file_sha256, missing_checkpoints

MAX_SIDE = 1 << 16
_NETWORKS: dict[tuple, Network] = {}  # per process: (spec, quality, path, device) → Network


def resolve_device(device: str | None) -> str:
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CodecError(f"device {device!r} asked for, but torch sees no CUDA device here; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise CodecError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def estimated_bits(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N,) bits each image's latents cost by their likelihoods, Σ −log₂ p over every latent
    (Ballé et al., "Variational image compression with a scale hyperprior", ICLR 2018): the
    estimate of a real bitstream's payload, and the rate term of the training losses. Clamped at
    1e-9, CompressAI's likelihood lower bound."""
    bits = sum(-torch.log(l.float().clamp_min(1e-9)).flatten(1).sum(1) for l in likelihoods.values())
    return bits / math.log(2)


def lambda_axis(lo: float, hi: float) -> Axis:
    """The setting of a variable-rate model trained on λ ∈ [lo, hi]: an effective λ on a log axis
    widened 4× at each end (see :class:`VariableRateCodec`)."""
    return Axis("lambda", lo / 4, hi * 4, log=True)


class Network:
    """A loaded, ``update()``-d network and the 4-byte identity its bitstreams carry."""

    def __init__(self, net: torch.nn.Module, identity: bytes, device: str):
        self.net = net.to(device).eval().requires_grad_(False)
        self.net.update(force=True)
        self.identity = identity
        self.device = device
        self.gain = None  # the -vbr gain the bottleneck was last updated for

    @staticmethod
    def state_identity(net: torch.nn.Module) -> bytes:
        """Hash of a network's weights, for networks that did not come from a file."""
        digest = hashlib.sha256()
        for key, value in sorted(net.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.digest()[: container.HASH_BYTES]


class LearnedCodec(Codec):
    """A named learned codec; subclasses say how a setting becomes rate parameters and how
    those parameters drive the network."""

    family, extension = "learned", "ekl"
    stream_check = staticmethod(container.unpack)  # its CRC-32 covers every byte

    def __init__(
        self,
        spec: LearnedSpec,
        name: str | None = None,
        device: str | None = "auto",
        weights_dir=None,
        network: torch.nn.Module | None = None,
    ):
        self.spec = spec
        self.device = resolve_device(device)
        super().__init__(
            name or spec.name,
            architecture=spec.architecture,
            loss=spec.loss,
            device=self.device.split(":")[0],
        )
        self.weights_dir = weights_dir
        self._given = network  # an in-memory network (tests, benchmarks, freshly trained)

    @classmethod
    def default_options(cls) -> dict:
        """The options a learned codec records, filled from its zoo entry and device."""
        return {"architecture": None, "loss": "mse", "device": "cpu"}

    @classmethod
    def from_network(cls, network: torch.nn.Module, spec: LearnedSpec, **kwargs) -> LearnedCodec:
        """This codec around a network in memory instead of a checkpoint."""
        return cls(spec, network=network, **kwargs)

    @classmethod
    def library_version(cls) -> str:
        return f"compressai {metadata.version('compressai')} torch {torch.__version__}"  # no import: seconds

    @property
    def key(self) -> str:
        ids = ",".join(f"{q}:{c.sha256}" for q, c in sorted(self.spec.checkpoints.items()))
        if self._given is not None or self.spec.path is not None:
            ids = self.network(self.default_quality()).identity.hex()
        return (
            f"learned[{self.spec.architecture},{self.spec.kind},{self.spec.loss},{ids},"
            f"{self.options['device']},{self.axis}]@{self.library_version()}"
        )

    def prepare(self) -> None:
        """Fetch every checkpoint now, so a missing one fails before any work starts."""
        if self._given is None and self.spec.path is None:
            for quality in self.spec.checkpoints:
                checkpoint_path(self.spec, quality, self.weights_dir)

    def unavailable_here(self) -> str | None:
        """Why this codec cannot run offline here (checkpoints not cached), or None."""
        missing = missing_checkpoints(self.spec, self.weights_dir)
        if not missing:
            return None
        first = missing[0]
        source = f"downloads from {first.url} on first use" if first.url else "has no public URL"
        return (
            f"{len(missing)} of {len(self.spec.checkpoints)} checkpoint(s) not in the weights "
            f"folder or the torch hub cache, e.g. {first.file} ({source}; or put it in "
            f"$EVALKIT_WEIGHTS_DIR)"
        )

    # ---------------------------------------------------------------- networks
    def default_quality(self) -> int:
        return min(self.spec.checkpoints) if self.spec.checkpoints else 0

    def network(self, quality: int) -> Network:
        """The loaded network for ``quality`` (the only one for single-network codecs)."""
        if self._given is not None:
            if not isinstance(self._given, Network):
                self._given = Network(self._given, Network.state_identity(self._given), self.device)
            return self._given
        path = (
            None
            if self.spec.path is None and not self.spec.checkpoints
            else checkpoint_path(self.spec, quality, self.weights_dir)
        )
        if path is None:
            raise CodecError(f"{self.name}: no checkpoint for quality {quality}")
        source = self.spec.checkpoints.get(quality)
        digest = source.verify(path) if source else file_sha256(path)
        key = (self.spec.name, self.spec.architecture, quality, digest, self.device)
        if key not in _NETWORKS:
            net = build_network(self.spec, quality, path)
            _NETWORKS[key] = Network(net, bytes.fromhex(digest)[: container.HASH_BYTES], self.device)
        return _NETWORKS[key]

    # --------------------------------------------------- rate parameters (per kind)
    @abstractmethod
    def rate(self, setting: float) -> tuple[float, ...]:
        """The rate parameters the header stores for ``setting``, as float32 values."""

    def quality_of(self, params: tuple[float, ...]) -> int:
        """Which network ``params`` select."""
        return self.default_quality()

    def check_params(self, params: tuple[float, ...]) -> None:
        """Raise :class:`CodecError` when header parameters are not ones this codec writes."""
        if len(params) != len(self.rate(self.axis.lo)) or not all(map(math.isfinite, params)):
            raise CodecError(f"{self.name}: bitstream has invalid rate parameters {params}")

    def run_compress(self, network: Network, x: torch.Tensor, params) -> dict:
        return network.net.compress(x)

    def run_decompress(self, network: Network, strings, shape, params) -> torch.Tensor:
        return network.net.decompress(strings, shape)["x_hat"]

    def run_forward(self, network: Network, x: torch.Tensor, params) -> dict:
        return network.net(x)

    # ------------------------------------------------------------------- coding
    def _to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack([check_rgb8(im) for im in images])).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        h, w = x.shape[2:]
        multiple = self.spec.arch.padding
        return F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")

    @staticmethod
    def _to_images(x_hat: torch.Tensor, h: int, w: int) -> list[np.ndarray]:
        pixels = x_hat[:, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
        return list(pixels.permute(0, 2, 3, 1).cpu().numpy())

    def reconstruct(self, image: np.ndarray, setting: float) -> np.ndarray:
        """The network's own eval-mode ``forward`` reconstruction (clamped, 8-bit): what
        decoding the bitstream must reproduce."""
        params = self.rate(setting)
        network = self.network(self.quality_of(params))
        with torch.inference_mode():
            out = self.run_forward(network, self._to_tensor([image]), params)
        return self._to_images(out["x_hat"], *image.shape[:2])[0]

    def likelihood_bits(self, image: np.ndarray, setting: float) -> float:
        """The rate the network's likelihoods estimate for ``image`` (bits, whole padded image)."""
        params = self.rate(setting)
        network = self.network(self.quality_of(params))
        with torch.inference_mode():
            out = self.run_forward(network, self._to_tensor([image]), params)
        return float(estimated_bits(out["likelihoods"]).sum())

    def encode(self, image: np.ndarray, setting: float) -> bytes:
        return self.encode_batch([image], setting)[0]

    def decode(self, data: bytes) -> np.ndarray:
        return self.decode_batch([data])[0]

    def encode_batch(self, images: list[np.ndarray], setting: float) -> list[bytes]:
        """Encode images of one size together (one network pass); one file per image."""
        h, w = images[0].shape[:2]
        if any(im.shape[:2] != (h, w) for im in images):
            raise ValueError("encode_batch takes images of one size; group them first")
        if max(h, w) >= MAX_SIDE:
            raise CodecError(f"{self.name}: images up to {MAX_SIDE - 1} pixels a side, got {h}×{w}")
        params = self.rate(setting)
        network = self.network(self.quality_of(params))
        with torch.inference_mode():
            out = self.run_compress(network, self._to_tensor(images), params)
        return [
            container.pack(
                container.Bitstream(
                    self.spec.name, network.identity, h, w, params, tuple(s[i] for s in out["strings"])
                )
            )
            for i in range(len(images))
        ]

    def decode_batch(self, datas: list[bytes]) -> list[np.ndarray]:
        """Decode files; those of one size and rate go through the network together."""
        streams = [self._read(d) for d in datas]
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(streams):
            groups.setdefault((s.height, s.width, s.params), []).append(i)
        images: list = [None] * len(streams)
        for (h, w, params), members in groups.items():
            network = self.network(self.quality_of(params))
            strings = [
                [streams[i].strings[k] for i in members] for k in range(len(streams[members[0]].strings))
            ]
            shape = self.spec.arch.coded_shape(h, w)
            with torch.inference_mode():
                x_hat = self.run_decompress(network, strings, shape, params)
            for i, image in zip(members, self._to_images(x_hat, h, w)):
                images[i] = image
        return images

    def _read(self, data: bytes) -> container.Bitstream:
        stream = container.unpack(data, self.name)
        if stream.model != self.spec.name:
            raise CodecError(
                f"{self.name}: bitstream was written by {stream.model!r}, not by "
                f"{self.spec.name!r}; decode it with that codec"
            )
        self.check_params(stream.params)
        network = self.network(self.quality_of(stream.params))
        if stream.checkpoint != network.identity:
            raise CodecError(
                f"{self.name}: bitstream was written by checkpoint "
                f"{stream.checkpoint.hex()}…, this codec has {network.identity.hex()}…; "
                "decode it with the network that wrote it"
            )
        expected = self.spec.arch.strings
        if len(stream.strings) != expected:
            raise CodecError(
                f"{self.name}: bitstream has {len(stream.strings)} coded strings, expected {expected}"
            )
        return stream


class LadderCodec(LearnedCodec):
    """CompressAI's fixed-rate models: the integer quality picks one of the networks."""

    def __init__(self, spec: LearnedSpec, name: str | None = None, quality: int | None = None, **kw):
        super().__init__(spec, name, **kw)
        qualities = sorted(spec.checkpoints) if spec.checkpoints else [quality or 0]
        lo, hi = (quality, quality) if quality is not None else (qualities[0], qualities[-1])
        if quality is not None and spec.checkpoints and quality not in spec.checkpoints:
            raise CodecError(f"{spec.name} has qualities {qualities[0]}–{qualities[-1]}, not {quality}")
        self.axis = Axis("quality", lo, hi, integer=True)

    def rate(self, setting):
        return (float(round(setting)),)

    def quality_of(self, params):
        return int(params[0])

    def check_params(self, params):
        super().check_params(params)
        known = params[0] in self.spec.checkpoints or self.axis.lo <= params[0] <= self.axis.hi
        if params[0] != round(params[0]) or not known:
            raise CodecError(
                f"{self.name}: bitstream asks for quality {params[0]:g}, which {self.spec.name} does not have"
            )


class VbrCodec(LearnedCodec):
    """CompressAI's ``-vbr`` models: continuous quality 1–8 → gain (CompressAI's ``inputscale``)."""

    axis = Axis("quality", 1.0, 8.0)

    def rate(self, setting):
        return (container.float32(min(max(setting, self.axis.lo), self.axis.hi)),)

    def check_params(self, params):
        super().check_params(params)
        if not self.axis.lo <= params[0] <= self.axis.hi:
            raise CodecError(
                f"{self.name}: bitstream quality {params[0]:g} is outside {self.axis.lo:g}–{self.axis.hi:g}"
            )

    def gain(self, network: Network, quality: float) -> torch.Tensor:
        """The model's trained gains at qualities 1…8, interpolated linearly in log(gain)."""
        log_gains = network.net.Gain.detach().abs().log().cpu().double().numpy()
        position = np.interp(quality - 1.0, np.arange(len(log_gains)), log_gains)
        return torch.tensor(math.exp(position), dtype=torch.float32, device=self.device)

    def _gain_for(self, network: Network, params) -> torch.Tensor:
        gain = self.gain(network, params[0])
        if network.net.vr_entbttlnck and network.gain != float(gain):
            network.net.update(force=True, scale=gain)  # the bottleneck's step follows the gain
            network.gain = float(gain)
        return gain

    def run_compress(self, network, x, params):
        return network.net.compress(x, stage=2, s=0, inputscale=self._gain_for(network, params))

    def run_decompress(self, network, strings, shape, params):
        return network.net.decompress(
            strings, shape, stage=2, s=0, inputscale=self._gain_for(network, params)
        )["x_hat"]

    def run_forward(self, network, x, params):
        return network.net(x, stage=2, s=0, inputscale=self._gain_for(network, params))


class VariableRateCodec(LearnedCodec):
    """Our λ/Δ-conditioned model. The setting is an *effective λ* on a log axis spanning the
    trained λ range widened by 4× at each end: inside the range it is λ itself (Δ = 1); beyond
    it λ stays at the nearest end and the bin size takes over, Δ = sqrt(end / setting), so
    Δ runs from 2 (fewest bits) to 1/2 (most).

    A model trained with a realism input (paper 003) also takes β: the codec's ``beta``
    (``<name>-beta<β>``; the low end of the trained range by default) is written in the header
    after λ and Δ and drives the decoder. The coded latents do not depend on β, so
    :meth:`at_realism` moves a file to another β without encoding again."""

    def __init__(self, spec: LearnedSpec, name: str | None = None, beta: float | None = None, **kw):
        super().__init__(spec, name, **kw)
        self.requested_beta = beta

    @cached_property
    def config(self) -> dict:
        """The model's configuration, from its checkpoint without loading the network (so that a
        cached run needs no network), or from the network given."""
        quality = self.default_quality()
        if self._given is not None:
            return self.network(quality).net.config
        path = checkpoint_path(self.spec, quality, self.weights_dir)
        if quality in self.spec.checkpoints:
            self.spec.checkpoints[quality].verify(path)
        return checkpoint_config(self.spec.architecture, path)

    @cached_property
    def lambda_range(self) -> tuple[float, float]:
        lo, hi = self.config["lambda_range"]
        return float(lo), float(hi)

    @cached_property
    def beta_range(self) -> tuple[float, float] | None:
        """The trained β range of a model with a realism input, else None."""
        beta_range = self.config.get("beta_range")
        return (float(beta_range[0]), float(beta_range[1])) if beta_range else None

    @cached_property
    def beta(self) -> float | None:
        """The β this codec decodes at (None for a model without a realism input)."""
        if self.beta_range is None:
            if self.requested_beta is not None:
                raise CodecError(
                    f"{self.name}: {self.spec.name} has no realism input (β); "
                    f"use {self.spec.name} without -beta"
                )
            return None
        beta = self.beta_range[0] if self.requested_beta is None else self.requested_beta
        return self._checked_beta(beta)

    def _checked_beta(self, beta: float) -> float:
        lo, hi = self.beta_range
        if not lo <= beta <= hi:
            raise CodecError(f"{self.name}: β = {beta:g} is outside the trained range [{lo:g}, {hi:g}]")
        return container.float32(beta)

    @cached_property
    def axis(self) -> Axis:
        return lambda_axis(*self.lambda_range)

    @property
    def key(self) -> str:
        return super().key + ("" if self.beta is None else f"+beta={self.beta!r}")

    def rate(self, setting):
        lo, hi = self.lambda_range
        lmbda = min(max(setting, lo), hi)
        delta = math.sqrt(lmbda / setting)
        params = (container.float32(lmbda), container.float32(delta))
        return params if self.beta is None else (*params, self.beta)

    def check_params(self, params):
        super().check_params(params)
        lo, hi = self.lambda_range
        lmbda, delta = params[:2]
        if not (0.99 * lo <= lmbda <= 1.01 * hi and 0.49 <= delta <= 2.01):
            raise CodecError(
                f"{self.name}: bitstream rate parameters λ={lmbda:g}, Δ={delta:g} "
                "are outside what this codec writes"
            )
        if self.beta is not None:
            self._checked_beta(params[2])

    def at_realism(self, data: bytes, beta: float) -> bytes:
        """The file ``data`` decoded at realism ``beta`` instead: the same coded latents with
        another β in the header (a few bytes differ, the size does not)."""
        if self.beta is None:
            raise CodecError(f"{self.name}: {self.spec.name} has no realism input (β)")
        stream = self._read(data)
        return container.pack(replace(stream, params=(*stream.params[:2], self._checked_beta(beta))))

    def run_compress(self, network, x, params):
        return network.net.compress(x, *params[:2])  # the latents do not depend on β

    def run_decompress(self, network, strings, shape, params):
        return network.net.decompress(strings, shape, *params)["x_hat"]

    def run_forward(self, network, x, params):
        return network.net(x, *params)


CODEC_CLASSES: dict[str, type[LearnedCodec]] = {
    "ladder": LadderCodec,
    "vbr": VbrCodec,
    "variable-rate": VariableRateCodec,
}
