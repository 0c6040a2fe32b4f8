"""Deep equilibrium (DEQ) layers: the chapter "Differentiating through a fixed point".

A DEQ layer maps an input x to the fixed point of an operator g,

    y* = g(y*, x),                                                          (1)

found by :func:`implicit_edu.core.solvers.fixed_point` with no autograd graph. Its gradient comes
from the implicit function theorem. Differentiating (1) gives dy* = J dy* + ∂g/∂θ dθ with
J = ∂g/∂y at y*, so dy*/dθ = (I - J)^{-1} ∂g/∂θ (the same for x). For a loss ℓ with
v = ∂ℓ/∂y* this is

    ∂ℓ/∂θ = uᵀ ∂g/∂θ,    ∂ℓ/∂x = uᵀ ∂g/∂x,    where  u = (I - J)^{-T} v,        (2)

and u is itself a fixed point, of the *backward equation*

    u = v + Jᵀ u,                                                           (3)

solved with the same solvers, using only vector-Jacobian products Jᵀu. The backward modes of
:class:`DEQ` are four ways to get (an approximation of) u:

* ``"ift"``      solve (3): the exact gradient (2);
* ``"jfb"``      Jacobian-free backprop (Fung et al., 2022): u ≈ v, i.e. I - J ≈ I;
* ``"phantom"``  phantom gradients (Geng et al., 2021): backprop through k damped steps
                 y ← (1 - τ) y + τ g(y, x) from y*, a truncated Neumann series for (I - J)^{-1};
* ``"unrolled"`` plain backprop through N Picard steps y_{k+1} = g(y_k, x): memory grows
                 with N. The baseline of the memory experiment.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers, is_number
from implicit_edu.core.solvers import FixedPointResult, fixed_point, iterate

__all__ = ["DEQ", "BACKWARD_MODES", "DEQConvergenceWarning"]

BACKWARD_MODES = ("ift", "jfb", "phantom", "unrolled")

Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DEQConvergenceWarning(RuntimeWarning):
    """A forward (or ift backward) solve stopped before reaching its tolerance."""


@runtime_checkable
class _HasInitialState(Protocol):
    def initial_state(self, x: torch.Tensor) -> torch.Tensor: ...


class _ImplicitBackward(torch.autograd.Function):
    """Identity in the forward pass; in the backward pass replaces v by u = (I - J)^{-T} v.

    It sits after the single differentiable application y = g(y*, x). Autograd then carries
    u, not v, back through that application: to θ and x it delivers uᵀ ∂g/∂θ and uᵀ ∂g/∂x,
    which is (2). ``solve`` solves the backward equation (3) for a given v.
    """

    @staticmethod
    def forward(
        ctx: Any, y: torch.Tensor, solve: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        ctx.solve = solve
        return y.view_as(y)

    @staticmethod
    def backward(ctx: Any, v: torch.Tensor) -> tuple[torch.Tensor, None]:
        if torch.is_grad_enabled():  # create_graph=True: u would be treated as a constant
            raise RuntimeError(
                "DEQ(backward='ift') supports first derivatives only: double backward "
                "(create_graph=True) would ignore how u = (I - J)^{-T} v depends on the "
                "inputs and return wrong numbers; use backward='unrolled' for higher derivatives"
            )
        return ctx.solve(v), None


def _check_solver(role: str, solver: str, tol: float, max_iter: int, options: dict) -> None:
    """Raise ValueError now (not at the first call) for a bad solver, option or tolerance.

    The check is a one-step solve of y = y, so it accepts exactly what ``fixed_point`` accepts.
    """
    try:
        fixed_point(lambda y: y, torch.ones(1), solver, tol=tol, max_iter=1, **options)
        check_positive_integers(max_iter=max_iter)
    except (TypeError, ValueError) as error:
        raise ValueError(f"DEQ {role} solver: {error}") from error


class DEQ(nn.Module):
    """A deep equilibrium layer: ``layer(x)`` returns the fixed point y* = g(y*, x) of (1).

    Args:
        g: the operator, called as ``g(y, x)`` and returning a tensor of y's shape. An
            ``nn.Module`` is registered as the submodule ``g``, so ``layer.parameters()``
            contains its parameters. A plain function is accepted too (gradients still reach
            every tensor it uses, but ``layer.parameters()`` cannot list them).
        solver: the forward solver, named as in :func:`~implicit_edu.core.solvers.fixed_point`
            ("picard", "km", "anderson", "broyden"). Every argument after ``g`` is
            keyword-only.
        backward: "ift", "jfb", "phantom" or "unrolled" (see the module docstring).
        tol, max_iter: stopping rule of the forward solve (relative residual
            ||g(y) - y|| / ||g(y)|| <= tol, at most max_iter evaluations of g).
        backward_tol, backward_max_iter, backward_solver: the same for the ift backward
            solve of (3); default to tol, max_iter and solver.
        solver_options: options of the forward solver, the ``**options`` of ``fixed_point``,
            e.g. ``{"m": 6, "lam": 1e-4}``.
        backward_solver_options: options of the backward solver; default: solver_options
            when the backward solver is the forward one, else none.
        phantom_steps, phantom_tau: k and τ of the phantom gradient.
        unrolled_steps: N for backward="unrolled" (default max_iter).
        warn_on_nonconvergence: emit a :class:`DEQConvergenceWarning` when a solve stops
            above its tolerance (the result stays in ``forward_result``/``backward_result``).

    Call ``layer(x, y0=None)``; without y0 the start is ``g.initial_state(x)``. After a call,
    ``layer.forward_result`` holds the forward solve's
    :class:`~implicit_edu.core.solvers.FixedPointResult` and, for
    "ift" once backward has run, ``layer.backward_result`` the backward solve's.

    Design of "ift". The forward solve runs without autograd. Then g is applied once more,
    y = g(y*, x), with autograd on, and y passes through ``_ImplicitBackward``: an
    autograd.Function that is the identity forwards and, backwards, turns the incoming
    v = ∂ℓ/∂y into the solution u of (3). Everything else is ordinary autograd through
    one application of g, so gradients reach x and every parameter of g (also under
    ``torch.func.functional_call``), and nothing is registered on any tensor or module:
    there is no hook to remove and nothing that can recurse. The products Jᵀu in (3) are
    ``torch.autograd.grad(y, y*, u)`` on the graph of that same application, whose root y
    carries no hook. The output is g(y*, x), one Picard step past y*, which equals y* to
    within the forward tolerance. Train and eval mode differ only as g itself does.
    """

    def __init__(
        self,
        g: nn.Module | Operator,
        *,
        solver: str = "anderson",
        backward: str = "ift",
        tol: float = 1e-6,
        max_iter: int = 50,
        backward_tol: float | None = None,
        backward_max_iter: int | None = None,
        backward_solver: str | None = None,
        solver_options: dict[str, float] | None = None,
        phantom_steps: int = 3,
        phantom_tau: float = 0.8,
        unrolled_steps: int | None = None,
        warn_on_nonconvergence: bool = True,
        backward_solver_options: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        if not callable(g):
            raise TypeError(
                f"g must be an nn.Module (or a function) called as g(y, x), got {type(g).__name__}"
            )
        if backward not in BACKWARD_MODES:
            valid = ", ".join(repr(mode) for mode in BACKWARD_MODES)
            raise ValueError(f"unknown backward mode {backward!r}; valid modes: {valid}")
        self.g = g  # an nn.Module is registered as a submodule by this assignment
        self.solver = solver
        self.backward = backward
        self.tol, self.max_iter = tol, max_iter
        self.solver_options = dict(solver_options or {})
        self.backward_solver = backward_solver if backward_solver is not None else solver
        self.backward_tol = backward_tol if backward_tol is not None else tol
        self.backward_max_iter = backward_max_iter if backward_max_iter is not None else max_iter
        if backward_solver_options is not None:
            self.backward_solver_options = dict(backward_solver_options)
        elif self.backward_solver == solver:
            self.backward_solver_options = dict(self.solver_options)
        else:
            self.backward_solver_options = {}
        _check_solver("forward", solver, tol, max_iter, self.solver_options)
        _check_solver(
            "backward",
            self.backward_solver,
            self.backward_tol,
            self.backward_max_iter,
            self.backward_solver_options,
        )
        check_positive_integers(phantom_steps=phantom_steps)
        if not (is_number(phantom_tau) and 0 < phantom_tau <= 1):
            raise ValueError(f"phantom_tau must be a number in (0, 1], got {phantom_tau!r}")
        self.phantom_steps, self.phantom_tau = phantom_steps, phantom_tau
        self.unrolled_steps = unrolled_steps if unrolled_steps is not None else max_iter
        check_positive_integers(unrolled_steps=self.unrolled_steps)
        self.warn_on_nonconvergence = warn_on_nonconvergence
        self.forward_result: FixedPointResult | None = None
        self.backward_result: FixedPointResult | None = None

    def extra_repr(self) -> str:
        return (
            f"solver={self.solver!r}, backward={self.backward!r}, tol={self.tol:g}, "
            f"max_iter={self.max_iter}"
        )

    # ----------------------------------------------------------------------------- forward

    def _start(self, x: torch.Tensor, y0: torch.Tensor | None) -> torch.Tensor:
        """y0, or g.initial_state(x); checks that x and y0 have the same batch size."""
        if y0 is None:
            if not isinstance(self.g, _HasInitialState):
                raise ValueError(
                    f"no starting point: pass y0 (layer(x, y0=...)) or give the operator "
                    f"{type(self.g).__name__} a method initial_state(x) returning y0"
                )
            y0 = self.g.initial_state(x)
        if not isinstance(y0, torch.Tensor):
            raise TypeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}")
        if isinstance(x, torch.Tensor) and x.dim() > 0 and y0.dim() > 0:
            if x.shape[0] != y0.shape[0]:
                raise ValueError(
                    f"batch mismatch: x has batch size {x.shape[0]} (shape {tuple(x.shape)}) "
                    f"but y0 has {y0.shape[0]} (shape {tuple(y0.shape)}); the first "
                    f"dimension of both is the batch"
                )
        return y0

    def _warn(self, which: str, result: FixedPointResult) -> None:
        if self.warn_on_nonconvergence and not result.converged:
            warnings.warn(
                f"DEQ {which} solve did not converge ({result.solver}, "
                f"{result.iterations} iterations): {result.reason}. Inspect "
                f"layer.{which}_result; silence with warn_on_nonconvergence=False.",
                DEQConvergenceWarning,
                stacklevel=2,
            )

    def forward(self, x: torch.Tensor, y0: torch.Tensor | None = None) -> torch.Tensor:
        """Return the fixed point y* = g(y*, x), differentiable by the chosen backward mode."""
        y0 = self._start(x, y0)
        self.backward_result = None
        if self.backward == "unrolled":
            y, self.forward_result = self._unrolled(x, y0)
            self._warn("forward", self.forward_result)
            return y

        self.forward_result = fixed_point(
            lambda y: self.g(y, x),
            y0,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            **self.solver_options,
        )
        self._warn("forward", self.forward_result)
        y_star = self.forward_result.y.detach()

        if self.backward == "jfb":  # y = g(y*, x), the only differentiable step
            return self.g(y_star, x)
        if self.backward == "phantom":  # y ← (1 - τ) y + τ g(y, x), k times, from y*
            tau = self.phantom_tau
            return iterate(
                lambda y: (1 - tau) * y + tau * self.g(y, x), y_star, self.phantom_steps
            )[-1]
        return self._implicit(x, y_star)

    def _implicit(self, x: torch.Tensor, y_star: torch.Tensor) -> torch.Tensor:
        """One application y = g(y*, x) whose backward pass solves (3), for backward="ift"."""
        if not torch.is_grad_enabled():
            return self.g(y_star, x)
        y_leaf = y_star.requires_grad_()  # a fresh leaf: detached output of the solver
        y = self.g(y_leaf, x)
        if not y.requires_grad:  # g depends on nothing that needs a gradient
            return y.detach()

        def solve_backward(v: torch.Tensor) -> torch.Tensor:
            """u = (I - J)^{-T} v as the fixed point of u = v + Jᵀ u, equation (3)."""

            def step(u: torch.Tensor) -> torch.Tensor:
                (jtu,) = torch.autograd.grad(y, y_leaf, u, retain_graph=True)
                return v + jtu

            result = fixed_point(
                step,
                v.detach(),
                solver=self.backward_solver,
                tol=self.backward_tol,
                max_iter=self.backward_max_iter,
                **self.backward_solver_options,
            )
            self.backward_result = result
            self._warn("backward", result)
            return result.y

        return _ImplicitBackward.apply(y, solve_backward)

    def _unrolled(self, x: torch.Tensor, y0: torch.Tensor) -> tuple[torch.Tensor, FixedPointResult]:
        """N Picard steps y_{k+1} = g(y_k, x) with autograd on; residuals as in fixed_point."""
        y = y0
        batch = y0.shape[0] if y0.dim() > 0 else 1
        tiny = torch.finfo(y0.dtype).tiny
        residuals: list[float] = []
        r = torch.zeros(batch, dtype=y0.dtype, device=y0.device)
        for _ in range(self.unrolled_steps):
            gy = self.g(y, x)
            with torch.no_grad():  # r_i = ||g(y_k) - y_k|| / ||g(y_k)||, outside the graph
                diff = (gy - y).reshape(batch, -1).norm(dim=1)
                r = (diff / gy.reshape(batch, -1).norm(dim=1).clamp_min(tiny)).nan_to_num(
                    nan=math.inf
                )
                residuals.append(float(r.max()))
            y = gy
        converged = residuals[-1] <= self.tol
        reason = (
            f"unrolled: {self.unrolled_steps} Picard steps with autograd on; relative residual "
            f"of the last step {residuals[-1]:.2e} {'<=' if converged else '>'} tol {self.tol:g}"
        )
        result = FixedPointResult(
            y=y.detach(),
            converged=converged,
            iterations=self.unrolled_steps,
            residuals=residuals,
            reason=reason,
            solver="picard",
            sample_residuals=r,
        )
        return y, result
