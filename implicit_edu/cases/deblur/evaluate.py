"""Evaluation against the number of iterations t: PSNR_t and the empirical L_t.

* PSNR_t: y_t = G(y_{t−1}, x) from y₀ = x (the observation), as the paper's PSNR runs.
* L_t: from y₀ = 0, the t-step map x ↦ y_t(x) is compared at x and x + δ with
  δ = ε A v_f, v_f the unit singular vector of A at frequency rank f:
  L_t = ‖y_t(x + δ) − y_t(x)‖ / ‖δ‖ (the paper takes the largest over images and f).
  Computed in float64: ‖δ‖ = ε s_f is tiny where the singular value s_f is small.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from implicit_edu.cases.deblur.physics import BlurOperator, psnr

__all__ = [
    "iterates",
    "psnr_against_iterations",
    "fixed_point_outputs",
    "lipschitz_against_iterations",
    "explicit_lipschitz",
]


def _check_operator(operator) -> None:
    if not callable(operator):
        raise TypeError(f"operator must be callable as G(y, x), got {type(operator).__name__}")


def iterates(operator, x: torch.Tensor, steps: int, y0: torch.Tensor | None = None):
    """Yield y_0, y_1, ..., y_steps of y_t = G(y_{t−1}, x) (no gradients); y₀ = x by default."""
    _check_operator(operator)
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    y = x.clone() if y0 is None else y0
    if y.shape != x.shape:
        raise ValueError(f"y0 has shape {tuple(y.shape)}, expected x's {tuple(x.shape)}")
    with torch.no_grad():
        yield y
        for _ in range(steps):
            y = operator(y, x)
            yield y


def psnr_against_iterations(
    operator, x: torch.Tensor, truth: torch.Tensor, steps: int, batch: int = 64
) -> torch.Tensor:
    """PSNR (dB) of y_t against ``truth`` for t = 0, ..., steps: shape (steps + 1, N)."""
    if x.shape != truth.shape:
        raise ValueError(f"x {tuple(x.shape)} and truth {tuple(truth.shape)} differ in shape")
    device = next(operator.parameters()).device if isinstance(operator, nn.Module) else x.device
    rows = []
    for start in range(0, len(x), batch):
        xb, tb = x[start : start + batch].to(device), truth[start : start + batch].to(device)
        rows.append(torch.stack([psnr(y.cpu(), tb.cpu()) for y in iterates(operator, xb, steps)]))
    return torch.cat(rows, dim=1)


def fixed_point_outputs(layer: nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """``layer(x)`` in batches, no gradients (a DEQ at its fixed point, or an explicit model)."""
    device = next(layer.parameters()).device
    with torch.no_grad():
        return torch.cat(
            [layer(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)]
        )


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
    paper is its maximum over the first two axes. The operator is copied to float64.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    op = copy.deepcopy(operator).double().eval()
    device = next(op.parameters()).device
    x = x.to(device=device, dtype=torch.float64)
    out = torch.zeros(len(ranks), len(x), steps, dtype=torch.float64)
    for i, rank in enumerate(ranks):
        v, _ = blur.singular_vector(rank)
        delta = eps * blur.forward(v.expand_as(x[:1]).to(device))  # same δ for every image
        delta_norm = delta.flatten(1).norm(dim=1)
        pair = torch.cat([x, x + delta])
        zero = torch.zeros_like(pair)
        for t, y in enumerate(iterates(op, pair, steps, zero)):
            if t == 0:
                continue
            diff = (y[len(x) :] - y[: len(x)]).flatten(1).norm(dim=1)
            out[i, :, t - 1] = (diff / delta_norm).cpu()
    return out


def explicit_lipschitz(
    model: nn.Module, blur: BlurOperator, x: torch.Tensor, ranks, eps: float = 0.01
) -> torch.Tensor:
    """Ratios ‖E(x + δ_f) − E(x)‖ / ‖δ_f‖ of an explicit model E, δ_f = ε A v_f (float64).

    Returns shape (len(ranks), N): the explicit counterpart of :func:`lipschitz_against_iterations`.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    net = copy.deepcopy(model).double().eval()
    device = next(net.parameters()).device
    x = x.to(device=device, dtype=torch.float64)
    out = torch.zeros(len(ranks), len(x), dtype=torch.float64)
    with torch.no_grad():
        base = net(x)
        for i, rank in enumerate(ranks):
            v, _ = blur.singular_vector(rank)
            delta = eps * blur.forward(v.expand_as(x[:1]).to(device))
            diff = (net(x + delta) - base).flatten(1).norm(dim=1)
            out[i] = (diff / delta.flatten(1).norm(dim=1)).cpu()
    return out
