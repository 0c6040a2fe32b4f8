"""Certified Lipschitz bounds: Part II, chapter "Expressive power grows with test-time compute".

The estimators of :mod:`implicit_edu.analysis.lipschitz` give *lower* bounds on a Lipschitz
constant: they only see the points and directions they are given. This module gives *upper* bounds
for a network with one hidden layer,

    f(x) = W2 σ(W1 x + b1) (+ b2),   W1 of shape (m, d),  W2 of shape (p, m),

whose activation σ is applied entrywise and is slope-restricted in [0, 1]:
``0 ≤ (σ(u) − σ(v)) / (u − v) ≤ 1`` for all u ≠ v (tanh, ReLU, the logistic sigmoid scaled by 4, …).
The biases do not enter any bound.

* :func:`naive_lipschitz_bound`: ``‖W2‖₂ ‖W1‖₂``, the product of the spectral norms;
* :func:`lipschitz_upper_bound_sdp`: the semidefinite program "LipSDP-Neuron" of Fazlyab, Robey,
  Hassani, Morari and Pappas (NeurIPS 2019) with slopes in [α, β] = [0, 1]::

      minimise ρ over ρ and T = diag(λ), λ ≥ 0, subject to
      M(ρ, T) = [[−2αβ W1ᵀ T W1 − ρ I,  (α + β) W1ᵀ T],
                 [(α + β) T W1,         −2T + W2ᵀ W2 ]]  ⪯ 0,

  and the bound is ``√ρ``. The chapter proves that any feasible (ρ, T) gives
  ``‖f(x) − f(x')‖ ≤ √ρ ‖x − x'‖`` and that ``T = ‖W2‖₂² I`` is feasible with ``ρ ≤ ‖W1‖₂² ‖W2‖₂²``,
  so the SDP bound never exceeds the naive one.

The SDP is solved with cvxpy. The solver only returns an approximately optimal, possibly slightly
infeasible point, so the multipliers λ it finds are kept and ρ is recomputed from them by linear
algebra (a Schur complement, :func:`smallest_feasible_rho`): the number returned satisfies the
matrix inequality up to floating-point rounding, whatever the solver's accuracy. The naive choice
``T = ‖W2‖₂² I`` is always among the candidates, so a failed solve still returns a valid bound.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Solvers tried in this order when none is named, for small matrix inequalities (size d + m at
#: most ``SMALL_SIZE``) and for larger ones. CLARABEL (interior point) is accurate and fast
#: while the matrix is small, but its cost grows steeply with d + m (its linear systems are dense in
#: the d(d+1)/2-sized PSD cone); SCS (first order) scales better. The final bound is re-verified
#: by linear algebra either way, so the choice affects the tightness and the speed, not validity.
SOLVER_PREFERENCE = {
    "small": ("CLARABEL", "SCS", "MOSEK", "CVXOPT"),
    "large": ("SCS", "CLARABEL", "MOSEK", "CVXOPT"),
}
SMALL_SIZE = 24

_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 20_000},
}


def _as_matrix(W: Any, name: str) -> np.ndarray:
    """A numpy float64 matrix from a numpy array, torch tensor or nested list, with checks."""
    if hasattr(W, "detach"):  # a torch tensor (possibly on a GPU, possibly with a graph)
        W = W.detach().cpu().double().numpy()
    try:
        W = np.asarray(W, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a matrix of numbers, got {type(W).__name__}") from None
    if W.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix, got an array of shape {W.shape}; for a single neuron "
            "use shape (1, d) for W1 and (p, 1) for W2"
        )
    if 0 in W.shape:
        raise ValueError(f"{name} is empty (shape {W.shape})")
    if not np.isfinite(W).all():
        raise ValueError(f"{name} has entries that are not finite (nan or inf)")
    return W


def _weights(W1: Any, W2: Any) -> tuple[np.ndarray, np.ndarray]:
    W1, W2 = _as_matrix(W1, "W1"), _as_matrix(W2, "W2")
    if W2.shape[1] != W1.shape[0]:
        raise ValueError(
            f"shape mismatch: W1 has shape {W1.shape} (hidden width m = {W1.shape[0]}, input "
            f"dimension d = {W1.shape[1]}), so W2 needs m = {W1.shape[0]} columns, but it has "
            f"shape {W2.shape}. The network is f(x) = W2 σ(W1 x + b1): W1 is (m, d) and W2 is "
            "(p, m), the layout of torch.nn.Linear(...).weight"
        )
    return W1, W2


def naive_lipschitz_bound(W1: Any, W2: Any) -> float:
    """``‖W2‖₂ ‖W1‖₂``: the Lipschitz bound of ``W2 σ(W1 x + b1)`` from the chain rule.

    Valid for any 1-Lipschitz σ: ``‖W2 (σ(u) − σ(u'))‖ ≤ ‖W2‖₂ ‖u − u'‖ ≤ ‖W2‖₂ ‖W1‖₂ ‖x − x'‖``.
    Accepts numpy arrays or torch tensors, W1 of shape (m, d) and W2 of shape (p, m).
    """
    W1, W2 = _weights(W1, W2)
    return float(np.linalg.norm(W2, 2) * np.linalg.norm(W1, 2))


def lipsdp_matrix(W1: Any, W2: Any, rho: float, multipliers: Any) -> np.ndarray:
    """The matrix ``M(ρ, T)`` of LipSDP-Neuron with α = 0, β = 1 and ``T = diag(multipliers)``.

    ``M = [[−ρ I, W1ᵀ T], [T W1, −2T + W2ᵀ W2]]``, of size (d + m) × (d + m). The certificate holds
    when ``M ⪯ 0``; use ``np.linalg.eigvalsh(M).max()`` to check it.
    """
    W1, W2 = _weights(W1, W2)
    lam = np.asarray(multipliers, dtype=np.float64).reshape(-1)
    if lam.shape != (W1.shape[0],):
        raise ValueError(f"multipliers must have one entry per hidden neuron ({W1.shape[0]})")
    TW1 = lam[:, None] * W1
    top = np.hstack([-rho * np.eye(W1.shape[1]), TW1.T])
    bottom = np.hstack([TW1, -2 * np.diag(lam) + W2.T @ W2])
    return np.vstack([top, bottom])


def smallest_feasible_rho(W1: Any, W2: Any, multipliers: Any) -> float:
    """The least ρ with ``M(ρ, T) ⪯ 0`` for the given multipliers, or ``inf`` if there is none.

    With ``B = −2T + W2ᵀ W2 ≺ 0`` the Schur complement gives ``M(ρ, T) ⪯ 0`` iff
    ``ρ ≥ λ_max(W1ᵀ T (−B)⁻¹ T W1)``. Returns ``inf`` when B is not negative definite.
    """
    W1, W2 = _weights(W1, W2)
    lam = np.asarray(multipliers, dtype=np.float64).reshape(-1)
    if lam.shape != (W1.shape[0],):
        raise ValueError(f"multipliers must have one entry per hidden neuron ({W1.shape[0]})")
    if (lam < 0).any():
        return float("inf")
    B = -2 * np.diag(lam) + W2.T @ W2
    scale = max(float(np.abs(B).max()), np.finfo(float).tiny)
    if np.linalg.eigvalsh(B).max() >= -1e-12 * scale:
        return float("inf")
    TW1 = lam[:, None] * W1
    R = TW1.T @ np.linalg.solve(-B, TW1)
    return float(max(np.linalg.eigvalsh((R + R.T) / 2).max(), 0.0))


def default_solver(size: int = SMALL_SIZE) -> str:
    """The first installed solver of :data:`SOLVER_PREFERENCE` for an LMI of size ``d + m``."""
    import cvxpy as cp

    installed = cp.installed_solvers()
    for name in SOLVER_PREFERENCE["small" if size <= SMALL_SIZE else "large"]:
        if name in installed:
            return name
    raise RuntimeError(
        f"no semidefinite solver for cvxpy is installed (have {installed}); "
        "install scs or clarabel (pip install scs clarabel)"
    )


@dataclass
class LipSDPResult:
    """The outcome of :func:`lipsdp_neuron`.

    Attributes:
        bound: the certified upper bound ``√ρ`` on the ℓ2 Lipschitz constant of f.
        rho: ``ρ = bound²``, with ``M(ρ, diag(multipliers)) ⪯ 0`` verified by linear algebra.
        multipliers: the diagonal λ of T (one per hidden neuron) that certifies ``rho``.
        naive: ``‖W2‖₂ ‖W1‖₂``, for comparison (``bound ≤ naive``).
        solver: the cvxpy solver used; status: its status string.
        solver_bound: ``√ρ`` as the solver reported it, before the verification.
    """

    bound: float
    rho: float
    multipliers: np.ndarray
    naive: float
    solver: str
    status: str
    solver_bound: float


def lipsdp_neuron(W1: Any, W2: Any, solver: str | None = None) -> LipSDPResult:
    """Solve LipSDP-Neuron (α = 0, β = 1) for ``f(x) = W2 σ(W1 x + b1)`` and verify the result.

    Args:
        W1: hidden-layer weights, shape (m, d) (numpy or torch).
        W2: output weights, shape (p, m).
        solver: a cvxpy solver name; default :func:`default_solver` for the size ``d + m``.

    The matrices are first scaled to unit spectral norm (the bound is homogeneous of degree one in
    each of W1 and W2), which keeps the solver well conditioned; the result is scaled back.
    """
    import cvxpy as cp

    W1, W2 = _weights(W1, W2)
    m, d = W1.shape
    s1, s2 = float(np.linalg.norm(W1, 2)), float(np.linalg.norm(W2, 2))
    naive = s1 * s2
    solver = default_solver(d + m) if solver is None else str(solver).upper()
    if solver not in cp.installed_solvers():
        raise ValueError(f"solver {solver!r} is not installed; cvxpy has {cp.installed_solvers()}")
    if naive == 0.0:  # f is constant
        return LipSDPResult(0.0, 0.0, np.zeros(m), 0.0, solver, "trivial (zero weights)", 0.0)
    A, C = W1 / s1, W2 / s2  # unit spectral norms

    rho = cp.Variable()
    lam = cp.Variable(m, nonneg=True)
    TA = cp.multiply(cp.reshape(lam, (m, 1), order="F") @ np.ones((1, d)), A)  # diag(λ) A
    M = cp.bmat([[-rho * np.eye(d), TA.T], [TA, -2 * cp.diag(lam) + C.T @ C]])
    problem = cp.Problem(cp.Minimize(rho), [(M + M.T) / 2 << 0])
    status, solver_rho, found = "solver error", float("nan"), None
    try:
        with warnings.catch_warnings():  # "may be inaccurate": the verification below handles it
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=solver, **_SOLVER_OPTIONS.get(solver, {}))
        status = str(problem.status)
        if lam.value is not None:
            found, solver_rho = np.clip(lam.value, 0.0, None), float(rho.value)
    except cp.error.SolverError as error:
        status = f"solver error: {error}"

    # Candidates for T: the solver's, slightly enlarged (to make B = −2T + CᵀC strictly negative
    # definite), and the naive T = ‖C‖² I = I, which gives ρ ≤ 1 (the naive bound).
    candidates = [np.ones(m)]
    if found is not None:
        candidates += [found * (1 + delta) + delta for delta in (0.0, 1e-10, 1e-8, 1e-6, 1e-4)]
    rhos = [smallest_feasible_rho(A, C, lam_) for lam_ in candidates]
    best = int(np.argmin(rhos))
    if found is None or not status.startswith("optimal"):
        warnings.warn(
            f"the SDP solver {solver} ended with status {status!r}; the returned bound is valid "
            "but may be loose",
            RuntimeWarning,
            stacklevel=2,
        )
    rho_n = min(rhos[best], 1.0)  # ρ ≤ 1 always holds for the naive T (up to rounding)
    return LipSDPResult(
        bound=float(np.sqrt(rho_n) * naive),
        rho=float(rho_n * naive**2),
        multipliers=candidates[best] * s2**2,
        naive=naive,
        solver=solver,
        status=status,
        solver_bound=float(np.sqrt(max(solver_rho, 0.0)) * naive),
    )


def lipschitz_upper_bound_sdp(W1: Any, W2: Any, solver: str | None = None) -> float:
    """A certified upper bound on the ℓ2 Lipschitz constant of ``x ↦ W2 σ(W1 x + b1)``.

    σ may be any entrywise activation with slopes in [0, 1] (tanh, ReLU); the bound does not depend
    on the biases. It is ``√ρ`` of LipSDP-Neuron (see :func:`lipsdp_neuron`), never larger than
    :func:`naive_lipschitz_bound`. W1 has shape (m, d) and W2 shape (p, m), numpy or torch.
    """
    return lipsdp_neuron(W1, W2, solver=solver).bound
