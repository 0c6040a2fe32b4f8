"""Steady 2-D Navier–Stokes in vorticity form, solved pseudo-spectrally (chapter "Steady
Navier–Stokes").

Conventions (the chapter's equation (eq-ns-steady)):

* the periodic square [0, 2π)²; a field is an array ``[..., y, x]`` with y = 2πi/N on row i and
  x = 2πj/N on column j, so the wavenumber k_y runs along rows and k_x along columns;
* ω is the vorticity, ψ the stream function with Δψ = −ω, and the velocity is (u, v) with
  u = ∂ψ/∂y, v = −∂ψ/∂x (then ω = ∂v/∂x − ∂u/∂y);
* ``forcing`` is the vorticity forcing φ (the curl of the body force), ν > 0 the viscosity and
  α ≥ 0 a linear drag (``drag``). The steady equation is

      u·∇ω = νΔω − αω + φ,                                                       (1)

  and the *relative steady residual* of a field ω is

      r(ω) = ‖u·∇ω − νΔω + αω − φ‖ / ‖φ‖,                                        (2)

  with the product u·∇ω dealiased by the 2/3 rule: both factors and the product keep only the
  modes with abs(k_x), abs(k_y) < N/3.

In Fourier space (1) reads L ω̂ = φ̂ − N̂(ω) with the diagonal L = ν|k|² + α and the nonlinear
term N(ω) = u·∇ω. :func:`solve_steady` finds a zero of (2) as a fixed point of one time step of
the unsteady equation ∂ω/∂t + N(ω) = −Lω + φ,

      ω_{n+1} = T(ω_n),     T(ω) = ω  ⇔  L ω̂ = φ̂ − N̂(ω),                          (3)

with Crank–Nicolson for L and Heun's method for N (:func:`time_step`). Iterating T is marching
the flow forward in time, which converges when the steady state is stable but slowly (the slowest
mode decays like e^{−(ν+α)t}, and Δt is capped by the CFL condition); Anderson acceleration of the
same map (the solver of Part III, :func:`implicit_edu.core.solvers.fixed_point`) reaches the steady
state in a few hundred evaluations. A sample counts as converged only when its steady residual
(2), computed afresh, is below ``tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from implicit_edu.core.solvers import fixed_point

__all__ = [
    "SpectralGrid",
    "SteadyResult",
    "advection",
    "velocity",
    "solve_steady",
    "steady_residual",
    "stokes_solution",
    "kolmogorov_forcing",
    "cfl_step",
    "time_step",
]


class SpectralGrid:
    """Wavenumbers and the 2/3 dealiasing mask of an N × N periodic grid, for ``rfft2``.

    ``ky`` has shape (N, 1) (rows, all N frequencies) and ``kx`` shape (1, N//2 + 1) (columns,
    the non-negative half that ``torch.fft.rfft2`` keeps).
    """

    def __init__(self, n: int, dtype: torch.dtype = torch.float64, device=None):
        self.n = n
        k = torch.fft.fftfreq(n, 1.0 / n, dtype=dtype, device=device)
        self.ky = k[:, None]
        self.kx = torch.fft.rfftfreq(n, 1.0 / n, dtype=dtype, device=device)[None, :]
        self.k2 = self.kx**2 + self.ky**2
        self.inverse_k2 = torch.where(self.k2 > 0, 1.0 / self.k2.clamp_min(1.0), 0.0)
        self.dealias = ((self.kx.abs() < n / 3) & (self.ky.abs() < n / 3)).to(dtype)

    def fft(self, field: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(field)

    def ifft(self, spectrum: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(spectrum, s=(self.n, self.n))


def _check_field(name: str, field: torch.Tensor) -> None:
    if not isinstance(field, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor of shape (B, N, N), got {type(field)}")
    if field.dim() != 3:
        raise ValueError(
            f"{name} must have shape (B, N, N) (a batch of fields indexed [sample, y, x]), got "
            f"shape {tuple(field.shape)}; add a batch dimension with {name}[None]"
        )
    if field.shape[-1] != field.shape[-2]:
        raise ValueError(
            f"{name} must be on a square N × N grid, got {field.shape[-2]} × {field.shape[-1]}"
        )
    if field.shape[-1] < 4:
        raise ValueError(f"the grid is too small ({field.shape[-1]} points); use N ≥ 4")
    if not field.is_floating_point():
        raise TypeError(f"{name} must be float32 or float64, got {field.dtype}")
    if not bool(torch.isfinite(field).all()):
        raise ValueError(f"{name} contains nan or inf: every value must be finite")


def _check_coefficients(nu: float, drag: float) -> None:
    if not (isinstance(nu, (int, float)) and math.isfinite(nu) and nu > 0):
        raise ValueError(f"the viscosity nu must be a finite number > 0, got {nu!r}")
    if not (isinstance(drag, (int, float)) and math.isfinite(drag) and drag >= 0):
        raise ValueError(f"the drag must be a finite number >= 0, got {drag!r}")


def velocity(omega_hat: torch.Tensor, grid: SpectralGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v) = (∂ψ/∂y, −∂ψ/∂x) with ψ̂ = ω̂ / ‖k‖², from the spectrum of ω."""
    psi_hat = omega_hat * grid.inverse_k2
    return grid.ifft(1j * grid.ky * psi_hat), grid.ifft(-1j * grid.kx * psi_hat)


def advection(omega_hat: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """The spectrum of the dealiased product u·∇ω = u ∂ω/∂x + v ∂ω/∂y (2/3 rule)."""
    omega_hat = omega_hat * grid.dealias
    u, v = velocity(omega_hat, grid)
    d_dx = grid.ifft(1j * grid.kx * omega_hat)
    d_dy = grid.ifft(1j * grid.ky * omega_hat)
    return grid.fft(u * d_dx + v * d_dy) * grid.dealias


def steady_residual(
    omega: torch.Tensor, forcing: torch.Tensor, nu: float, drag: float = 0.0
) -> torch.Tensor:
    """The relative steady residual (2) of each sample: shape (B,)."""
    _check_field("omega", omega)
    _check_field("forcing", forcing)
    _check_coefficients(nu, drag)
    if omega.shape != forcing.shape:
        raise ValueError(
            f"omega and forcing must have the same shape, got {tuple(omega.shape)} and "
            f"{tuple(forcing.shape)}"
        )
    grid = SpectralGrid(omega.shape[-1], omega.dtype, omega.device)
    omega_hat = grid.fft(omega)
    linear = nu * grid.k2 + drag
    residual = grid.ifft(advection(omega_hat, grid) + linear * omega_hat) - forcing
    size = torch.linalg.vector_norm(forcing.flatten(1), dim=1)
    return torch.linalg.vector_norm(residual.flatten(1), dim=1) / size.clamp_min(
        torch.finfo(forcing.dtype).tiny
    )


def stokes_solution(forcing: torch.Tensor, nu: float, drag: float = 0.0) -> torch.Tensor:
    """The solution of the linear (Stokes) problem ν(−Δ)ω + αω = φ: advection dropped."""
    _check_field("forcing", forcing)
    _check_coefficients(nu, drag)
    grid = SpectralGrid(forcing.shape[-1], forcing.dtype, forcing.device)
    linear = nu * grid.k2 + drag
    spectrum = grid.fft(forcing)
    return grid.ifft(torch.where(linear > 0, spectrum / linear.clamp_min(1e-300), 0.0))


def kolmogorov_forcing(n: int, wavenumber: int = 4, amplitude: float = 1.0, dtype=torch.float64):
    """φ = A sin(k y) on an n × n grid, shape (1, n, n): the forcing of Kolmogorov flow."""
    y = 2 * math.pi * torch.arange(n, dtype=dtype) / n
    return (amplitude * torch.sin(wavenumber * y))[None, :, None].expand(1, n, n).contiguous()


@dataclass
class SteadyResult:
    """What :func:`solve_steady` found.

    Attributes:
        omega: (B, N, N) the vorticity of each sample (the best iterate where not converged).
        converged: (B,) bool, True iff the steady residual (2) of that sample is ≤ ``tol``.
        residual: (B,) the steady residual (2) of each returned field.
        iterations: evaluations of the time-step map (3) by the accelerated solve.
    """

    omega: torch.Tensor
    converged: torch.Tensor
    residual: torch.Tensor
    iterations: int


#: Anderson's regularisation in :func:`solve_steady`: tiny, since the slow modes of the flow need
#: long, accurate memories (the default 1e-4 of ``fixed_point`` stalls at residuals near 1e-5).
ANDERSON_REGULARISATION = 1e-12

#: The longest time step :func:`cfl_step` returns, for flows so slow that the CFL limit is loose.
MAX_STEP = 1.0


def cfl_step(omega: torch.Tensor, courant: float = 0.8) -> float:
    """Δt = courant · Δx / max|u| over the batch (the advective CFL limit), at most MAX_STEP."""
    grid = SpectralGrid(omega.shape[-1], omega.dtype, omega.device)
    u, v = velocity(grid.fft(omega), grid)
    speed = float(torch.sqrt(u**2 + v**2).max())
    return min(MAX_STEP, courant * (2 * math.pi / grid.n) / max(speed, 1e-12))


def time_step(forcing: torch.Tensor, nu: float, drag: float, dt: float):
    """The map T of (3): one time step of length Δt, Crank–Nicolson for νΔ − α and Heun's method
    (an Euler predictor, then the trapezoidal rule) for the advection. T(ω) = ω exactly when ω
    is a steady state: then the predictor equals ω and the step reduces to (1)."""
    _check_field("forcing", forcing)
    _check_coefficients(nu, drag)
    grid = SpectralGrid(forcing.shape[-1], forcing.dtype, forcing.device)
    forcing_hat = grid.fft(forcing)
    linear = nu * grid.k2 + drag
    explicit_part, implicit_part = 1 - dt / 2 * linear, 1 + dt / 2 * linear

    def step(omega: torch.Tensor) -> torch.Tensor:
        omega_hat = grid.fft(omega)
        advected = advection(omega_hat, grid)
        predictor = (explicit_part * omega_hat + dt * (forcing_hat - advected)) / implicit_part
        mean_advection = (advected + advection(predictor, grid)) / 2
        return grid.ifft((explicit_part * omega_hat + dt * (forcing_hat - mean_advection))
                         / implicit_part)  # fmt: skip

    return step


def solve_steady(
    forcing: torch.Tensor,
    nu: float,
    drag: float = 0.0,
    *,
    tol: float = 1e-6,
    courant: float = 0.8,
    march_steps: int = 50,
    max_iter: int = 800,
    memory: int = 30,
    omega0: torch.Tensor | None = None,
) -> SteadyResult:
    """Steady states of (1) for a batch of forcings φ (B, N, N), float32 or float64.

    The map T of (3) is one time step of length Δt: Crank–Nicolson for the linear terms and
    Heun's method (a predictor and a trapezoidal corrector) for the advection, with Δt at
    ``courant`` times the CFL limit Δx / max|u| of the starting field. Its fixed points are
    exactly the steady states. From the Stokes solution (or ``omega0``), ``march_steps`` plain
    steps damp the fastest transients; then Anderson acceleration (memory ``memory``, with a
    tiny regularisation: the slow modes need long, accurate memories) solves T(ω) = ω with at
    most ``max_iter`` evaluations of T. Anderson can also land on a steady state that is
    unstable in time, which marching would leave; either way the result satisfies (1). A sample
    is converged iff its steady residual (2) is ≤ ``tol``: strong forcing may have no stable
    steady state, and such samples are reported as not converged, never silently returned as
    solutions.

    Raises:
        ValueError: ν ≤ 0, α < 0, a non-square grid, a field that is not (B, N, N), non-finite
            forcing, or a forcing with a nonzero mean without drag (no steady state exists:
            the mean vorticity would grow forever).
    """
    _check_field("forcing", forcing)
    _check_coefficients(nu, drag)
    if not (tol > 0 and 0 < courant <= 1 and memory >= 1 and max_iter >= 1 and march_steps >= 0):
        raise ValueError("need tol > 0, 0 < courant ≤ 1, memory ≥ 1, max_iter ≥ 1, march_steps ≥ 0")
    grid = SpectralGrid(forcing.shape[-1], forcing.dtype, forcing.device)
    if drag == 0:
        mean = forcing.mean(dim=(-2, -1)).abs()
        scale = forcing.flatten(1).abs().amax(dim=1)
        if bool((mean > 1e-10 * scale.clamp_min(1e-300)).any()):
            raise ValueError(
                "a forcing with a nonzero mean has no steady state without drag (the mean "
                "vorticity grows without bound): subtract its mean or pass drag > 0"
            )
    if omega0 is None:
        omega = stokes_solution(forcing, nu, drag)
    else:
        _check_field("omega0", omega0)
        omega = omega0.to(forcing.dtype)
    dt = cfl_step(omega, courant)
    step = time_step(forcing, nu, drag, dt)

    with torch.no_grad():
        for _ in range(march_steps):
            omega = step(omega)
        omega = torch.where(torch.isfinite(omega), omega, 0.0)
        # Anderson stops on ‖T(ω) − ω‖ / ‖T(ω)‖. Mode by mode, T(ω) − ω is about the steady
        # residual times Δt / (1 + Δt L/2), and ‖T(ω)‖ ≈ ‖ω‖ ≤ ‖φ‖ / (ν + α) (the energy bound),
        # so this inner tolerance keeps r(ω) near or below tol; (2) itself then decides.
        largest = float((nu * grid.k2 + drag).max())
        inner_tol = 0.5 * tol * (nu + drag) * dt / (1 + dt * largest / 2)
        result = fixed_point(
            step,
            omega,
            "anderson",
            tol=inner_tol,
            max_iter=max_iter,
            m=memory,
            lam=ANDERSON_REGULARISATION,
        )
        omega = result.y
        residual = steady_residual(omega, forcing, nu, drag)
        finite = torch.isfinite(omega.flatten(1)).all(dim=1)
    return SteadyResult(omega, (residual <= tol) & finite, residual, result.iterations)
