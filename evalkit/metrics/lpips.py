"""LPIPS v0.1 (Zhang et al. 2018) through the ``lpips`` package: AlexNet by default, VGG-16 and
SqueezeNet selectable; inputs scaled to [−1, 1]; the network always in eval mode.

The package's forward pass runs the trunk on both images; here the reference's normalised
features are computed once and compared with every reconstruction of it, with the package's own
layers (scaling layer, trunk, 1×1 linear heads) and its arithmetic: unit-normalise each layer's
channels, square the difference, weight by the linear head, average spatially, sum over layers.
"""

from __future__ import annotations

import hashlib
import warnings
from importlib import metadata
from pathlib import Path

import torch

from ..errors import InputError
from ..scoped import gc_paused
from ..weights import fetch, local_file
from .base import PairMetric

#: Trunk name → the torchvision ImageNet file the lpips package loads through torchvision.
TRUNKS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "squeeze": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}


def full_state_dict_name(net: str) -> str:
    """A complete ``lpips.LPIPS(net=...)`` state dict (trunk + linear heads), as in shared/weights."""
    return f"lpips-{net}-v0.1.pth"


def lpips_weights(net: str = "alex", weights_dir=None) -> Path:
    """The file :func:`load_lpips` reads, in this order: the full state dict
    ``lpips-<net>-v0.1.pth`` in the weights folder; the torchvision trunk file in the weights
    folder or the torch hub cache; a download of it (a ``WeightsError`` offline)."""
    if net not in TRUNKS:
        raise InputError(f"LPIPS trunk must be one of {sorted(TRUNKS)}, got {net!r}")
    return local_file([full_state_dict_name(net)], weights_dir) or fetch(
        TRUNKS[net],
        f"LPIPS ({net})",
        f", or put a full LPIPS state dict named {full_state_dict_name(net)} in $EVALKIT_WEIGHTS_DIR",
        weights_dir,
    )


def load_lpips(net: str = "alex", weights_dir=None):
    """An ``lpips.LPIPS`` model with pretrained weights (:func:`lpips_weights`), in eval mode,
    without gradients."""
    with gc_paused():
        import lpips

    weights = lpips_weights(net, weights_dir)
    with warnings.catch_warnings():  # lpips calls torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if weights.name == full_state_dict_name(net):
        model.load_state_dict(state)
    else:
        _load_trunk(model, net, state)
    return model.eval().requires_grad_(False)


def _load_trunk(model, net: str, state: dict) -> None:
    """Copy torchvision ``features.<i>`` parameters into lpips' ``slice<k>.<i>`` modules."""
    import torchvision.models as tvm

    trunk = {"alex": tvm.alexnet, "vgg": tvm.vgg16, "squeeze": tvm.squeezenet1_1}[net](weights=None)
    trunk.load_state_dict(state)
    for name, module in model.net.named_modules():
        parts = name.split(".")
        if len(parts) == 2 and parts[0].startswith("slice"):
            module.load_state_dict(trunk.features[int(parts[1])].state_dict())


class LPIPS(PairMetric):
    """LPIPS distance (lower is better); ``forward(x, x_hat)`` → (N,). The trunk runs
    channels-last (about 10 % faster convolutions on a CPU); its weights never train.

    ``version`` comes from the weight file and the lpips package (its linear heads), not from the
    network, which is built on first use: a run whose values are all cached never imports lpips
    and torchvision's models (seconds). What is done to the module before (``.to(device)``,
    ``.double()``) is done to the network when it is built."""

    uses_network = True

    def __init__(self, net: str = "alex", weights_dir=None):
        super().__init__()
        self.net, self.weights_dir = net, weights_dir
        digest = hashlib.sha256()
        with open(lpips_weights(net, weights_dir), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        self.version = f"lpips-{net}-v0.1-{metadata.version('lpips')}-{digest.hexdigest()[:12]}"
        self._model, self._pending = None, []

    def _apply(self, fn, recurse=True):
        if self._model is None:
            self._pending.append(fn)
        return super()._apply(fn, recurse)

    def load(self) -> LPIPS:
        """Build the ``lpips.LPIPS`` network now, if it is not built yet."""
        if self._model is None:
            model = load_lpips(self.net, self.weights_dir)
            model.net.to(memory_format=torch.channels_last)
            for fn in self._pending:
                model._apply(fn)
            self._model = model
        return self

    @property
    def model(self):
        """The ``lpips.LPIPS`` model, built the first time it is asked for."""
        return self.load()._model

    def prepare(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised trunk features of images in [0, 1]."""
        import lpips

        model = self.model
        x = model.scaling_layer(images * 2 - 1).contiguous(memory_format=torch.channels_last)
        try:
            return [lpips.normalize_tensor(f) for f in model.net(x)]
        except RuntimeError as exc:
            if "too small" not in str(exc):
                raise
            h, w = images.shape[-2:]
            raise InputError(
                f"image of {w}×{h} px is too small for LPIPS-{self.net}'s trunk "
                "(AlexNet needs at least 31 px a side)"
            ) from exc

    def score(self, reference: list[torch.Tensor], reconstructions: torch.Tensor) -> torch.Tensor:
        total = 0
        for head, ref, rec in zip(self.model.lins, reference, self.prepare(reconstructions)):
            total = total + head((ref - rec) ** 2).mean(dim=(2, 3), keepdim=True)
        return total.flatten()


__all__ = ["LPIPS", "TRUNKS", "load_lpips"]
