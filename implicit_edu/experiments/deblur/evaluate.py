"""Evaluation against the number of iterations t: PSNR_t and the empirical L_t.

* PSNR_t: y_t = G(y_{t−1}, x) from y₀ = x (the observation), as the paper's PSNR runs.
* L_t (with :mod:`implicit_edu.analysis.lipschitz`): from y₀ = 0, the t-step map x ↦ y_t(x) is
  compared at x and x + δ with δ = ε A v_f, v_f the unit singular vector of A at frequency rank f:
  L_t = ‖y_t(x + δ) − y_t(x)‖ / ‖δ‖ (the paper takes the largest over images and f).
  Computed in float64: ‖δ‖ = ε s_f is tiny where the singular value s_f is small.
* Contraction: ‖∂G/∂y‖₂ at the iterates from the operator's initial state (the one its solves
  start from), by power iteration: is the trained operator a contraction where it is used?
* Paired comparisons blocked by image: crops of one photograph are not independent, so the
  t-interval of a paired difference is taken over the per-image means of the crop differences.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from implicit_edu.analysis.lipschitz import empirical_lipschitz, lipschitz_trace, spectral_norm
from implicit_edu.core.solvers import iterate
from implicit_edu.experiments.deblur.physics import BlurOperator, psnr
from implicit_edu.runtime.stats import paired_interval

__all__ = [
    "psnr_against_iterations",
    "fixed_point_outputs",
    "lipschitz_against_iterations",
    "explicit_lipschitz",
    "state_jacobian_norms",
    "per_image_means",
    "image_blocked_interval",
]


def _check_operator(operator) -> None:
    if not callable(operator):
        raise TypeError(f"operator must be callable as G(y, x), got {type(operator).__name__}")


def psnr_against_iterations(
    operator, x: torch.Tensor, truth: torch.Tensor, steps: int, batch: int = 64
) -> torch.Tensor:
    """PSNR (dB) of y_t against ``truth`` for t = 0, ..., steps: shape (steps + 1, N).

    The iterates ``y_t = G(y_{t−1}, x)`` start from ``y_0 = x``, the blurred image.
    """
    _check_operator(operator)
    if x.shape != truth.shape:
        raise ValueError(f"x {tuple(x.shape)} and truth {tuple(truth.shape)} differ in shape")
    device = next(operator.parameters()).device if isinstance(operator, nn.Module) else x.device
    rows = []
    for start in range(0, len(x), batch):
        xb, tb = x[start : start + batch].to(device), truth[start : start + batch].to(device)
        with torch.no_grad():
            trajectory = iterate(lambda y, xb=xb: operator(y, xb), xb.clone(), steps)
        rows.append(torch.stack([psnr(y.cpu(), tb.cpu()) for y in trajectory]))
    return torch.cat(rows, dim=1)


def fixed_point_outputs(layer: nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """``layer(x)`` in batches, no gradients (a DEQ at its fixed point, or an explicit model)."""
    device = next(layer.parameters()).device
    with torch.no_grad():
        return torch.cat(
            [layer(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)]
        )


def _measurement_direction(blur: BlurOperator, rank: float, like: torch.Tensor) -> torch.Tensor:
    """A v_f for the unit singular vector v_f at frequency rank f, shaped like one sample."""
    v, _ = blur.singular_vector(rank)
    return blur.forward(v.expand_as(like[:1]).to(like.device))


def _float64_copy(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """A float64 copy of ``model`` in evaluation mode, and ``x`` in float64 on its device."""
    copied = copy.deepcopy(model).double().eval()
    device = next(copied.parameters()).device
    return copied, x.to(device=device, dtype=torch.float64)


def lipschitz_against_iterations(
    operator: nn.Module,
    blur: BlurOperator,
    x: torch.Tensor,
    ranks,
    steps: int,
    eps: float = 0.01,
) -> torch.Tensor:
    """Ratios ‖y_t(x + δ_f) − y_t(x)‖ / ‖δ_f‖ from y₀ = 0, δ_f = ε A v_f.

    Returns a float64 tensor of shape (len(ranks), N, steps) for t = 1, ..., steps; L_t of the
    paper is its maximum over the first two axes. The operator is copied to float64, and the
    trajectories are run by :func:`implicit_edu.analysis.lipschitz.lipschitz_trace`, with the size
    ‖δ_f‖ = ε ‖A v_f‖ of the paper's perturbation.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    op, x = _float64_copy(operator, x)
    rows = []
    for rank in ranks:
        direction = _measurement_direction(blur, rank, x)  # the same δ for every image
        size = eps * float(direction.norm())
        ratios = lipschitz_trace(op, x, direction, size, steps, reduce="none")  # (steps, N)
        rows.append(ratios.T.cpu())
    return torch.stack(rows)


