"""Fixed-point solvers: the forward pass of an implicit (deep equilibrium) layer.

An implicit layer defines its output as a fixed point ``y* = g(y*)`` of an operator ``g``
(for a DEQ, ``g(y) = layer(y, x)`` with the input ``x`` held fixed). This module finds
``y*`` by iteration. Four solvers are provided (the ``solver`` argument here and in ``DEQ``):

* ``"picard"``   Picard iteration            y_{k+1} = g(y_k)
* ``"km"``       Krasnoselskii–Mann          y_{k+1} = (1 - α) y_k + α g(y_k)
* ``"anderson"`` Anderson acceleration (type II), mixing the last m iterates
* ``"broyden"``  Broyden's (good) quasi-Newton method on f(y) = g(y) - y

Conventions shared by every method:

* ``y0`` has shape ``(B, ...)``: the first dimension is the batch. Each sample is judged
  on its own, over all its other entries flattened into one vector. A 0-dim ``y0`` is one
  sample; a 1-D ``y0`` of shape ``(N,)`` is N scalar samples.
* Relative residual of sample i at the iterate y_k::

      r_i(y_k) = ||g(y_k)_i - y_k,i|| / max(||g(y_k)_i||, tiny)

  where ``tiny = torch.finfo(dtype).tiny`` (the smallest positive normal number) only
  prevents a division by zero when g(y_k)_i = 0. Being relative, it suits fixed points of
  any size, but not a fixed point exactly at 0: there r_i stays of order one.
* The solve stops as soon as r_i(y_k) <= tol for every sample i. With ``atol > 0`` the test is
  ||g(y_k)_i - y_k,i|| <= tol ||g(y_k)_i|| + atol instead (as in ``numpy.allclose``): a fixed
  point at 0 has no meaningful relative residual, so give it an absolute tolerance. All samples
  are iterated
  until then; for each sample the iterate with the lowest residual seen is returned.
* Everything runs under ``torch.no_grad()``: gradients of an implicit layer are computed
  separately (by implicit differentiation), never by backpropagating through the solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from implicit_edu.core.checks import check_positive_integers, is_integer, is_number

__all__ = ["FixedPointResult", "fixed_point", "iterate"]

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass(repr=False)
class FixedPointResult:
    """What :func:`fixed_point` found, and why it stopped.

    Attributes:
        y: the lowest-residual iterate of each sample; same shape, dtype and device as y0.
        converged: True iff every sample met the stopping test (relative residual <= tol, or
            with atol > 0: ||g(y) - y|| <= tol ||g(y)|| + atol).
        iterations: number of evaluations of g performed.
        residuals: one entry per iteration: the largest (over the batch) relative residual
            ||g(y_k) - y_k|| / ||g(y_k)|| of the iterate y_k at which g was evaluated
            (``inf`` for an iteration where g(y_k) was not finite). len == iterations.
        reason: why the solve stopped, in words ("converged: ...", "max_iter reached ...",
            "non-finite value in g(y) at iteration k ...").
        solver: the solver used ("picard", "km", "anderson" or "broyden").
        sample_residuals: shape (B,), the relative residual of each returned sample.
    """

    y: torch.Tensor
    converged: bool
    iterations: int
    residuals: list[float]
    reason: str
    solver: str
    sample_residuals: torch.Tensor

    def summary(self) -> str:
        """A few readable lines: status, work done, accuracy reached and the reason."""
        status = "converged" if self.converged else "did NOT converge"
        worst = float(self.sample_residuals.max()) if self.sample_residuals.numel() else 0.0
        return (
            f"{self.solver}: {status} after {self.iterations} evaluations of g\n"
            f"  largest relative residual of the returned y: {worst:.3e}\n"
            f"  y: shape {tuple(self.y.shape)}, {self.y.dtype}, {self.y.device}\n"
            f"  reason: {self.reason}"
        )

    def __repr__(self) -> str:
        worst = float(self.sample_residuals.max()) if self.sample_residuals.numel() else 0.0
        return (
            f"FixedPointResult(solver={self.solver!r}, converged={self.converged}, "
            f"iterations={self.iterations}, max_sample_residual={worst:.2e}, "
            f"y_shape={tuple(self.y.shape)})"
        )


# --------------------------------------------------------------------------------------
# One class per method. Each works on flattened iterates of shape (B, n) and has a single
# method ``step(y, gy, f)`` that returns y_{k+1} from y_k, g(y_k) and f(y_k) = g(y_k) - y_k
# (the loop in fixed_point computes f once, for the residual, and hands it on).
# --------------------------------------------------------------------------------------


class _Step(Protocol):
    def step(self, y: torch.Tensor, gy: torch.Tensor, f: torch.Tensor) -> torch.Tensor: ...


class _Picard:
    """Picard iteration: y_{k+1} = g(y_k).

    Converges (linearly, with rate L) when g is a contraction with Lipschitz constant L < 1.
    """

    def step(self, y: torch.Tensor, gy: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return gy


class _KrasnoselskiiMann:
    """Krasnoselskii–Mann (averaged) iteration: y_{k+1} = (1 - α) y_k + α g(y_k).

    α = 1 is Picard. For α < 1 it converges for every nonexpansive g (L <= 1) that has a
    fixed point, where Picard may oscillate forever (e.g. g(y) = -y).
    """

    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha

    def step(self, y: torch.Tensor, gy: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return y + self.alpha * f  # = (1 - α) y + α g(y)


class _Anderson:
    """Anderson acceleration, type II, batched over samples.

    Keep the last m_k = min(m, k+1) iterates y_i and values g(y_i), with residuals
    f_i = g(y_i) - y_i. For each sample solve the constrained least-squares problem

        minimise_α  ||Σ_i α_i f_i||² + λ' ||α||²   subject to  Σ_i α_i = 1,

    with a Tikhonov term scaled to the residuals, λ' = lam · mean_i ||f_i||² (lam times the
    mean of the diagonal of the Gram matrix G_ij = f_iᵀ f_j). An absolute λ'=lam would
    dominate G when the residuals are small, pushing α towards uniform weights and stalling.
    Dividing the objective by s = mean_i ||f_i||² does not change α, so the code solves with
    the normalised Gram matrix Ĝ = G / s (mean diagonal 1) and λ' / s = lam. The optimality
    (KKT) conditions are the bordered (m_k+1) x (m_k+1) linear system

        [ 0   1ᵀ         ] [ ν ]   [ 1 ]
        [ 1   Ĝ + lam I  ] [ α ] = [ 0 ],

    and the next iterate mixes the history with the weights α:

        y_{k+1} = (1 - β) Σ_i α_i y_i + β Σ_i α_i g(y_i) = Σ_i α_i g(y_i) - (1 - β) Σ_i α_i f_i.

    The first step (m_k = 1, α = 1) is y_1 = (1 - β) y_0 + β g(y_0). If the system of a
    sample is singular or numerically singular (an LU pivot of size at most (m_k+1)·eps, or
    nan; the normalisation makes the pivots of a well-posed system of order one), that sample
    takes the step with α = e_newest, i.e. (1 - β) y_k + β g(y_k); these fallbacks are
    counted in ``self.fallbacks`` and reported in the result's ``reason``.

    Implementation: the history lives in preallocated ring buffers (slot k mod m holds pair k),
    and the Gram matrix is updated by one new row per step, f_newᵀ f_i, instead of being
    recomputed: O(B m n) work per step besides g. The weights do not depend on the order of
    the pairs, so the ring's order does not matter.
    """

    def __init__(self, m: int = 5, lam: float = 1e-4, beta: float = 1.0) -> None:
        self.m, self.lam, self.beta = m, lam, beta
        self.count = 0  # pairs seen so far
        self.fallbacks = 0

    def _allocate(self, y: torch.Tensor) -> None:
        batch, n = y.shape
        m = self.m
        self.gs = y.new_empty(batch, m, n)  # g(y_i) in slot i mod m
        self.fs = y.new_empty(batch, m, n)  # f_i in slot i mod m
        self.gram = y.new_zeros(batch, m, m)  # G_ij = f_iᵀ f_j over the filled slots
        self.rhs = y.new_zeros(batch, m + 1, 1)
        self.rhs[:, 0] = 1.0
        self.border = y.new_zeros(batch, m + 1, m + 1)
        self.border[:, 0, 1:] = 1.0
        self.border[:, 1:, 0] = 1.0
        self.eps = torch.finfo(y.dtype).eps
        self.tiny = torch.finfo(y.dtype).tiny

    def step(self, y: torch.Tensor, gy: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if self.count == 0:
            self._allocate(y)
        slot = self.count % self.m
        self.count += 1
        mk = min(self.count, self.m)
        self.gs[:, slot] = gy
        self.fs[:, slot] = f
        # the new row f_newᵀ f_i, as (B, 1, n) @ (B, n, m_k): a row vector times a matrix is
        # much faster in torch.bmm than the same product written as matrix times column
        row = torch.bmm(f[:, None, :], self.fs[:, :mk].transpose(1, 2))[:, 0]
        self.gram[:, slot, :mk] = row
        self.gram[:, :mk, slot] = row
        if mk == 1:  # α = 1
            return gy if self.beta == 1 else gy - (1 - self.beta) * f

        gram = self.gram[:, :mk, :mk]
        scale = gram.diagonal(dim1=1, dim2=2).sum(dim=1) / mk  # s = mean_i ||f_i||², (B,)
        system = self.border[:, : mk + 1, : mk + 1].clone()
        inner = system[:, 1:, 1:]
        torch.div(gram, scale.clamp_min(self.tiny)[:, None, None], out=inner)  # Ĝ = G / s
        inner.diagonal(dim1=1, dim2=2).add_(self.lam)
        lu, pivots, _ = torch.linalg.lu_factor_ex(system)
        # Ĝ has mean diagonal 1 and the border is 1, so pivots are O(1) unless the system is
        # (numerically) singular; a nan pivot fails the test too.
        ok = lu.diagonal(dim1=1, dim2=2).abs().amin(dim=1) > (mk + 1) * self.eps
        alpha = torch.linalg.lu_solve(lu, pivots, self.rhs[:, : mk + 1])[:, 1:, 0]  # (B, m_k)
        if not bool(ok.all()):  # rare: fall back to α = e_newest for those samples
            at_fixed_point = scale == 0  # all f_i = 0: nothing to mix, just stay put
            self.fallbacks += int((~ok & ~at_fixed_point).sum())
            newest = torch.zeros_like(alpha)
            newest[:, slot] = 1.0
            alpha = torch.where(ok[:, None], alpha, newest)

        mixed = torch.bmm(alpha[:, None], self.gs[:, :mk])[:, 0]  # Σ_i α_i g(y_i)
        if self.beta != 1:
            mixed -= (1 - self.beta) * torch.bmm(alpha[:, None], self.fs[:, :mk])[:, 0]
        return mixed


class _Broyden:
    """Broyden's good method on the residual f(y) = g(y) - y, batched over samples.

    A quasi-Newton method for f(y*) = 0 that keeps an approximation H_k of the inverse
    Jacobian (∂f/∂y)⁻¹ and steps

        y_{k+1} = y_k - H_k f(y_k),      H_0 = -I   (so y_1 = y_0 + f(y_0) = g(y_0)).

    With Δy = y_{k+1} - y_k and Δf = f(y_{k+1}) - f(y_k), the good Broyden update
    J_{k+1} = J_k + (Δf - J_k Δy) Δyᵀ / (Δyᵀ Δy), written for H = J⁻¹ by Sherman–Morrison, is

        H_{k+1} = H_k + (Δy - H_k Δf) Δyᵀ H_k / (Δyᵀ H_k Δf).

    H is never formed: it is stored as H_k = -I + Σ_j u_j v_jᵀ with

        u = (Δy - H_k Δf) / (Δyᵀ H_k Δf),     v = H_kᵀ Δy.

    At most ``memory`` pairs (u, v) are kept (in preallocated buffers); when the store is full
    it is cleared (H back to -I) before the next pair is added. A sample whose denominator is
    ~0, |Δyᵀ H_k Δf| <= eps ||v|| ||Δf||, skips its update (its u is set to 0).
    """

    def __init__(self, memory: int = 30) -> None:
        self.memory = memory
        self.rank = 0  # pairs (u, v) stored
        self.us: torch.Tensor | None = None  # u_j as rows, (B, memory, n)
        self.vs: torch.Tensor | None = None  # v_j as rows, (B, memory, n)
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (y_k, f(y_k))

    @staticmethod
    def _low_rank(x: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """-x + Σ_j left_j (right_jᵀ x) for rows left_j, right_j: (B, r, n) each.

        Written with row vectors, (B, 1, n) @ (B, n, r) then (B, 1, r) @ (B, r, n), the
        layout in which torch.bmm is fast.
        """
        coefficients = torch.bmm(x[:, None, :], right.transpose(1, 2))  # (B, 1, r)
        return torch.baddbmm(-x[:, None, :], coefficients, left)[:, 0]

    def _h(self, x: torch.Tensor) -> torch.Tensor:
        """H x = -x + U (Vᵀ x)."""
        if self.rank == 0:
            return -x
        return self._low_rank(x, self.us[:, : self.rank], self.vs[:, : self.rank])

    def _h_transposed(self, x: torch.Tensor) -> torch.Tensor:
        """Hᵀ x = -x + V (Uᵀ x)."""
        if self.rank == 0:
            return -x
        return self._low_rank(x, self.vs[:, : self.rank], self.us[:, : self.rank])

    def step(self, y: torch.Tensor, gy: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if self.previous is not None:
            if self.rank >= self.memory:
                # restart (H = -I) before the new pair is computed, so that the pair is the
                # Sherman–Morrison update of -I and H_{k+1} Δf = Δy holds at a restart too
                self.rank = 0
            dy, df = y - self.previous[0], f - self.previous[1]
            v = self._h_transposed(dy)  # Hᵀ Δy
            denominator = (v * df).sum(dim=1)  # vᵀ Δf = Δyᵀ H Δf, (B,)
            eps = torch.finfo(y.dtype).eps
            safe = denominator.abs() > eps * v.norm(dim=1) * df.norm(dim=1)
            safe_denominator = torch.where(safe, denominator, torch.ones_like(denominator))
            u = (dy - self._h(df)) / safe_denominator[:, None]
            u = torch.where(safe[:, None], u, torch.zeros_like(u))
            if self.us is None or self.vs is None:
                batch, n = y.shape
                self.us = y.new_empty(batch, self.memory, n)
                self.vs = y.new_empty(batch, self.memory, n)
            self.us[:, self.rank] = u
            self.vs[:, self.rank] = v
            self.rank += 1
        self.previous = (y, f)
        return y - self._h(f)


# Each method's options with their defaults.
_METHODS: dict[str, tuple[type, dict[str, float]]] = {
    "picard": (_Picard, {}),
    "km": (_KrasnoselskiiMann, {"alpha": 0.5}),
    "anderson": (_Anderson, {"m": 5, "lam": 1e-4, "beta": 1.0}),
    "broyden": (_Broyden, {"memory": 30}),
}


def _check_option_values(options: dict[str, float]) -> None:
    """Raise ValueError for an option value outside its valid range."""
    for name in ("alpha", "beta"):
        if name in options:
            value = options[name]
            if not (is_number(value) and 0 < value <= 1):
                raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    check_positive_integers(**{k: options[k] for k in ("m", "memory") if k in options})
    if "lam" in options:
        value = options["lam"]
        if not (is_number(value) and 0 <= value < math.inf):
            raise ValueError(f"lam must be a finite number >= 0, got {value!r}")


def _make_solver(solver: str, options: dict[str, float]) -> _Step:
    """Check the solver's name and its options; return the solver's step object."""
    if "method" in options:
        raise TypeError(
            "fixed_point has no argument `method`: the solver is chosen with `solver=` "
            f"(as in DEQ), e.g. fixed_point(g, y0, solver={options['method']!r})"
        )
    if solver not in _METHODS:
        valid = ", ".join(repr(name) for name in _METHODS)
        raise ValueError(f"unknown solver {solver!r}; valid solvers: {valid}")
    solver_class, defaults = _METHODS[solver]
    for name in options:
        if name not in defaults:
            valid = ", ".join(defaults) if defaults else "none (this solver takes no options)"
            raise ValueError(
                f"unknown option {name!r} for solver {solver!r}; valid options: {valid}"
            )
    _check_option_values(options)
    return solver_class(**{**defaults, **options})


def _check_inputs(g: object, y0: object, tol: object, max_iter: object) -> None:
    if not callable(g):
        raise TypeError(
            f"g must be callable (a function or module mapping y to g(y)), got {type(g).__name__}"
        )
    if not isinstance(y0, torch.Tensor):
        raise TypeError(
            f"y0 must be a torch.Tensor, got {type(y0).__name__}; "
            f"convert it with torch.as_tensor(y0, dtype=torch.float64)"
        )
    if not y0.is_floating_point():
        raise TypeError(
            f"y0 must have a floating-point dtype, got {y0.dtype}; "
            f"convert it with y0.double() or y0.float()"
        )
    if y0.dim() > 0 and y0.shape[0] == 0:
        raise ValueError(f"y0 has an empty batch (shape {tuple(y0.shape)}): nothing to solve")
    if not torch.isfinite(y0).all():
        raise ValueError("y0 contains nan or inf: start the iteration from a finite point")
    if not (is_number(tol) and 0 < tol < math.inf):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    check_positive_integers(max_iter=max_iter)


def fixed_point(
    g: Operator,
    y0: torch.Tensor,
    solver: str = "picard",
    *,
    tol: float = 1e-6,
    max_iter: int = 100,
    atol: float = 0.0,
    **options: float,
) -> FixedPointResult:
    """Solve y = g(y) by iteration from y0, sample by sample.

    Args:
        g: the operator; maps a tensor of y0's shape to a tensor of the same shape.
        y0: starting point, shape (B, ...) with the batch first (0-dim: one sample;
            1-D (N,): N scalar samples). Float32 or float64; all arithmetic uses its dtype.
        solver: "picard", "km", "anderson" or "broyden" (the same names as ``DEQ``'s
            ``solver``).
        tol: stop when every sample has relative residual
            ||g(y_k) - y_k|| / max(||g(y_k)||, tiny) <= tol.
        max_iter: the largest number of evaluations of g.
        atol: with atol > 0 a sample is done when ||g(y_k) - y_k|| <= tol ||g(y_k)|| + atol
            (default 0: the relative test alone). Needed where a fixed point is (close to) 0.
        **options: options of the solver, listed under "Solver options" below (``DEQ`` takes
            the same as its ``solver_options``).

    Returns:
        A :class:`FixedPointResult`. Its ``y`` is, per sample, the iterate with the lowest
        residual seen, so it is useful even when the solve did not converge.

    The solve stops early, with converged=False, if g(y_k) contains nan or inf; the
    returned y is then the best finite iterate so far (y0 if there is none).

    Raises:
        TypeError: g is not callable, y0 is not a tensor or is not floating point.
        TypeError: ``method=`` (the old name of ``solver``).
        ValueError: unknown solver or option, invalid option value, tol <= 0,
            max_iter < 1, non-finite y0, or g(y) that is not a tensor of y0's shape.

    Solver options, with their defaults::

        picard:   none                      y_{k+1} = g(y_k)
        km:       alpha=0.5 in (0, 1]       y_{k+1} = (1 - α) y_k + α g(y_k)
        anderson: m=5 (memory, >= 1), lam=1e-4 (regularisation, scaled to the
                  residuals), beta=1.0 (mixing, in (0, 1])
        broyden:  memory=30 (rank-one updates kept before a restart, >= 1)

    Example:
        >>> result = fixed_point(torch.cos, torch.zeros(1, dtype=torch.float64),
        ...                      solver="anderson", tol=1e-10)
        >>> round(result.y.item(), 10)
        0.7390851332
    """
    _check_inputs(g, y0, tol, max_iter)
    if not (is_number(atol) and 0 <= atol < math.inf):
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    stepper = _make_solver(solver, options)
    shape, dtype = y0.shape, y0.dtype
    batch = shape[0] if y0.dim() > 0 else 1

    def g_flat(y: torch.Tensor) -> torch.Tensor:
        """g on flattened (B, n) iterates, checking what g returns."""
        out = g(y.reshape(shape))
        if not isinstance(out, torch.Tensor):
            raise ValueError(
                f"g returned a {type(out).__name__}, not a torch.Tensor: an implicit "
                f"operator must map y to a tensor of the same shape {tuple(shape)}"
            )
        if out.shape != shape:
            raise ValueError(
                f"g changed the shape from {tuple(shape)} to {tuple(out.shape)}: an implicit "
                f"operator must map y to a tensor of the same shape"
            )
        return out.reshape(batch, -1).to(dtype)

    tiny = torch.finfo(dtype).tiny
    # A sample is done when its score is <= limit: the relative residual against tol, or with
    # atol the absolute residual over tol·||g(y)|| + atol against 1.
    limit = 1.0 if atol > 0 else tol
    with torch.no_grad():
        y = y0.detach().reshape(batch, -1)
        best_y = y.clone()
        best_r = torch.full((batch,), math.inf, dtype=dtype, device=y.device)
        best_score = best_r.clone()
        residuals: list[float] = []
        converged = False
        reason = ""
        for k in range(1, max_iter + 1):  # iteration k evaluates g(y_{k-1})
            gy = g_flat(y)
            f = gy - y  # computed once: the residual and the solvers' step both use it
            distance = torch.linalg.vector_norm(f, dim=1)
            size = torch.linalg.vector_norm(gy, dim=1)
            r = distance / size.clamp_min(tiny)
            # the one synchronisation per iteration; 0·size is nan when ||g(y)|| overflowed to
            # inf (then r would be 0, a false "converged"), and nan propagates through max
            largest = float((r + 0 * size).max())
            finite = None
            if not math.isfinite(largest):  # rare: a non-finite value, or a norm overflowed
                finite = (
                    torch.isfinite(gy).all(dim=1)
                    & torch.isfinite(y).all(dim=1)
                    & torch.isfinite(size)
                    & torch.isfinite(distance)
                )
                r = torch.where(finite, r.nan_to_num(nan=math.inf), math.inf)
                largest = float(r.max())
            residuals.append(largest)

            if atol > 0:
                score = distance / (tol * size + atol)
                if finite is not None:
                    score = torch.where(finite, score, math.inf)
            else:
                score = r
            better = score < best_score  # keep each sample's best iterate
            best_y = torch.where(better[:, None], y, best_y)
            best_r = torch.where(better, r, best_r)
            best_score = torch.where(better, score, best_score) if atol > 0 else best_r

            if finite is not None and not bool(finite.all()):
                bad = torch.nonzero(~finite).flatten().tolist()
                if not torch.isfinite(gy).all():
                    where = "g(y)"
                elif not torch.isfinite(y).all():
                    where = "the iterate y"
                else:
                    where = "the norm of g(y) or of g(y) - y (it overflowed: the map diverges)"
                reason = (
                    f"non-finite value in {where} at iteration {k} (sample(s) {bad[:5]}"
                    f"{' ...' if len(bad) > 5 else ''}); returning the best finite iterate"
                )
                break
            done = largest <= limit if atol == 0 else float(score.max()) <= limit
            if done:
                converged = True
                criterion = (
                    f"||g(y) - y|| <= {tol:g} ||g(y)|| + {atol:g}"
                    if atol
                    else f"relative residual <= {tol:g}"
                )
                reason = (
                    f"converged: all {batch} sample(s) reached {criterion} "
                    f"after {k} iteration(s) (largest relative: {residuals[-1]:.2e})"
                )
                break
            y = stepper.step(y, gy, f)
        else:
            reason = (
                f"max_iter reached ({max_iter} iterations) without convergence: largest "
                f"relative residual {residuals[-1]:.2e} > tol {tol:g}"
            )

        if isinstance(stepper, _Anderson) and stepper.fallbacks:
            reason += (
                f"; the Anderson least-squares system was singular or numerically singular "
                f"{stepper.fallbacks} time(s) (samples x iterations); those samples took the "
                f"step (1-β) y_k + β g(y_k)"
            )
        return FixedPointResult(
            y=best_y.reshape(shape),
            converged=converged,
            iterations=len(residuals),
            residuals=residuals,
            reason=reason,
            solver=solver,
            sample_residuals=best_r,
        )


def iterate(g: Operator, y0: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """The first ``steps`` Picard iterates of ``g`` from ``y0``: ``[y0, g(y0), …, g^steps(y0)]``.

    The one loop of the package that applies an operator a fixed number of times (the t-step
    maps ``y_t(·)`` of the book); models that add work around it (embeddings, read-outs,
    precomputed coefficients) call this. Unlike :func:`fixed_point` it has no stopping test and
    does not switch off autograd: call it under ``torch.no_grad()`` when no gradient is wanted.
    An operator of the book's form ``G(y, x)`` is passed as ``lambda y: G(y, x)``.

    Args:
        g: the operator ``y ↦ g(y)``.
        y0: the start, returned as the first element (not copied).
        steps: the number of applications of ``g``, an integer ≥ 0.

    Returns:
        A list of ``steps + 1`` tensors; ``torch.stack`` it for one tensor with the steps on
        dim 0.
    """
    if not callable(g):
        raise TypeError(f"g must be a callable operator y -> g(y), got {type(g).__name__}")
    if not (is_integer(steps) and steps >= 0):
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    trajectory = [y0]
    for _ in range(steps):
        trajectory.append(g(trajectory[-1]))
    return trajectory
