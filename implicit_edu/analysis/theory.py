"""The theorems of Part II: chapters "Regular implicit operators", "Sufficiency" and "Necessity".

* **Regular operator** (Definition 2.3). ``G(y, x)`` is regular if (i) for each y, ``x ↦ G(y, x)``
  is Lipschitz with a constant ``≤ a₀ + a₁‖y‖``, and (ii) for each x, ``y ↦ G(y, x)`` is a
  ``μ(x)``-contraction with ``μ`` continuous. :func:`check_regular` measures both on grids.
* **Sufficiency** (Theorem 2.4). Every locally Lipschitz F is the fixed point of the regular
  operator ``G(y, x) = F(x) + (1 − ε(x)) (y − F(x))``, with a step ``ε(x) ∈ (0, 1)`` small where F
  is steep (:func:`sufficiency_operator`, :func:`talk_example`).
* **Necessity** (Theorem 2.5). The fixed point of a regular operator is locally Lipschitz:
  ``‖y*(x₁) − y*(x₂)‖ ≤ L_x / (1 − μ(x₂)) · ‖x₁ − x₂‖`` (:func:`necessity_bound`).

Conventions: inputs ``x`` have shape ``(B, d)`` or ``(B,)`` (scalar inputs), states ``y`` have shape
``(B, n)`` or ``(B,)``; an operator maps ``(y, x)`` to a tensor of y's shape, sample by sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog

from implicit_edu.core.solvers import fixed_point

Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Target = Callable[[torch.Tensor], torch.Tensor]


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample values ``(B,)`` to broadcast over the trailing dims of ``like``."""
    return values.reshape(-1, *[1] * (like.dim() - 1))


def _rows(t: torch.Tensor) -> torch.Tensor:
    """A batch ``(B, …)`` or ``(B,)`` as ``(B, m)``."""
    return t.reshape(t.shape[0], -1)


# --- sufficiency (Theorem 2.4) ------------------------------------------------------------------


