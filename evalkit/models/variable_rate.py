"""One hyperprior autoencoder for all rates, conditioned on the Lagrange multiplier λ and the
quantisation bin size Δ.

After Choi, El-Khamy and Lee, "Variable Rate Deep Image Compression With a Conditional
Autoencoder" (ICCV 2019; ``../shared/papers/001_e8037420b1e15389.txt`` is its supplement): every
convolution of the analysis, synthesis and hyper transforms is followed by a channel-wise
scale and bias computed from the rate condition (their *conditional convolution*), the model is
trained with λ drawn over a range so that one set of weights covers every rate, and the latent
is quantised with a bin size Δ, which moves the rate continuously beyond the trained λ range.
The quantisation step is Δ · exp(−s·(2t − 1)), t ∈ [0, 1] the position of log λ in the trained
range and s a learned scalar that starts at ln(10)/2, so the step spans 10× over the range
from the first step of training (the span of the gains of CompressAI's ``-vbr`` models); the
conditioned layers learn the rest.

As an alternative conditioning (``conditioning="interpolated-attention"``), each conditioned
layer multiplies its channels by a scaling vector learned per quality level and interpolated
exponentially between the two neighbouring levels — the *interpolation channel attention* of
Iwai et al. as presented in ``../shared/papers/003_5ce371a663f7b6be.txt``; λ picks the
(fractional) level, Δ only sets the bin size there.

What differs from paper 001: λ enters as a continuous value (log λ through a small MLP)
instead of a one-hot vector over a fixed λ set; Δ conditions every layer (the paper conditions
the decoder on λ alone); the entropy model is CompressAI's mean-scale hyperprior (Minnen et al.
2018) without the autoregressive context model; the conditioning MLP is shared per layer type
rather than learned per layer from one-hot input; the λ-dependent step above is ours.
Entropy coding is CompressAI's
``EntropyBottleneck`` and ``GaussianConditional``, unchanged.

A realism input (``beta_range``, paper 003): the synthesis transform's condition gains a third
entry, the realism weight β normalised over its trained range, so one set of weights spans the
distortion–realism trade-off (β = 0: the distortion-optimal output; more β: more realistic
texture at more distortion, as the training loss weighted it). Only the decoder sees β: the
analysis and hyper transforms, and so the bitstream, do not depend on it, and the same file can be
decoded at any β — the choice is made at decode time (Agustsson et al., "Multi-Realism Image
Compression with a Conditional Generator", CVPR 2023, which paper 003 compares against).

``forward(x, lmbda, delta, beta)`` returns ``{"x_hat", "likelihoods": {"y", "z"}}`` as CompressAI's
models do, with λ (and Δ) per batch element, so a trainer minimises the rate–distortion loss
(:mod:`evalkit.train`) with λ sampled per image.

:meth:`VariableRateHyperprior.widened` moves a trained model to a wider λ range without changing
what it computes inside its old one, so training can continue from it over the wider range (a
warm start the recipe's ``init`` check accepts, since the file then records the new range).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..scoped import importing_compressai
from .checkpoint import SelfDescribing

with importing_compressai():
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import GDN
    from compressai.models import CompressionModel
    from compressai.models.utils import conv, deconv

CONDITIONINGS = ("conditional-conv", "interpolated-attention")


class ConditionalScaleBias(nn.Module):
    """``x · softplus(s(c)) + b(c)`` per channel, with (s, b) from the condition c (paper 001)."""

    def __init__(self, channels: int, condition_dim: int = 2, hidden: int = 32):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(condition_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * channels))
        nn.init.zeros_(self.mlp[-1].weight)
        with torch.no_grad():  # start as the identity: softplus(s) = 1, b = 0
            self.mlp[-1].bias.copy_(
                torch.cat([torch.full((channels,), math.log(math.e - 1)), torch.zeros(channels)])
            )

    def forward(self, x: torch.Tensor, condition: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        scale, bias = self.mlp(condition).chunk(2, dim=1)
        return x * F.softplus(scale)[:, :, None, None] + bias[:, :, None, None]


class InterpolatedChannelAttention(nn.Module):
    """Channel scaling vectors per quality level, exponentially interpolated (paper 003)."""

    def __init__(self, channels: int, levels: int):
        super().__init__()
        self.log_vectors = nn.Parameter(torch.zeros(levels, channels))

    def forward(self, x: torch.Tensor, condition: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        top = self.log_vectors.shape[0] - 1
        level = level.clamp(0, top)
        low = level.floor().long().clamp(max=top - 1)
        w = (level - low)[:, None]
        log_v = (1 - w) * self.log_vectors[low] + w * self.log_vectors[low + 1]
        return x * log_v.exp()[:, :, None, None]


class _ConditionedStack(nn.Module):
    """Layers applied in order, each convolution followed by its conditioning module."""

    def __init__(self, layers: list[nn.Module], make_condition):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.conditions = nn.ModuleList(
            make_condition(layer.out_channels)
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))
            else nn.Identity()
            for layer in layers
        )

    def forward(self, x, condition, level):
        for layer, cond in zip(self.layers, self.conditions):
            x = layer(x)
            if not isinstance(cond, nn.Identity):
                x = cond(x, condition, level)
        return x


class VariableRateHyperprior(SelfDescribing, CompressionModel):
    """Mean-scale hyperprior whose transforms are conditioned on (λ, Δ); see the module docstring.

    ``lambda_range`` is the λ span the model is trained over (CompressAI's convention: loss =
    λ·255²·MSE + bpp); ``levels`` the number of quality levels of the interpolated attention.
    """

    architecture = "variable-rate"
    multiple = 64  # four stride-2 analysis layers and two hyper-analysis ones

    def __init__(
        self,
        N: int = 128,
        M: int = 192,
        lambda_range=(0.0018, 0.18),
        conditioning: str = "conditional-conv",
        levels: int = 8,
        beta_range=None,
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        if beta_range is not None and conditioning != "conditional-conv":
            raise ValueError("a realism input (beta_range) needs conditioning='conditional-conv'")
        self.config = {
            "N": N,
            "M": M,
            "lambda_range": [float(v) for v in lambda_range],
            "conditioning": conditioning,
            "levels": levels,
            "beta_range": None if beta_range is None else [float(v) for v in beta_range],
        }
        self.levels = levels
        self.beta_range = self.config["beta_range"]
        self.register_buffer("log_lambda_range", torch.log(torch.tensor(lambda_range, dtype=torch.float32)))
        self.step_span = nn.Parameter(torch.tensor(math.log(10) / 2))
        make = (
            (lambda c: ConditionalScaleBias(c))
            if conditioning == "conditional-conv"
            else (lambda c: InterpolatedChannelAttention(c, levels))
        )
        make_synthesis = make if beta_range is None else (lambda c: ConditionalScaleBias(c, 3))
        self.g_a = _ConditionedStack(
            [conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M)], make
        )
        self.g_s = _ConditionedStack(
            [
                deconv(M, N),
                GDN(N, inverse=True),
                deconv(N, N),
                GDN(N, inverse=True),
                deconv(N, N),
                GDN(N, inverse=True),
                deconv(N, 3),
            ],
            make_synthesis,
        )
        self.h_a = _ConditionedStack(
            [conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(), conv(N, N), nn.LeakyReLU(), conv(N, N)],
            make,
        )
        self.h_s = _ConditionedStack(
            [
                deconv(N, M),
                nn.LeakyReLU(),
                deconv(M, M * 3 // 2),
                nn.LeakyReLU(),
                conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
            ],
            make,
        )
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # ----------------------------------------------------------------- condition
    def _condition(self, x: torch.Tensor, lmbda, delta):
        """(B, 2) condition [normalised log λ, log Δ], the fractional quality level, and the
        quantisation step (B, 1, 1, 1)."""
        batch = x.shape[0]
        lmbda = torch.as_tensor(lmbda, dtype=x.dtype, device=x.device).reshape(-1).expand(batch)
        delta = torch.as_tensor(delta, dtype=x.dtype, device=x.device).reshape(-1).expand(batch)
        lo, hi = self.log_lambda_range.to(x.dtype)
        position = (lmbda.log() - lo) / (hi - lo)
        condition = torch.stack([2 * position - 1, delta.log()], dim=1)
        step = delta * torch.exp(-self.step_span * (2 * position - 1))
        return condition, position * (self.levels - 1), step[:, None, None, None]

    def _synthesis_condition(self, condition: torch.Tensor, beta) -> torch.Tensor:
        """The decoder's condition: [λ, Δ] and, for a realism model, β mapped to [−1, 1]."""
        if self.beta_range is None:
            if beta is not None:
                raise ValueError("this model has no realism input; decode it without beta")
            return condition
        lo, hi = self.beta_range
        beta = (
            torch.as_tensor(lo if beta is None else beta, dtype=condition.dtype, device=condition.device)
            .reshape(-1, 1)
            .expand(len(condition), 1)
        )
        return torch.cat([condition, 2 * (beta - lo) / max(hi - lo, 1e-12) - 1], dim=1)

    def _params(self, z_hat, condition, level, step):
        scales, means = self.h_s(z_hat, condition, level).chunk(2, 1)
        return scales / step, means / step

    # ------------------------------------------------------------------- training
    def forward(self, x: torch.Tensor, lmbda, delta=1.0, beta=None) -> dict:
        condition, level, step = self._condition(x, lmbda, delta)
        y = self.g_a(x, condition, level)
        z = self.h_a(y, condition, level)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales, means = self._params(z_hat, condition, level, step)
        y_q, y_likelihoods = self.gaussian_conditional(y / step, scales, means=means)
        x_hat = self.g_s(y_q * step, self._synthesis_condition(condition, beta), level)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    # ------------------------------------------------------------------ widening
    def widened(self, lambda_range) -> VariableRateHyperprior:
        """A copy over ``lambda_range`` that computes the same function of λ inside the old range.

        The condition 2p − 1 (p: position of log λ in the range) is affine in log λ, so the old
        condition is a·c + b of the new one; every conditioning MLP's first layer absorbs a and b.
        The quantisation step exp(−s·c) becomes exp(−a·s·c) times k = exp(−s·b); the latent
        (the last analysis layer), what reads it (the first hyper-analysis and synthesis layers)
        and the predicted scales and means (the last hyper-synthesis layer) are rescaled by k,
        so y/step, and everything after it, is unchanged. Only the conditional convolution
        (``conditioning="conditional-conv"``) has that form.
        """
        if self.config["conditioning"] != "conditional-conv":
            raise ValueError(
                "only a conditional-conv model can be widened; the interpolated "
                "attention's levels are not affine in log λ"
            )
        lo, hi = (float(v) for v in lambda_range)
        if not 0 < lo < hi:
            raise ValueError(f"lambda_range must be (lo, hi) with 0 < lo < hi, got {lambda_range!r}")
        old_lo, old_hi = self.log_lambda_range.tolist()
        new_lo, new_hi = math.log(lo), math.log(hi)
        a = (new_hi - new_lo) / (old_hi - old_lo)
        b = a - 1 + 2 * (new_lo - old_lo) / (old_hi - old_lo)
        k = math.exp(-self.step_span.item() * b)
        wide = type(self)(**{**self.config, "lambda_range": [lo, hi]})
        state = {n: v for n, v in self.state_dict().items() if n != "log_lambda_range"}
        wide.load_state_dict(state, strict=False)
        with torch.no_grad():
            wide.step_span.mul_(a)
            for module in wide.modules():
                if isinstance(module, ConditionalScaleBias):
                    first = module.mlp[0]
                    first.bias.add_(b * first.weight[:, 0])
                    first.weight[:, 0].mul_(a)
            _rescale(wide.g_a, -1, 1 / k, bias=True)
            _rescale(wide.h_s, -1, 1 / k, bias=True)
            _rescale(wide.h_a, 0, k, bias=False)
            _rescale(wide.g_s, 0, k, bias=False)
        return wide.train(self.training)

    # ------------------------------------------------------------------ bitstream
    def compress(self, x: torch.Tensor, lmbda: float, delta: float = 1.0) -> dict:
        condition, level, step = self._condition(x, lmbda, delta)
        y = self.g_a(x, condition, level)
        z = self.h_a(y, condition, level)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
        scales, means = self._params(z_hat, condition, level, step)
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_strings = self.gaussian_conditional.compress(y / step, indexes, means=means)
        return {"strings": [y_strings, z_strings], "shape": z.size()[-2:]}

    def decompress(self, strings: list, shape, lmbda: float, delta: float = 1.0, beta=None) -> dict:
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        condition, level, step = self._condition(z_hat, lmbda, delta)
        scales, means = self._params(z_hat, condition, level, step)
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_q = self.gaussian_conditional.decompress(strings[0], indexes, means=means)
        x_hat = self.g_s(y_q * step, self._synthesis_condition(condition, beta), level)
        return {"x_hat": x_hat.clamp_(0, 1)}


def _rescale(stack: _ConditionedStack, index: int, factor: float, bias: bool) -> None:
    """Multiply the output of the ``index``-th convolution of ``stack`` by ``factor`` (``bias``:
    with its conditional bias, so the whole layer output scales), or, with ``bias=False``, only
    its weights, so that it reads an input scaled by 1/``factor`` as before."""
    convs = [
        (layer, cond)
        for layer, cond in zip(stack.layers, stack.conditions)
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    layer, cond = convs[index]
    layer.weight.mul_(factor)
    if bias:
        layer.bias.mul_(factor)
        last = cond.mlp[-1]
        channels = last.out_features // 2
        last.weight[channels:].mul_(factor)
        last.bias[channels:].mul_(factor)
