"""Measurements on the trained Navier–Stokes models (chapter "Steady Navier–Stokes").

* :func:`errors_against_iterations`: the relative test error of the FNO-DEQ's t-step outputs
  ŷ_t = Q(z_t), t = 1, …, T, for plain iteration and for Anderson's method with budget t;
* :func:`anderson_trace`: the Anderson iterates z_t and each sample's relative residual
  ‖G(z_t) − z_t‖ / ‖G(z_t)‖, from which the share of converged samples and their iterations;
* :func:`contraction_along_path`: ‖∂G/∂z‖₂ at the iterates z_t (power iteration,
  :func:`implicit_edu.analysis.lipschitz.spectral_norm`): is the learned block a contraction there?
* :func:`lipschitz_against_iterations`: the paper's L_t, the largest ratio
  ‖ŷ_t(φ + δ) − ŷ_t(φ)‖ / ‖δ‖ over perturbations δ along Fourier modes of the forcing band;
* :func:`explicit_ratios`: the same ratio for a one-pass (explicit) model;
* :func:`true_map_ratios`: the same ratios for the solution map φ ↦ ω itself (re-solved);
* :func:`paired_interval`: mean and t-quantile interval of paired differences.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from implicit_edu.analysis.lipschitz import spectral_norm
from implicit_edu.experiments.navier_stokes.models import ImplicitFNO
from implicit_edu.experiments.navier_stokes.physics import solve_steady
from implicit_edu.experiments.navier_stokes.train import relative_errors
from implicit_edu.runtime.stats import paired_interval  # re-exported: the chapter uses it here

__all__ = [
    "anderson_trace",
    "flows_per_chunk",
    "errors_against_iterations",
    "contraction_along_path",
    "lipschitz_against_iterations",
    "explicit_ratios",
    "true_map_ratios",
    "paired_interval",
]


def _as_model_input(model, forcing: torch.Tensor) -> torch.Tensor:
    """The forcing on the model's device, in its real precision (float32 for trained models)."""
    weight = next(p for p in model.parameters() if not p.is_complex())
    return forcing.to(device=weight.device, dtype=weight.dtype)


@torch.no_grad()
def anderson_trace(
    model: ImplicitFNO,
    forcing: torch.Tensor,
    steps: int,
    memory: int = 5,
    *,
    keep_states: bool = True,
    chunk: int | None = None,
):
    """Anderson's method on z = G(z, Pφ) from z₀ = 0 for ``steps`` evaluations of G.

    Returns ``(states, residuals)``: the iterates z_0, …, z_{steps−1} at which G was evaluated
    (``None`` with ``keep_states=False``), and a (steps, B) tensor of their relative residuals
    ‖G(z_t) − z_t‖ / ‖G(z_t)‖. Every iterate and its image are held until the end of a solve, so
    for many flows on a large grid pass ``keep_states=False`` and a ``chunk`` of flows per solve
    (default: :func:`flows_per_chunk` of the grid; each flow is solved on its own, so the chunk
    does not change the result).
    """
    chunk = flows_per_chunk(forcing.shape[-1]) if chunk is None else chunk
    if keep_states and chunk < forcing.shape[0]:
        raise ValueError(
            f"keep_states=True needs the {forcing.shape[0]} flows in one solve (chunk={chunk}): "
            "pass keep_states=False, or fewer flows"
        )
    states, residuals = [], []
    for start in range(0, forcing.shape[0], chunk):
        phi = _as_model_input(model, forcing[start : start + chunk])
        chunk_states, images = model.anderson_states(phi, steps, memory)
        residuals.append(
            torch.stack(
                [
                    torch.linalg.vector_norm((out - z).flatten(1), dim=1)
                    / torch.linalg.vector_norm(out.flatten(1), dim=1)
                    for z, out in zip(chunk_states, images, strict=True)
                ]
            ).cpu()
        )
        states = chunk_states if keep_states else None
    return states, torch.cat(residuals, dim=1)


