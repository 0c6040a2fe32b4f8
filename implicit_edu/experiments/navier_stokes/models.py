"""Fourier neural operators, the explicit FNO and the implicit FNO-DEQ (chapter "Steady
Navier–Stokes").

A *Fourier layer* (Li et al., 2021) maps a field z with C channels on an N × N grid to

    σ( 𝒦z + Wz + b + e ),    (𝒦z)^(k) = R(k) ẑ(k) for the lowest modes, 0 elsewhere,    (1)

where ẑ is the 2-D Fourier transform, R(k) a learned complex C × C matrix per retained mode, W a
1 × 1 convolution (a C × C matrix at every point), σ the GELU and e an optional *injection* of the
input. Because R acts on Fourier modes and W on points, the same weights apply to any grid N: an
FNO trained at N = 32 can be evaluated at N = 64 (the chapter does), and it commutes with periodic
shifts, as the solution map of the periodic problem does.

* :class:`ExplicitFNO`: lift P (1 × 1, 1 → C), ``layers`` Fourier layers with their own weights,
  projection Q (1 × 1, C → 2C → 1): ŷ = Q(F_L ∘ … ∘ F_1(Pφ)).
* :class:`FNOBlock`, the implicit operator G(z, e): ``layers`` Fourier layers applied in turn,
  each with the injection e = Pφ added inside σ, so that z* = G(z*, Pφ) depends on φ.
* :class:`ImplicitFNO` (the FNO-DEQ): the fixed point z* of G, found by
  :class:`~implicit_edu.core.deq.DEQ`, then ŷ = Q(z*). Its t-step maps are ŷ_t = Q(z_t) with z_0 =
  0.

Inputs and outputs are scaled by constants stored in the model (the training set's rms of φ
and of ω), so that ``model(phi)`` takes and returns fields in physical units.
"""

from __future__ import annotations

import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.core.deq import DEQ
from implicit_edu.core.solvers import iterate

__all__ = [
    "SpectralConv",
    "FourierLayer",
    "FNOBlock",
    "ExplicitFNO",
    "ImplicitFNO",
]


class SpectralConv(nn.Module):
    """The Fourier part 𝒦 of (1): a learned C × C complex matrix on each low mode.

    ``torch.fft.rfft2`` keeps k_x ≥ 0 (columns 0 … N/2), so the retained modes are the two
    corners 0 ≤ k_x < m with 0 ≤ k_y < m and with −m ≤ k_y < 0 (the last m rows of the
    spectrum); 2 corners × m² modes × C² complex entries = 4 m² C² real weights.
    """

    def __init__(self, channels: int, modes: int):
        super().__init__()
        self.channels, self.modes = channels, modes
        scale = 0.5 / channels
        shape = (2, channels, channels, modes, modes, 2)  # (corner, in, out, k_y, k_x, re/im)
        self.weight = nn.Parameter(scale * torch.randn(shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[-1]
        m = self.modes
        if n < 2 * m:
            raise ValueError(
                f"a grid of {n} points resolves only {n // 2} modes, fewer than the layer's "
                f"{m}: use N ≥ {2 * m}"
            )
        spectrum = torch.fft.rfft2(z)
        weight = torch.view_as_complex(self.weight.to(z.dtype))
        out = torch.zeros_like(spectrum)
        out[..., :m, :m] = torch.einsum("bixy,ioxy->boxy", spectrum[..., :m, :m], weight[0])
        out[..., -m:, :m] = torch.einsum("bixy,ioxy->boxy", spectrum[..., -m:, :m], weight[1])
        return torch.fft.irfft2(out, s=(n, n))


class FourierLayer(nn.Module):
    """One Fourier layer (1): σ(𝒦z + Wz + b + e), with e = 0 when no injection is given."""

    def __init__(self, channels: int, modes: int):
        super().__init__()
        self.spectral = SpectralConv(channels, modes)
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, z: torch.Tensor, injection: torch.Tensor | None = None) -> torch.Tensor:
        pre = self.spectral(z) + self.pointwise(z)
        if injection is not None:
            pre = pre + injection
        return nn.functional.gelu(pre)


def _check_width(width: int, modes: int, layers: int) -> None:
    check_positive_integers(width=width, modes=modes, layers=layers)


class _Scaled(nn.Module):
    """Shared parts: the input/output scales, the lift P and the projection Q."""

    def __init__(self, width: int, input_scale: float, output_scale: float):
        super().__init__()
        self.width = width
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))
        self.register_buffer("output_scale", torch.tensor(float(output_scale)))
        self.lift = nn.Conv2d(1, width, 1)
        self.project = nn.Sequential(
            nn.Conv2d(width, 2 * width, 1), nn.GELU(), nn.Conv2d(2 * width, 1, 1)
        )

    def lifted(self, phi: torch.Tensor) -> torch.Tensor:
        """P applied to the scaled forcing: (B, N, N) → (B, C, N, N), on the model's device
        (the forcing may come from the CPU)."""
        if phi.dim() != 3 or phi.shape[-1] != phi.shape[-2]:
            raise ValueError(
                f"the forcing must have shape (B, N, N) on a square grid, got {tuple(phi.shape)}"
            )
        phi = phi.to(self.input_scale.device)
        return self.lift((phi / self.input_scale.to(phi.dtype))[:, None])

    def read(self, z: torch.Tensor) -> torch.Tensor:
        """Q applied to the state, back in physical units: (B, C, N, N) → (B, N, N)."""
        return self.project(z)[:, 0] * self.output_scale.to(z.dtype)


