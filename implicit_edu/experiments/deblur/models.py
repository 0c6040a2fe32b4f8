"""Denoiser and plug-and-play operators of the deblurring case study.

* :class:`Denoiser` H(y, σ): a small DRUNet-style U-Net (Zhang et al., 2021): residual blocks
  at each scale, strided convolutions down, transposed convolutions up, additive skips, no
  biases, the noise level σ as an extra input channel, and a global residual y + (...).
* :class:`ImplicitPGD`  G(y, x) = H(y − γ Aᵀ(A y − x), σ),        γ = sigmoid(θ_γ) / ‖A‖²;
* :class:`ImplicitHQS`  G(y, x) = H((AᵀA + βI)⁻¹(Aᵀ x + β y), σ),  β = softplus(θ_β);
* :class:`ExplicitDeblur` H once on the Tikhonov estimate (AᵀA + λI)⁻¹ Aᵀ x.

σ is learnable too (σ = softplus(θ_σ)). The operators are used as ``implicit_edu.DEQ(G)``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.experiments.deblur.physics import BlurOperator

__all__ = [
    "Denoiser",
    "ImplicitPGD",
    "ImplicitHQS",
    "ExplicitDeblur",
    "denoiser_multiply_adds",
]


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class _ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.conv2(torch.relu(self.conv1(z)))


class Denoiser(nn.Module):
    """H(y, σ): a DRUNet-style residual U-Net with the noise level as an input channel.

    Args:
        channels: image channels (1 grey, 3 colour).
        width: channels at the finest scale; scale s has width · 2^s channels.
        scales: number of scales (each halves the resolution; the image side must be divisible
            by 2^(scales − 1)).
        blocks: residual blocks per scale on the way down and on the way up.
    """

    def __init__(self, channels: int = 1, width: int = 16, scales: int = 3, blocks: int = 1):
        super().__init__()
        check_positive_integers(channels=channels, width=width, scales=scales)
        if not (isinstance(blocks, int) and blocks >= 0):
            raise ValueError(f"blocks must be a non-negative integer, got {blocks!r}")
        self.channels, self.scales = channels, scales
        widths = [width * 2**s for s in range(scales)]
        self.head = nn.Conv2d(channels + 1, widths[0], 3, padding=1, bias=False)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for s in range(scales - 1):
            self.down.append(
                nn.Sequential(
                    *[_ResBlock(widths[s]) for _ in range(blocks)],
                    nn.Conv2d(widths[s], widths[s + 1], 2, stride=2, bias=False),
                )
            )
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(widths[s + 1], widths[s], 2, stride=2, bias=False),
                    *[_ResBlock(widths[s]) for _ in range(blocks)],
                )
            )
        self.body = nn.Sequential(*[_ResBlock(widths[-1]) for _ in range(max(blocks, 1))])
        self.tail = nn.Conv2d(widths[0], channels, 3, padding=1, bias=False)

    def forward(self, y: torch.Tensor, sigma) -> torch.Tensor:
        if y.dim() != 4 or y.shape[1] != self.channels:
            raise ValueError(
                f"expected images of shape (batch, {self.channels}, H, W), got {tuple(y.shape)}"
            )
        factor = 2 ** (self.scales - 1)
        if y.shape[-1] % factor or y.shape[-2] % factor:
            raise ValueError(
                f"image sides {tuple(y.shape[-2:])} must be divisible by {factor} "
                f"(2^(scales − 1)) for this U-Net"
            )
        sigma = torch.as_tensor(sigma, dtype=y.dtype, device=y.device)
        level = sigma.reshape(-1, 1, 1, 1).expand(y.shape[0], 1, *y.shape[-2:])
        z = self.head(torch.cat([y, level], dim=1))
        skips = []
        for down in self.down:
            skips.append(z)
            z = down(z)
        z = self.body(z)
        for up, skip in zip(reversed(self.up), reversed(skips), strict=True):
            z = up(z) + skip
        return y + self.tail(z)


def denoiser_multiply_adds(denoiser: Denoiser, size: int) -> int:
    """Multiply-adds of the convolutions in one evaluation of H on one ``size`` × ``size`` image.

    Counted by forward hooks on a copy of H on PyTorch's "meta" device (shapes only, no
    arithmetic): for a convolution, output elements × (input channels × kernel area); for a
    transposed convolution, input elements × (output channels × kernel area).
    """
    if not isinstance(denoiser, Denoiser):
        raise TypeError(f"denoiser must be a Denoiser, got {type(denoiser).__name__}")
    check_positive_integers(size=size)
    meta = copy.deepcopy(denoiser).to("meta")
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0][0].numel() * module.weight[0].numel()
        else:
            total += output[0].numel() * module.weight[0].numel()

    for module in meta.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.register_forward_hook(count)
    with torch.no_grad():
        meta(torch.zeros(1, denoiser.channels, size, size, device="meta"), 0.1)
    return total


class _PlugAndPlay(nn.Module):
    """Shared parts: the denoiser H, the blur A, a learnable σ, the start y₀ = x."""

    def __init__(self, denoiser: Denoiser, blur: BlurOperator, sigma: float) -> None:
        super().__init__()
        if not isinstance(denoiser, Denoiser):
            raise TypeError(f"denoiser must be a Denoiser, got {type(denoiser).__name__}")
        if not isinstance(blur, BlurOperator):
            raise TypeError(f"blur must be a BlurOperator, got {type(blur).__name__}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}")
        self.denoiser, self.blur = denoiser, blur
        self.sigma_raw = nn.Parameter(torch.tensor(_inverse_softplus(sigma)))

    @property
    def sigma(self) -> torch.Tensor:
        return nn.functional.softplus(self.sigma_raw)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """The start of the iteration: the observation itself (as in the paper)."""
        return x.detach().clone()


class ImplicitPGD(_PlugAndPlay):
    """G(y, x) = H(y − γ Aᵀ(A y − x), σ), with γ = sigmoid(θ) / ‖A‖² inside (0, 1/‖A‖²).

    With γ < 2/‖A‖² the gradient step I − γAᵀA is non-expansive; keeping γ below 1/‖A‖²
    also keeps all its eigenvalues 1 − γ s² in [0, 1), so it cannot oscillate.
    """

    def __init__(self, denoiser, blur, gamma: float = 0.9, sigma: float = 0.03) -> None:
        super().__init__(denoiser, blur, sigma)
        if not 0 < gamma < 1:
            raise ValueError(f"gamma (as a fraction of 1/‖A‖²) must be in (0, 1), got {gamma!r}")
        self.scale = 1 / blur.norm() ** 2
        self.gamma_raw = nn.Parameter(torch.tensor(math.log(gamma / (1 - gamma))))

    @property
    def gamma(self) -> torch.Tensor:
        return self.scale * torch.sigmoid(self.gamma_raw)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        step = y - self.gamma * self.blur.adjoint(self.blur.forward(y) - x)
        return self.denoiser(step, self.sigma)


class ImplicitHQS(_PlugAndPlay):
    """G(y, x) = H((AᵀA + βI)⁻¹(Aᵀ x + β y), σ), with β = softplus(θ) > 0."""

    def __init__(self, denoiser, blur, beta: float = 1.0, sigma: float = 0.03) -> None:
        super().__init__(denoiser, blur, sigma)
        if not beta > 0:
            raise ValueError(f"beta must be positive, got {beta!r}")
        self.beta_raw = nn.Parameter(torch.tensor(_inverse_softplus(beta)))

    @property
    def beta(self) -> torch.Tensor:
        return nn.functional.softplus(self.beta_raw)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta
        data_step = self.blur.solve(self.blur.adjoint(x) + beta * y, beta)
        return self.denoiser(data_step, self.sigma)


class ExplicitDeblur(_PlugAndPlay):
    """The explicit baseline: H once on the fixed Tikhonov estimate (AᵀA + λI)⁻¹ Aᵀ x.

    λ is not learned: the chapter chooses it on the validation images (``choose_tikhonov``).
    """

    def __init__(self, denoiser, blur, lam: float = 0.02, sigma: float = 0.03) -> None:
        super().__init__(denoiser, blur, sigma)
        if not lam > 0:
            raise ValueError(f"lam must be positive, got {lam!r}")
        self.lam = lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.denoiser(self.blur.tikhonov(x, self.lam), self.sigma)
