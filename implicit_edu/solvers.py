"""Fixed-point solvers: the forward pass of an implicit (deep equilibrium) layer.

An implicit layer defines its output as a fixed point ``y* = g(y*)`` of an operator ``g``
(for a DEQ, ``g(y) = layer(y, x)`` with the input ``x`` held fixed). This module finds
``y*`` by iteration. Four methods are provided:

* ``"picard"``   Picard iteration            y_{k+1} = g(y_k)
* ``"km"``       Krasnoselskii–Mann          y_{k+1} = (1 - α) y_k + α g(y_k)
* ``"anderson"`` Anderson acceleration (type II), mixing the last m iterates
* ``"broyden"``  Broyden's (good) quasi-Newton method on f(y) = g(y) - y

Conventions shared by every method:

* ``y0`` has shape ``(B, ...)``: the first dimension is the batch. Each sample is judged
  on its own, over all its other entries flattened into one vector. A 0-dim ``y0`` is one
  sample; a 1-D ``y0`` of shape ``(N,)`` is N scalar samples.
* Relative residual of sample i at the iterate y_k:

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
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["FixedPointResult", "fixed_point"]

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
        method: the method used ("picard", "km", "anderson" or "broyden").
        sample_residuals: shape (B,), the relative residual of each returned sample.
    """

    y: torch.Tensor
    converged: bool
    iterations: int
    residuals: list[float]
    reason: str
    method: str
    sample_residuals: torch.Tensor

    def summary(self) -> str:
        """A few readable lines: status, work done, accuracy reached and the reason."""
        status = "converged" if self.converged else "did NOT converge"
        worst = float(self.sample_residuals.max()) if self.sample_residuals.numel() else 0.0
        return (
            f"{self.method}: {status} after {self.iterations} evaluations of g\n"
            f"  largest relative residual of the returned y: {worst:.3e}\n"
            f"  y: shape {tuple(self.y.shape)}, {self.y.dtype}, {self.y.device}\n"
            f"  reason: {self.reason}"
        )

    def __repr__(self) -> str:
        worst = float(self.sample_residuals.max()) if self.sample_residuals.numel() else 0.0
        return (
            f"FixedPointResult(method={self.method!r}, converged={self.converged}, "
            f"iterations={self.iterations}, max_sample_residual={worst:.2e}, "
            f"y_shape={tuple(self.y.shape)})"
        )


# --------------------------------------------------------------------------------------
# One class per method. Each works on flattened iterates of shape (B, n) and has a single
# method ``step(y, gy)`` that returns y_{k+1} from y_k and g(y_k).
# --------------------------------------------------------------------------------------


class _Step(Protocol):
    def step(self, y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor: ...


class _Picard:
    """Picard iteration: y_{k+1} = g(y_k).

    Converges (linearly, with rate L) when g is a contraction with Lipschitz constant L < 1.
    """

    def step(self, y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        return gy


class _KrasnoselskiiMann:
    """Krasnoselskii–Mann (averaged) iteration: y_{k+1} = (1 - α) y_k + α g(y_k).

    α = 1 is Picard. For α < 1 it converges for every nonexpansive g (L <= 1) that has a
    fixed point, where Picard may oscillate forever (e.g. g(y) = -y).
    """

    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha

    def step(self, y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        return (1 - self.alpha) * y + self.alpha * gy


class _Anderson:
    """Anderson acceleration, type II, batched over samples.

    Keep the last m_k = min(m, k+1) iterates y_i and values g(y_i), with residuals
    f_i = g(y_i) - y_i. For each sample solve the constrained least-squares problem

        minimise_α  ||Σ_i α_i f_i||² + λ' ||α||²   subject to  Σ_i α_i = 1,

    with a Tikhonov term scaled to the residuals, λ' = lam · mean_i ||f_i||² (lam times the
    mean of the diagonal of the Gram matrix G_ij = f_iᵀ f_j). An absolute λ'=lam would
    dominate G when the residuals are small, pushing α towards uniform weights and stalling.
    Its optimality (KKT) conditions are the bordered (m_k+1) x (m_k+1) linear system

        [ 0   1ᵀ       ] [ ν ]   [ 1 ]
        [ 1   G + λ' I ] [ α ] = [ 0 ],

    and the next iterate mixes the history with the weights α:

        y_{k+1} = (1 - β) Σ_i α_i y_i + β Σ_i α_i g(y_i).

    The first step (m_k = 1, α = 1) is y_1 = (1 - β) y_0 + β g(y_0). If the system of a
    sample is singular (or gives non-finite α), that sample takes the step with α = e_last,
    i.e. (1 - β) y_k + β g(y_k); these fallbacks are counted in ``self.fallbacks``.
    """

    def __init__(self, m: int = 5, lam: float = 1e-4, beta: float = 1.0) -> None:
        self.m, self.lam, self.beta = m, lam, beta
        self.ys: torch.Tensor | None = None  # history of y_i,    shape (B, m_k, n)
        self.gs: torch.Tensor | None = None  # history of g(y_i), shape (B, m_k, n)
        self.fallbacks = 0

    def step(self, y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        if self.ys is None or self.gs is None:
            self.ys, self.gs = y[:, None], gy[:, None]
        else:  # append the newest pair and keep only the last m
            self.ys = torch.cat([self.ys, y[:, None]], dim=1)[:, -self.m :]
            self.gs = torch.cat([self.gs, gy[:, None]], dim=1)[:, -self.m :]
        batch, mk, _ = self.ys.shape

        f = self.gs - self.ys  # residuals f_i as rows, (B, m_k, n)
        gram = f @ f.transpose(1, 2)  # G_ij = f_iᵀ f_j, (B, m_k, m_k)
        scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1)  # mean_i ||f_i||², (B,)
        eye = torch.eye(mk, dtype=y.dtype, device=y.device)

        system = torch.zeros(batch, mk + 1, mk + 1, dtype=y.dtype, device=y.device)
        system[:, 0, 1:] = 1.0
        system[:, 1:, 0] = 1.0
        system[:, 1:, 1:] = gram + (self.lam * scale)[:, None, None] * eye
        rhs = torch.zeros(batch, mk + 1, 1, dtype=y.dtype, device=y.device)
        rhs[:, 0] = 1.0
        # solve_ex is torch.linalg.solve that reports failure per sample (info != 0)
        # instead of raising for the whole batch.
        solution, info = torch.linalg.solve_ex(system, rhs)
        alpha = solution[:, 1:, 0]  # (B, m_k); solution[:, 0] is the multiplier ν

        solved = (info == 0) & torch.isfinite(alpha).all(dim=1)
        at_fixed_point = scale == 0  # all f_i = 0: nothing to mix, just stay put
        use_last = ~solved | at_fixed_point
        if use_last.any():
            last = torch.zeros_like(alpha)
            last[:, -1] = 1.0
            alpha = torch.where(use_last[:, None], last, alpha)
            self.fallbacks += int((~solved & ~at_fixed_point).sum())

        mixed_y = torch.einsum("bi,bin->bn", alpha, self.ys)  # Σ_i α_i y_i
        mixed_g = torch.einsum("bi,bin->bn", alpha, self.gs)  # Σ_i α_i g(y_i)
        return (1 - self.beta) * mixed_y + self.beta * mixed_g


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

    At most ``memory`` pairs (u, v) are kept; when the store is full it is cleared
    (H back to -I) before the next pair is added. A sample whose denominator is ~0,
    |Δyᵀ H_k Δf| <= eps ||v|| ||Δf||, skips its update (its u is set to 0).
    """

    def __init__(self, memory: int = 30) -> None:
        self.memory = memory
        self.us: torch.Tensor | None = None  # u_j as columns, (B, n, r)
        self.vs: torch.Tensor | None = None  # v_j as columns, (B, n, r)
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (y_k, f(y_k))

    def _h(self, x: torch.Tensor) -> torch.Tensor:
        """H x = -x + U (Vᵀ x)."""
        if self.us is None or self.vs is None:
            return -x
        return -x + (self.us @ (self.vs.transpose(1, 2) @ x[:, :, None]))[:, :, 0]

    def _h_transposed(self, x: torch.Tensor) -> torch.Tensor:
        """Hᵀ x = -x + V (Uᵀ x)."""
        if self.us is None or self.vs is None:
            return -x
        return -x + (self.vs @ (self.us.transpose(1, 2) @ x[:, :, None]))[:, :, 0]

    def step(self, y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
        f = gy - y
        if self.previous is not None:
            dy, df = y - self.previous[0], f - self.previous[1]
            v = self._h_transposed(dy)  # Hᵀ Δy
            denominator = (v * df).sum(dim=1)  # vᵀ Δf = Δyᵀ H Δf, (B,)
            eps = torch.finfo(y.dtype).eps
            safe = denominator.abs() > eps * v.norm(dim=1) * df.norm(dim=1)
            safe_denominator = torch.where(safe, denominator, torch.ones_like(denominator))
            u = (dy - self._h(df)) / safe_denominator[:, None]
            u = torch.where(safe[:, None], u, torch.zeros_like(u))
            if self.us is not None and self.us.shape[2] >= self.memory:
                self.us, self.vs = None, None  # restart: H = -I
            if self.us is None or self.vs is None:
                self.us, self.vs = u[:, :, None], v[:, :, None]
            else:
                self.us = torch.cat([self.us, u[:, :, None]], dim=2)
                self.vs = torch.cat([self.vs, v[:, :, None]], dim=2)
        self.previous = (y, f)
        return y - self._h(f)


# Each method's options with their defaults.
_METHODS: dict[str, tuple[type, dict[str, float]]] = {
    "picard": (_Picard, {}),
    "km": (_KrasnoselskiiMann, {"alpha": 0.5}),
    "anderson": (_Anderson, {"m": 5, "lam": 1e-4, "beta": 1.0}),
    "broyden": (_Broyden, {"memory": 30}),
}


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_option_values(options: dict[str, float]) -> None:
    """Raise ValueError for an option value outside its valid range."""
    for name in ("alpha", "beta"):
        if name in options:
            value = options[name]
            if not (_is_real(value) and 0 < value <= 1):
                raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    for name in ("m", "memory"):
        if name in options:
            value = options[name]
            if not (_is_int(value) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if "lam" in options:
        value = options["lam"]
        if not (_is_real(value) and 0 <= value < math.inf):
            raise ValueError(f"lam must be a finite number >= 0, got {value!r}")


def _make_solver(method: str, options: dict[str, float]) -> _Step:
    """Check the method name and its options; return the method's step object."""
    if method not in _METHODS:
        valid = ", ".join(repr(name) for name in _METHODS)
        raise ValueError(f"unknown method {method!r}; valid methods: {valid}")
    solver_class, defaults = _METHODS[method]
    for name in options:
        if name not in defaults:
            valid = ", ".join(defaults) if defaults else "none (this method takes no options)"
            raise ValueError(
                f"unknown option {name!r} for method {method!r}; valid options: {valid}"
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
    if not (_is_real(tol) and 0 < tol < math.inf):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if not (_is_int(max_iter) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")


def _relative_residual(y: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """r_i = ||g(y)_i - y_i|| / max(||g(y)_i||, tiny) for flattened (B, n) tensors."""
    tiny = torch.finfo(y.dtype).tiny
    numerator = torch.linalg.vector_norm(gy - y, dim=1)
    denominator = torch.linalg.vector_norm(gy, dim=1).clamp_min(tiny)
    return (numerator / denominator).nan_to_num(nan=math.inf)  # inf/inf (overflow) -> inf


def fixed_point(
    g: Operator,
    y0: torch.Tensor,
    method: str = "picard",
    tol: float = 1e-6,
    max_iter: int = 100,
    *,
    atol: float = 0.0,
    **options: float,
) -> FixedPointResult:
    """Solve y = g(y) by iteration from y0, sample by sample.

    Args:
        g: the operator; maps a tensor of y0's shape to a tensor of the same shape.
        y0: starting point, shape (B, ...) with the batch first (0-dim: one sample;
            1-D (N,): N scalar samples). Float32 or float64; all arithmetic uses its dtype.
        method: "picard", "km", "anderson" or "broyden".
        tol: stop when every sample has relative residual
            ||g(y_k) - y_k|| / max(||g(y_k)||, tiny) <= tol.
        max_iter: the largest number of evaluations of g.
        atol: with atol > 0 a sample is done when ||g(y_k) - y_k|| <= tol ||g(y_k)|| + atol
            (default 0: the relative test alone). Needed where a fixed point is (close to) 0.
        **options: options of the method:
            picard:   none                      y_{k+1} = g(y_k)
            km:       alpha=0.5 in (0, 1]       y_{k+1} = (1 - α) y_k + α g(y_k)
            anderson: m=5 (memory, >= 1), lam=1e-4 (regularisation, scaled to the
                      residuals), beta=1.0 (mixing, in (0, 1])
            broyden:  memory=30 (rank-one updates kept before a restart, >= 1)

    Returns:
        A :class:`FixedPointResult`. Its ``y`` is, per sample, the iterate with the lowest
        residual seen, so it is useful even when the solve did not converge.

    The solve stops early, with converged=False, if g(y_k) contains nan or inf; the
    returned y is then the best finite iterate so far (y0 if there is none).

    Raises:
        TypeError: g is not callable, y0 is not a tensor or is not floating point.
        ValueError: unknown method or option, invalid option value, tol <= 0,
            max_iter < 1, non-finite y0, or g(y) that is not a tensor of y0's shape.

    Example:
        >>> result = fixed_point(torch.cos, torch.zeros(1, dtype=torch.float64),
        ...                      method="anderson", tol=1e-10)
        >>> round(result.y.item(), 10)
        0.7390851332
    """
    _check_inputs(g, y0, tol, max_iter)
    if not (_is_real(atol) and 0 <= atol < math.inf):
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    solver = _make_solver(method, options)
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
            finite = torch.isfinite(gy).all(dim=1) & torch.isfinite(y).all(dim=1)
            r = torch.where(finite, _relative_residual(y, gy), math.inf)
            residuals.append(float(r.max()))

            # Score each iterate against its stopping criterion (score <= 1 means done): the
            # relative residual over tol, or with atol the absolute residual over tol·||g|| + atol.
            if atol > 0:
                distance = torch.linalg.vector_norm(gy - y, dim=1)
                allowed = tol * torch.linalg.vector_norm(gy, dim=1) + atol
                score = torch.where(finite, distance / allowed, math.inf)
            else:
                score = r / tol
            better = score < best_score  # keep each sample's best iterate
            best_y = torch.where(better[:, None], y, best_y)
            best_r = torch.where(better, r, best_r)
            best_score = torch.where(better, score, best_score)

            if not finite.all():
                bad = torch.nonzero(~finite).flatten().tolist()
                where = "g(y)" if not torch.isfinite(gy).all() else "the iterate y"
                reason = (
                    f"non-finite value in {where} at iteration {k} (sample(s) {bad[:5]}"
                    f"{' ...' if len(bad) > 5 else ''}); returning the best finite iterate"
                )
                break
            if bool((score <= 1).all()):
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
            y = solver.step(y, gy)
        else:
            reason = (
                f"max_iter reached ({max_iter} iterations) without convergence: largest "
                f"relative residual {residuals[-1]:.2e} > tol {tol:g}"
            )

        if isinstance(solver, _Anderson) and solver.fallbacks:
            reason += (
                f"; the Anderson least-squares system was singular {solver.fallbacks} "
                f"time(s) (samples x iterations); those samples took the step (1-β) y_k + β g(y_k)"
            )
        return FixedPointResult(
            y=best_y.reshape(shape),
            converged=converged,
            iterations=len(residuals),
            residuals=residuals,
            reason=reason,
            method=method,
            sample_residuals=best_r,
        )