def sufficiency_operator(F: Target, eps: Target) -> Operator:
    """``G(y, x) = F(x) + (1 − ε(x)) (y − F(x))``, the operator in the proof of Theorem 2.4.

    Its fixed point is ``F(x)``; in y it contracts with ``μ(x) = 1 − ε(x)``, and in x it is
    Lipschitz with constant ``≤ Lip(εF) + Lip(ε) ‖y‖`` since ``G = (1 − ε) y + ε F``.

    Args:
        F: the target map, ``x ↦ F(x)`` of shape ``(B, n)`` or ``(B,)``.
        eps: the step, ``x ↦ ε(x)`` of shape ``(B,)`` with values in ``(0, 1)``.
    """
    if not (callable(F) and callable(eps)):
        raise TypeError("F and eps must be callables x -> F(x) and x -> ε(x)")

    def G(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        e = eps(x)
        if not bool(((e > 0) & (e < 1)).all()):
            raise ValueError(
                f"ε(x) must lie in (0, 1) for every x (got values in [{float(e.min()):.3g}, "
                f"{float(e.max()):.3g}]): the construction needs 0 < ε(x) < 1 to be a contraction"
            )
        target = F(x)
        return target + _per_sample(1 - e, y) * (y - target)

    return G


def sufficiency_iterate(F: Target, eps: Target, x: torch.Tensor, t: int) -> torch.Tensor:
    """The closed form ``y_t = (1 − (1 − ε(x))^t) F(x)`` of the iterates from ``y_0 = 0``.

    From ``y_t − F = (1 − ε)(y_{t−1} − F)`` and ``y_0 − F = −F``.
    """
    if not (isinstance(t, int) and t >= 0):
        raise ValueError(f"t must be an integer ≥ 0, got {t!r}")
    target = F(x)
    return _per_sample(1 - (1 - eps(x)) ** t, target) * target


def talk_example() -> tuple[Target, Target]:
    """``(F, ε)`` of the paper's picture of the sufficiency construction (scalar x, shape (B,)).

    ``F(x) = −x`` for ``x ≤ 0``, ``1/x + 1/(x − 1)`` on ``(0, 1)`` and ``1/(x − 1) − 1/x`` for
    ``x > 1``: locally Lipschitz on ``ℝ \\ {0, 1}``, with poles at 0⁺ and at 1. The step is
    ``ε(x) = min(c, x²(x − 1)²)`` with ``c = 0.1`` for ``x < 0`` and ``0.5`` elsewhere. Near a pole
    ``ε ~ dist²`` while ``F ~ 1/dist``, so ``ε F ~ dist``: both ``ε`` and ``ε F`` are globally
    Lipschitz, which is what makes the operator regular.
    """

    def F(x: torch.Tensor) -> torch.Tensor:
        middle = 1 / x + 1 / (x - 1)
        right = 1 / (x - 1) - 1 / x
        return torch.where(x <= 0, -x, torch.where(x < 1, middle, right))

    def eps(x: torch.Tensor) -> torch.Tensor:
        c = torch.where(x < 0, torch.full_like(x, 0.1), torch.full_like(x, 0.5))
        return torch.minimum(c, (x**2 * (x - 1) ** 2).abs())

    return F, eps


# --- regularity checks (Definition 2.3) ---------------------------------------------------------


def _all_pairs(G: Operator, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """``G(y_m, x_j)`` for every m and j in one batch, as shape ``(M, N, n)``."""
    M, N = ys.shape[0], xs.shape[0]
    Y = ys.repeat_interleave(N, dim=0)  # row m·N + j holds y_m
    X = xs.repeat(M, *[1] * (xs.dim() - 1))  # row m·N + j holds x_j
    return G(Y, X).reshape(M, N, -1)


def _is_1d(xs: torch.Tensor) -> bool:
    return xs.dim() == 1 or (xs.dim() == 2 and xs.shape[1] == 1)


def _distances(points: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances of the rows, computed exactly (no ‖a‖² − 2ab + ‖b‖² trick)."""
    return torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")


def _max_quotient(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``max_{i≠j} ‖o_i − o_j‖ / ‖p_i − p_j‖`` for each leading index of ``outputs`` (…, P, m)."""
    gaps = _distances(inputs)
    valid = gaps > 0
    if not bool(valid.any()):
        raise ValueError("the grid needs at least two distinct points")
    ratios = _distances(outputs) / torch.where(valid, gaps, torch.ones_like(gaps))
    return torch.where(valid, ratios, torch.zeros_like(ratios)).flatten(-2).amax(dim=-1)


def x_lipschitz_constants(G: Operator, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """For each state ``y`` in ``ys``, the largest difference quotient of ``x ↦ G(y, x)`` on ``xs``.

    Condition (i) of Definition 2.3 asks these to be finite and ``≤ a₀ + a₁‖y‖``.

    Args:
        G: the operator.
        ys: M states, shape ``(M, n)`` or ``(M,)``.
        xs: the grid of N inputs, shape ``(N, d)`` or ``(N,)``.

    Returns:
        Shape ``(M,)``. On a 1-D grid (``(N,)`` or ``(N, 1)``) the quotients are taken between
        neighbours of the sorted grid: by the triangle inequality, this is also the largest quotient
        over all pairs. On a multi-dimensional grid all N(N − 1)/2 pairs are compared. Either way
        it is a lower bound of the Lipschitz constant that tightens as the grid is refined.
    """
    with torch.no_grad():
        if _is_1d(xs):
            order = torch.argsort(xs.reshape(-1))
            xs = xs[order]
            values = _all_pairs(G, ys, xs)  # (M, N, n)
            steps = (xs[1:] - xs[:-1]).reshape(-1).abs()
            if not bool((steps > 0).any()):
                raise ValueError("the grid needs at least two distinct points")
            jumps = torch.linalg.vector_norm(values[:, 1:] - values[:, :-1], dim=2)
            ratios = jumps / torch.where(steps > 0, steps, torch.ones_like(steps))
            return torch.where(steps > 0, ratios, torch.zeros_like(ratios)).amax(dim=1)
        return _max_quotient(_all_pairs(G, ys, xs), _rows(xs))


def contraction_factors(G: Operator, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """For each x in ``xs``, ``max ‖G(y₁, x) − G(y₂, x)‖ / ‖y₁ − y₂‖`` over pairs of ``ys``.

    An estimate (from below) of the contraction factor ``μ(x)`` of condition (ii) of Definition 2.3.
    Shapes as in :func:`x_lipschitz_constants`; returns shape ``(N,)``.
    """
    with torch.no_grad():
        values = _all_pairs(G, ys, xs).transpose(0, 1)  # (N, M, n)
        return _max_quotient(values, _rows(ys))


def linear_growth_fit(norms: torch.Tensor, constants: torch.Tensor) -> tuple[float, float]:
    """The line ``a + b‖y‖`` (the book's ``a₀ + a₁‖y‖``) lowest on average above every constant.

    The linear program

        minimise  a + b·mean_i ‖y_i‖   subject to  a + b‖y_i‖ ≥ L_i  for all i,  a ≥ 0, b ≥ 0,

    solved with ``scipy.optimize.linprog`` (HiGHS): the line of condition (i) of Definition 2.3
    fitted to the constants ``L_i`` measured at the states ``y_i``.
    """
    norms = np.asarray(torch.as_tensor(norms).detach().cpu(), dtype=float).reshape(-1)
    constants = np.asarray(torch.as_tensor(constants).detach().cpu(), dtype=float).reshape(-1)
    if norms.shape != constants.shape or norms.size == 0:
        raise ValueError("norms and constants must be two non-empty lists of the same length")
    if not (np.isfinite(norms).all() and np.isfinite(constants).all()):
        raise ValueError("the measured constants must be finite: no line a + b‖y‖ bounds infinity")
    result = linprog(
        c=[1.0, norms.mean()],
        A_ub=-np.stack([np.ones_like(norms), norms], axis=1),
        b_ub=-constants,
        bounds=[(0, None), (0, None)],
        method="highs",
    )
    if not result.success:
        raise RuntimeError(f"the linear program for (a, b) failed: {result.message}")
    a, b = result.x
    return float(a), float(b)


def _largest_neighbour_change(xs: torch.Tensor, values: torch.Tensor) -> float:
    """Largest ``|v_i − v_j|`` between neighbours: sorted neighbours in 1-D, else nearest ones."""
    if values.numel() < 2:
        return 0.0
    if _is_1d(xs):
        sorted_values = values[torch.argsort(xs.reshape(-1))]
        return float((sorted_values[1:] - sorted_values[:-1]).abs().max())
    gaps = _distances(_rows(xs)).fill_diagonal_(math.inf)
    nearest = gaps.argmin(dim=1)
    return float((values - values[nearest]).abs().max())


@dataclass
class RegularityReport:
    """What :func:`check_regular` measured on the grids (Definition 2.3).

    Attributes:
        xs, ys: the grids of inputs and states.
        x_constants: ``(M,)``, the x-Lipschitz constant of ``G(y, ·)`` for each y in ys.
        a, b: the book's a₀, a₁: the fitted line ``a₀ + a₁‖y‖`` above ``x_constants``
            (:func:`linear_growth_fit`).
        mu: ``(N,)``, the contraction factor ``μ(x)`` for each x in xs.
        max_mu: the largest ``μ(x)`` on the grid.
        contracts: ``max_mu < 1``.
        mu_jump: the largest change of ``μ`` between neighbouring grid points, a proxy for the
            continuity of ``μ`` (it should shrink as the grid is refined).
    """

    xs: torch.Tensor
    ys: torch.Tensor
    x_constants: torch.Tensor
    a: float
    b: float
    mu: torch.Tensor
    max_mu: float
    contracts: bool
    mu_jump: float

    def summary(self) -> str:
        """A few readable lines."""
        verdict = "contracts" if self.contracts else "does NOT contract"
        return (
            f"regularity on {self.xs.shape[0]} inputs x and {self.ys.shape[0]} states y:\n"
            f"  (i)  x-Lipschitz constants of G(y, ·): up to {float(self.x_constants.max()):.4g}, "
            f"below a₀ + a₁‖y‖ with a₀ = {self.a:.4g}, a₁ = {self.b:.4g}\n"
            f"  (ii) contraction factors μ(x): max {self.max_mu:.6g} (1 − max μ = "
            f"{1 - self.max_mu:.2e}: {verdict}), min {float(self.mu.min()):.4g}, "
            f"largest jump between neighbours {self.mu_jump:.3g}"
        )


def check_regular(G: Operator, xs: torch.Tensor, ys: torch.Tensor) -> RegularityReport:
    """Measure both conditions of Definition 2.3 on a grid of inputs ``xs`` and states ``ys``."""
    x_constants = x_lipschitz_constants(G, ys, xs)
    a, b = linear_growth_fit(torch.linalg.vector_norm(_rows(ys), dim=1), x_constants)
    mu = contraction_factors(G, xs, ys)
    max_mu = float(mu.max())
    return RegularityReport(
        xs=xs,
        ys=ys,
        x_constants=x_constants,
        a=a,
        b=b,
        mu=mu,
        max_mu=max_mu,
        contracts=max_mu < 1,
        mu_jump=_largest_neighbour_change(xs, mu),
    )


# --- fixed points and necessity (Theorem 2.5) ---------------------------------------------------


def fixed_point_map(
    G: Operator,
    x: torch.Tensor,
    y0: torch.Tensor | None = None,
    solver: str = "anderson",
    tol: float = 1e-10,
    max_iter: int = 1000,
    atol: float = 0.0,
) -> torch.Tensor:
    """``y*(x)``, the solution of ``y = G(y, x)`` for each sample, by
    :func:`~implicit_edu.core.solvers.fixed_point`.

    ``y0`` defaults to ``zeros_like(x)``: pass it when the state's shape differs from the input's.
    The solver's residual is relative (``‖G(y) − y‖ / ‖G(y)‖``), so a fixed point exactly at 0
    needs an absolute tolerance ``atol > 0`` to count as converged. Raises RuntimeError, with the
    solver's reason, if the solve fails.
    """
    y0 = torch.zeros_like(x) if y0 is None else y0
    result = fixed_point(lambda y: G(y, x), y0, solver, tol=tol, max_iter=max_iter, atol=atol)
    if not result.converged:
        raise RuntimeError(f"the fixed-point solve did not converge: {result.reason}")
    return result.y


def necessity_bound(L_x: float, mu: float) -> float:
    """``L_x / (1 − μ)``: the local Lipschitz bound of the fixed point map (Theorem 2.5).

    From ``y*(x₁) − y*(x₂) = G(y*(x₁), x₁) − G(y*(x₁), x₂) + G(y*(x₁), x₂) − G(y*(x₂), x₂)``:
    ``‖y*(x₁) − y*(x₂)‖ ≤ L_x ‖x₁ − x₂‖ + μ(x₂) ‖y*(x₁) − y*(x₂)‖``, with ``L_x`` the x-Lipschitz
    constant of ``G`` at ``y*(x₁)``; hence ``‖y*(x₁) − y*(x₂)‖ ≤ L_x / (1 − μ(x₂)) ‖x₁ − x₂‖``.
    """
    if not 0 <= mu < 1:
        raise ValueError(f"the bound needs a contraction factor 0 ≤ μ < 1, got μ = {mu}")
    if not L_x >= 0:
        raise ValueError(f"L_x must be ≥ 0, got {L_x}")
    return L_x / (1 - mu)


@dataclass
class RandomRegularOperator:
    """``G(y, x) = μ tanh(W y + U x + b)`` with ``‖W‖₂ = 1``, and its known constants.

    ``tanh`` is 1-Lipschitz, so ``y ↦ G(y, x)`` is a μ-contraction for every x, and
    ``x ↦ G(y, x)`` is ``lip_x = μ ‖U‖₂``-Lipschitz for every y: condition (i) of Definition 2.3
    with a constant that does not grow with ‖y‖. Shapes: x ``(B, d)``, y ``(B, n)``. Calling the
    object calls ``G``.
    """

    G: Operator
    mu: float
    lip_x: float
    W: torch.Tensor
    U: torch.Tensor
    b: torch.Tensor

    def __call__(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.G(y, x)


def random_regular_operator(
    n: int,
    d: int,
    mu: float,
    seed: int,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> RandomRegularOperator:
    """A random regular operator ``μ tanh(W y + U x + b)`` on states in ℝⁿ and inputs in ℝᵈ.

    W, U and b are Gaussian (U scaled by 1/√d), drawn from a generator seeded with ``seed``; W is
    then divided by its spectral norm.
    """
    if not (isinstance(n, int) and isinstance(d, int) and n >= 1 and d >= 1):
        raise ValueError(f"n and d must be integers ≥ 1, got n = {n!r}, d = {d!r}")
    if not 0 < mu < 1:
        raise ValueError(f"μ must lie in (0, 1) for a contraction, got μ = {mu}")
    generator = torch.Generator().manual_seed(seed)
    W = torch.randn(n, n, generator=generator, dtype=dtype)
    W = (W / torch.linalg.matrix_norm(W, 2)).to(device)
    U = (torch.randn(n, d, generator=generator, dtype=dtype) / math.sqrt(d)).to(device)
    b = torch.randn(n, generator=generator, dtype=dtype).to(device)

    def G(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return mu * torch.tanh(y @ W.T + x @ U.T + b)

    lip_x = mu * float(torch.linalg.matrix_norm(U, 2))
    return RandomRegularOperator(G=G, mu=mu, lip_x=lip_x, W=W, U=U, b=b)