def explicit_lipschitz(
    model: nn.Module, blur: BlurOperator, x: torch.Tensor, ranks, eps: float = 0.01
) -> torch.Tensor:
    """Ratios ‖E(x + δ_f) − E(x)‖ / ‖δ_f‖ of an explicit model E, δ_f = ε A v_f (float64).

    Returns shape (len(ranks), N): the explicit counterpart of :func:`lipschitz_against_iterations`.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    net, x = _float64_copy(model, x)
    rows = []
    for rank in ranks:
        direction = _measurement_direction(blur, rank, x)
        size = eps * float(direction.norm())
        rows.append(empirical_lipschitz(net, x, direction, size).cpu())
    return torch.stack(rows)


def state_jacobian_norms(
    operator: nn.Module, x: torch.Tensor, steps: int, every: int = 1, power_iterations: int = 20
) -> torch.Tensor:
    """``‖∂G/∂y(y_t, x)‖₂`` per image at the iterates ``t = 0, every, 2·every, … < steps``.

    The iterates start from ``operator.initial_state(x)``, where the DEQ's solves start. The
    norm is the local contraction factor of ``y ↦ G(y, x)`` at ``y_t`` (power iteration on
    ``JᵀJ``, :func:`implicit_edu.analysis.lipschitz.spectral_norm`, a lower bound that converges
    from below). Returns float64 of shape ``(len(range(0, steps, every)), N)``.
    """
    _check_operator(operator)
    if not (isinstance(steps, int) and steps >= 1 and isinstance(every, int) and every >= 1):
        raise ValueError(f"steps and every must be integers ≥ 1, got {steps!r}, {every!r}")
    op, x = _float64_copy(operator, x)
    with torch.no_grad():
        y = op.initial_state(x) if hasattr(op, "initial_state") else torch.zeros_like(x)
    rows = []
    for t in range(steps):
        if t % every == 0:
            rows.append(spectral_norm(lambda state: op(state, x), y, iters=power_iterations).cpu())
        with torch.no_grad():
            y = op(y, x)
    return torch.stack(rows)


def per_image_means(values, images, count: int | None = None) -> np.ndarray:
    """The mean of ``values`` (one per crop, or shape (seeds, crops): averaged over the seeds
    first) over the crops of each image: shape (count,), ``images`` giving each crop's image.

    These are the blocks of the chapter's paired comparisons: crops of one photograph are not
    independent, photographs are.
    """
    values = np.asarray(values, dtype=float)
    images = np.asarray(images).ravel()
    if values.ndim == 2:
        values = values.mean(axis=0)
    if values.shape != images.shape:
        raise ValueError(
            f"values {values.shape} and image indices {images.shape} must match per crop"
        )
    count = int(images.max()) + 1 if count is None else count
    if set(np.unique(images)) != set(range(count)):
        raise ValueError(f"every image 0..{count - 1} needs at least one crop")
    return np.array([values[images == i].mean() for i in range(count)])


def image_blocked_interval(differences, images, confidence: float = 0.95):
    """Paired differences blocked by image: (mean, ±, n) of the t-quantile interval over the
    per-image means of the crop differences (:func:`per_image_means`), n = number of images.

    See :func:`implicit_edu.runtime.stats.paired_interval`.
    """
    return paired_interval(per_image_means(differences, images), confidence)