def flows_per_chunk(grid: int, cells: int = 256 * 32**2) -> int:
    """How many flows on a ``grid``² grid one evaluation solve takes at a time: ``cells`` grid
    points in all (the ``cpu`` profile's 256 test flows on 32², one solve; the ``gpu`` profile's
    64² flows in chunks of 64, so that keeping every Anderson iterate fits a 16 GB GPU)."""
    return max(1, cells // grid**2)


@torch.no_grad()
def errors_against_iterations(
    model: ImplicitFNO, forcing: torch.Tensor, omega: torch.Tensor, steps: int, chunk: int = 64
) -> dict[str, np.ndarray]:
    """Relative errors of ŷ_t, t = 1 … steps: ``{"picard": (steps, B), "anderson": (steps, B)}``."""
    picard, anderson = [], []
    for start in range(0, forcing.shape[0], chunk):
        phi = _as_model_input(model, forcing[start : start + chunk])
        target = omega[start : start + chunk]
        for outputs, store in (
            (model.iterates(phi, steps), picard),
            (model.anderson_iterates(phi, steps), anderson),
        ):
            store.append(torch.stack([relative_errors(y.double().cpu(), target) for y in outputs]))
    return {"picard": torch.cat(picard, 1).numpy(), "anderson": torch.cat(anderson, 1).numpy()}


def contraction_along_path(
    model: ImplicitFNO, forcing: torch.Tensor, at: list[int], iters: int = 30
) -> np.ndarray:
    """‖∂G/∂z (z_t, Pφ)‖₂ for each t in ``at`` (Anderson iterates from z₀ = 0): (len(at), B)."""
    steps = max(at) + 1
    states, _ = anderson_trace(model, forcing, steps)
    injection = model.lifted(_as_model_input(model, forcing)).detach()
    norms = [
        spectral_norm(lambda z: model.block(z, injection), states[t], iters=iters).cpu() for t in at
    ]
    return torch.stack(norms).numpy()


def _perturbed(forcing: torch.Tensor, directions: torch.Tensor, eps: float):
    """[φ; φ + δ_1; …; φ + δ_K] per sample, with δ_k = eps ‖φ‖ d_k: ((K+1)·B, N, N), and ‖δ‖."""
    size = torch.linalg.vector_norm(forcing.flatten(1), dim=1)  # (B,)
    deltas = eps * size[None, :, None, None] * directions[:, None]  # (K, B, N, N)
    batch = torch.cat([forcing[None], forcing[None] + deltas]).reshape(-1, *forcing.shape[1:])
    return batch, eps * size


def _max_ratio(outputs: torch.Tensor, delta_size: torch.Tensor) -> float:
    """max_k ‖y(φ + δ_k) − y(φ)‖ / ‖δ‖ from outputs on the batch [φ; φ + δ_1; …; φ + δ_K]."""
    outputs = outputs.double().cpu()
    change = torch.linalg.vector_norm((outputs[1:] - outputs[:1]).flatten(1), dim=1)
    return float(change.max() / delta_size)


@torch.no_grad()
def lipschitz_against_iterations(
    model: ImplicitFNO,
    forcing: torch.Tensor,
    directions: torch.Tensor,
    eps: float,
    steps: int,
    method: str = "picard",
) -> np.ndarray:
    """Per sample, L_t = max_k ‖ŷ_t(φ + δ_k) − ŷ_t(φ)‖ / ‖δ_k‖ for t = 1 … steps: (steps, B).

    ``directions`` are unit fields (K, N, N); δ_k = eps ‖φ‖ d_k. The t-step maps start from
    z₀ = 0 and use plain iteration (``method="picard"``) or Anderson's method with budget t.
    The model runs in its own precision (float32): the perturbations are a sizeable fraction
    of φ (1 % on the page), far above its rounding.
    """
    if method not in ("picard", "anderson"):
        raise ValueError(f"method must be 'picard' or 'anderson', got {method!r}")
    ratios = []
    for i in range(forcing.shape[0]):
        batch, delta_size = _perturbed(forcing[i : i + 1].double(), directions.double(), eps)
        batch = _as_model_input(model, batch)
        if method == "picard":
            outputs = model.iterates(batch, steps)
        else:
            outputs = model.anderson_iterates(batch, steps)
        ratios.append([_max_ratio(y, delta_size[0]) for y in outputs])
    return np.array(ratios).T


@torch.no_grad()
def explicit_ratios(model, forcing: torch.Tensor, directions: torch.Tensor, eps: float):
    """Per sample, max_k ‖ŷ(φ + δ_k) − ŷ(φ)‖ / ‖δ_k‖ of a one-pass (explicit) model: (B,)."""
    ratios = []
    for i in range(forcing.shape[0]):
        batch, delta_size = _perturbed(forcing[i : i + 1].double(), directions.double(), eps)
        ratios.append(_max_ratio(model(_as_model_input(model, batch)), delta_size[0]))
    return np.array(ratios)


def true_map_ratios(
    forcing: torch.Tensor,
    omega: torch.Tensor,
    directions: torch.Tensor,
    eps: float,
    nu: float,
    drag: float,
    tol: float = 1e-9,
) -> np.ndarray:
    """Per sample, max_k ‖ω(φ + δ_k) − ω(φ)‖ / ‖δ_k‖ of the solution map itself: (B,).

    Each perturbed flow is re-solved from ω(φ); the unperturbed one is re-solved too, to the
    same tolerance, so that both sides of the difference carry the same solver error.
    """
    ratios = []
    for i in range(forcing.shape[0]):
        batch, delta_size = _perturbed(forcing[i : i + 1], directions.double(), eps)
        start = omega[i : i + 1].expand_as(batch).contiguous()
        result = solve_steady(batch, nu, drag, tol=tol, omega0=start, march_steps=0)
        if not bool(result.converged.all()):
            ratios.append(math.nan)  # a perturbed flow found no steady state: no ratio
            continue
        change = torch.linalg.vector_norm((result.omega[1:] - result.omega[:1]).flatten(1), dim=1)
        ratios.append(float(change.max() / delta_size[0]))
    return np.array(ratios)