class ExplicitFNO(_Scaled):
    """ŷ = Q(F_L ∘ … ∘ F_1(Pφ)): ``layers`` Fourier layers, each with its own weights."""

    def __init__(
        self,
        *,
        width: int,
        modes: int,
        layers: int,
        input_scale: float = 1.0,
        output_scale: float = 1.0,
    ):
        _check_width(width, modes, layers)
        super().__init__(width, input_scale, output_scale)
        self.layers = nn.ModuleList(FourierLayer(width, modes) for _ in range(layers))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        z = self.lifted(phi)
        for layer in self.layers:
            z = layer(z)
        return self.read(z)


class FNOBlock(nn.Module):
    """The implicit operator G(z, e) = F_L(… F_1(z, e) …, e): weight-tied, with injection e."""

    def __init__(self, width: int, modes: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(FourierLayer(width, modes) for _ in range(layers))

    def forward(self, z: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            z = layer(z, injection)
        return z

    def initial_state(self, injection: torch.Tensor) -> torch.Tensor:
        """z₀ = 0, the start of every solve and of the t-step maps."""
        return torch.zeros_like(injection)


class ImplicitFNO(_Scaled):
    """The FNO-DEQ: z* = G(z*, Pφ) with G an :class:`FNOBlock`, and ŷ = Q(z*).

    ``self.deq`` is the :class:`~implicit_edu.core.deq.DEQ` layer that solves for z* (its solver,
    tolerance and backward mode can be changed between training phases); :meth:`iterates` gives the
    t-step maps ŷ_t = Q(z_t) of plain iteration from z₀ = 0, and :meth:`anderson_iterates` those
    of Anderson's method with a budget of t evaluations of G.
    """

    def __init__(
        self,
        *,
        width: int,
        modes: int,
        layers: int,
        input_scale: float = 1.0,
        output_scale: float = 1.0,
        solver: str = "anderson",
        max_iter: int = 24,
        tol: float = 1e-4,
        phantom_steps: int = 3,
        phantom_tau: float = 0.8,
    ):
        _check_width(width, modes, layers)
        super().__init__(width, input_scale, output_scale)
        self.block = FNOBlock(width, modes, layers)
        self.deq = DEQ(
            self.block,
            solver=solver,
            backward="phantom",
            tol=tol,
            max_iter=max_iter,
            solver_options={"m": 5} if solver == "anderson" else None,
            phantom_steps=phantom_steps,
            phantom_tau=phantom_tau,
            warn_on_nonconvergence=False,
        )

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.read(self.deq(self.lifted(phi)))

    def jacobian_penalty(self, phi: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """‖∂G/∂z‖²_F / n at the state z, estimated with one Gaussian probe v (Hutchinson):
        E‖vᵀ ∂G/∂z‖² = ‖∂G/∂z‖²_F. Added to the loss, it pulls the block towards a contraction
        (the Jacobian regularisation of Bai, Koltun and Kolter, 2021); differentiable in θ."""
        injection = self.lifted(phi)
        z = z.detach().requires_grad_()
        out = self.block(z, injection)
        probe = torch.randn_like(z)
        (vjp,) = torch.autograd.grad(out, z, probe, create_graph=True)
        return vjp.pow(2).sum() / probe.numel()

    def states(self, phi: torch.Tensor, steps: int) -> list[torch.Tensor]:
        """z_1, …, z_steps of plain iteration z_t = G(z_{t−1}, Pφ) from z₀ = 0 (with autograd)."""
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be an integer ≥ 1, got {steps!r}")
        injection = self.lifted(phi)
        start = self.block.initial_state(injection)
        return iterate(lambda z: self.block(z, injection), start, steps)[1:]

    def iterates(self, phi: torch.Tensor, steps: int) -> list[torch.Tensor]:
        """The t-step outputs ŷ_t = Q(z_t), t = 1, …, steps, of plain iteration from z₀ = 0."""
        return [self.read(z) for z in self.states(phi, steps)]

    @torch.no_grad()
    def anderson_states(self, phi: torch.Tensor, evaluations: int, memory: int = 5):
        """Anderson's method on z = G(z, Pφ) from z₀ = 0 for ``evaluations`` evaluations of G.

        Returns ``(states, images)``: the iterates z_0, z_1, … at which G was evaluated and
        their images G(z_t). Fewer than ``evaluations`` when Anderson stops at an exact fixed
        point.
        """
        from implicit_edu.core.solvers import fixed_point

        injection = self.lifted(phi)
        states: list[torch.Tensor] = []
        images: list[torch.Tensor] = []

        def g(z: torch.Tensor) -> torch.Tensor:
            states.append(z)
            images.append(self.block(z, injection))
            return images[-1]

        start = self.block.initial_state(injection)
        fixed_point(g, start, "anderson", tol=1e-12, max_iter=evaluations, m=memory)
        return states, images

    def anderson_iterates(self, phi: torch.Tensor, steps: int, memory: int = 5):
        """ŷ_t = Q(z_t), t = 1, …, steps, with z_t the iterate of Anderson's method after t
        evaluations of G from z₀ = 0 (the paper's "Anderson step budget" t)."""
        states, images = self.anderson_states(phi, steps + 1, memory)
        states = states[1:] + [images[-1]] * (steps + 1 - len(states))  # an exact fixed point stays
        return [self.read(z) for z in states[:steps]]
