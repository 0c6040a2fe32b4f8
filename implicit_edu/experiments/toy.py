"""The 1/x toy operator of chapter 2 ("The 1/x operator").

Two ways to make ``y = 1/x`` the fixed point of an operator:

* the *naive* operator ``G(y, x) = (1 − η) y + η F(x)`` with ``F(x) = 1/x``: it converges, but it
  contains ``F`` itself, so ``∂G/∂x = −η/x²`` blows up like the target does;
* the *real* implicit operator ``G(y, x) = y − η (x y − 1)``, one gradient-like step on the equation
  ``x y − 1 = 0``: it is a polynomial, with ``∂G/∂x = −η y`` and ``∂G/∂y = 1 − η x``, and its
  fixed point is ``1/x`` whenever ``0 < η x < 2``.

From ``y₀ = 0`` the iterates have the closed form ``y_t(x) = (1 − (1 − η x)^t) / x`` (chapter 2
derives it with sympy), a polynomial of degree ``t − 1`` in ``x`` whose Lipschitz constant grows
with ``t``. The second half of the module trains two tiny models on ``1/x``: an explicit MLP and a
learned implicit operator of the same shape as ``y − η(a(x) y − b(x))``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from implicit_edu.core.solvers import fixed_point
from implicit_edu.runtime.notebook import show_progress

Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_eta(eta: float) -> None:
    if not 0 < float(eta):
        raise ValueError(f"the step size η must be positive, got η = {eta}")


def inverse_operator(eta: float) -> Operator:
    """The implicit operator ``G(y, x) = y − η (x y − 1)`` whose fixed point is ``1/x``."""
    _check_eta(eta)

    def G(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y - eta * (x * y - 1.0)

    return G


def naive_operator(F: Callable[[torch.Tensor], torch.Tensor], eta: float) -> Operator:
    """The naive operator ``G(y, x) = (1 − η) y + η F(x)``: its fixed point is ``F(x)``."""
    if not callable(F):
        raise TypeError(f"F must be a callable target map x -> F(x), got {type(F).__name__}")
    if not 0 < eta <= 1:
        raise ValueError(f"the naive operator needs 0 < η ≤ 1 to contract, got η = {eta}")

    def G(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (1.0 - eta) * y + eta * F(x)

    return G


def closed_form_iterate(x: torch.Tensor, eta: float, t: int) -> torch.Tensor:
    """``y_t(x) = (1 − (1 − η x)^t) / x``, the t-th iterate of the 1/x operator from ``y₀ = 0``.

    At ``x = 0`` the expression is continued by its limit ``t η`` (the polynomial has no pole).
    """
    _check_eta(eta)
    x = torch.as_tensor(x)
    safe = torch.where(x == 0, torch.ones_like(x), x)
    value = (1.0 - (1.0 - eta * safe) ** t) / safe
    return torch.where(x == 0, torch.full_like(x, t * eta), value)


def closed_form_derivative(x: torch.Tensor, eta: float, t: int) -> torch.Tensor:
    """``y_t'(x) = [t η x (1 − η x)^{t−1} − (1 − (1 − η x)^t)] / x²``.

    At ``x = 0`` the expression is continued by its limit ``−η² t (t − 1) / 2``.
    """
    _check_eta(eta)
    x = torch.as_tensor(x)
    safe = torch.where(x == 0, torch.ones_like(x), x)
    q = 1.0 - eta * safe
    value = (t * eta * safe * q ** (t - 1) - (1.0 - q**t)) / safe**2
    return torch.where(x == 0, torch.full_like(x, -(eta**2) * t * (t - 1) / 2), value)


def contraction_factor(x: torch.Tensor, eta: float) -> torch.Tensor:
    """``μ(x) = |∂G/∂y| = |1 − η x|``: the 1/x operator contracts exactly where ``0 < η x < 2``."""
    return (1.0 - eta * torch.as_tensor(x)).abs()


def grid_lipschitz(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """The largest difference quotient ``|f(x_{i+1}) − f(x_i)| / |x_{i+1} − x_i|`` on a sorted grid.

    A lower bound on the Lipschitz constant of ``f`` on the grid's interval that becomes exact as
    the grid is refined (for continuously differentiable ``f`` it tends to ``max |f'|``).
    """
    x = torch.as_tensor(x)
    if x.dim() != 1 or x.numel() < 2:
        raise ValueError("x must be a 1-D grid with at least two points")
    if not bool((x[1:] > x[:-1]).all()):
        raise ValueError("x must be sorted in increasing order without repeats")
    y = f(x)
    return float(((y[1:] - y[:-1]).abs() / (x[1:] - x[:-1])).max())


# --- learning 1/x: an explicit MLP against a learned implicit operator ------------------------


def _tanh_mlp(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, 1))


class ExplicitMLP(nn.Module):
    """``F_θ(x)``: one hidden tanh layer, ``3·width + 1`` parameters."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = _tanh_mlp(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(-1)).squeeze(-1)


class _InverseCoefficients(nn.Module):
    """The two coefficient networks ``a_θ``, ``b_θ`` of the 1/x operator's shape."""

    def __init__(self, width: int = 8, eta: float = 1.0):
        super().__init__()
        self.a_net = _tanh_mlp(width)
        self.b_net = _tanh_mlp(width)
        self.eta = eta

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a_θ(x), b_θ(x))`` with ``a_θ`` kept in ``(0, 1/η)`` so that ``G_θ`` contracts."""
        z = x.unsqueeze(-1)
        a = torch.sigmoid(self.a_net(z)).squeeze(-1) / self.eta
        b = self.b_net(z).squeeze(-1)
        return a, b


class LearnedInverseOperator(_InverseCoefficients):
    """A learned implicit operator ``G_θ(y, x) = y − η (a_θ(x) y − b_θ(x))``.

    It has the shape of the 1/x operator with the two coefficient functions learned by small tanh
    MLPs; ``a_θ = sigmoid(·)/η`` keeps ``0 < η a_θ < 1``, so ``G_θ`` contracts in ``y`` with
    ``μ(x) = 1 − η a_θ(x) ∈ (0, 1)``. Its fixed point is ``b_θ(x)/a_θ(x)``:
    smooth coefficients, a steep fixed point. ``6·width + 2`` parameters.
    """

    def __init__(self, width: int = 8, eta: float = 1.0, solver: str = "anderson"):
        super().__init__(width, eta)
        self.solver = solver

    def operator(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients(x)
        return y - self.eta * (a * y - b)

    def forward(self, x: torch.Tensor, tol: float = 1e-7, max_iter: int = 5000) -> torch.Tensor:
        """The fixed point ``y*(x)``, differentiable in θ by the implicit function theorem.

        The solve runs without a graph; then, since each sample is a scalar equation
        ``y* = G_θ(y*, x)``, differentiating it gives ``dy*/dθ = (∂G/∂θ) / (1 − ∂G/∂y)`` (Part III
        derives the general, vector version). The returned tensor has the value ``y*`` and exactly
        that gradient.
        """
        with torch.no_grad():
            result = fixed_point(
                lambda y: self.operator(y, x),
                torch.zeros_like(x),
                solver=self.solver,
                tol=tol,
                max_iter=max_iter,
            )
        self.last_result = result
        y_star = result.y
        a, _ = self.coefficients(x)
        dG_dy = (1.0 - self.eta * a).detach()
        g = self.operator(y_star, x)
        return y_star + (g - g.detach()) / (1.0 - dG_dy)


class ExplicitRatio(_InverseCoefficients):
    """The explicit baseline of the same shape: ``F_θ(x) = b_θ(x) / a_θ(x)``, computed directly.

    Same coefficient networks and parameters as :class:`LearnedInverseOperator`, whose fixed point
    is exactly this ratio; the division is built into the architecture instead of being computed by
    iterating a contraction (chapter "The 1/x operator", section "Learning 1/x").
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients(x)
        return b / a


def relative_error(prediction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``|ŷ − 1/x| / |1/x| = |x ŷ − 1|``, the pointwise relative error against ``1/x``."""
    return (x * prediction - 1.0).abs()


def fit_inverse(
    model: nn.Module,
    x: torch.Tensor,
    steps: int,
    lr: float = 1e-2,
    progress: bool | None = None,
) -> list[float]:
    """Fit ``model(x) ≈ 1/x`` by Adam on the mean squared relative error; return the loss curve.

    ``progress``: draw a progress bar (default: only where someone watches, see
    :func:`~implicit_edu.runtime.notebook.show_progress`).
    """
    from tqdm.auto import trange

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    for _ in trange(steps, disable=not show_progress(progress), desc=type(model).__name__):
        optimizer.zero_grad()
        loss = relative_error(model(x), x).pow(2).mean()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses
