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

import torch

from ..errors import InputError
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


def load_lpips(net: str = "alex", weights_dir=None):
    """An ``lpips.LPIPS`` model with pretrained weights, in eval mode, without gradients.

    Looks for, in order: the full state dict ``lpips-<net>-v0.1.pth`` in the weights folder; the
    torchvision trunk file in the weights folder or the torch hub cache; a download of it.
    """
    import lpips

    if net not in TRUNKS:
        raise InputError(f"LPIPS trunk must be one of {sorted(TRUNKS)}, got {net!r}")
    with warnings.catch_warnings():   # lpips calls torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
    full = local_file([full_state_dict_name(net)], weights_dir)
    if full is not None:
        model.load_state_dict(torch.load(full, map_location="cpu", weights_only=True))
    else:
        trunk_file = fetch(TRUNKS[net], f"LPIPS ({net})",
                           f", or put a full LPIPS state dict named {full_state_dict_name(net)} "
                           "in $EVALKIT_WEIGHTS_DIR", weights_dir)
        _load_trunk(model, net, torch.load(trunk_file, map_location="cpu", weights_only=True))
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
    channels-last (about 10 % faster convolutions on a CPU); its weights never train."""

    uses_network = True

    def __init__(self, net: str = "alex", weights_dir=None):
        super().__init__()
        self.net = net
        self.model = load_lpips(net, weights_dir)
        self.model.net.to(memory_format=torch.channels_last)
        digest = hashlib.sha256()
        for key, value in sorted(self.model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        self.version = f"lpips-{net}-v0.1-{digest.hexdigest()[:12]}"

    def prepare(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised trunk features of images in [0, 1]."""
        import lpips

        x = self.model.scaling_layer(images * 2 - 1).contiguous(memory_format=torch.channels_last)
        try:
            return [lpips.normalize_tensor(f) for f in self.model.net(x)]
        except RuntimeError as exc:
            if "too small" not in str(exc):
                raise
            h, w = images.shape[-2:]
            raise InputError(f"image of {w}×{h} px is too small for LPIPS-{self.net}'s trunk "
                             "(AlexNet needs at least 31 px a side)") from exc

    def score(self, reference: list[torch.Tensor], reconstructions: torch.Tensor) -> torch.Tensor:
        total = 0
        for head, ref, rec in zip(self.model.lins, reference, self.prepare(reconstructions)):
            total = total + head((ref - rec) ** 2).mean(dim=(2, 3), keepdim=True)
        return total.flatten()


__all__ = ["LPIPS", "load_lpips", "TRUNKS"]
