"""Checks for the exercises of the chapter "Differentiating through a fixed point"."""

from __future__ import annotations

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    as_tensor,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)

_CONTRACTION_FACTORS = (0.3, -0.5, 0.9, 0.99, 0.0)


def check_scalar_derivative(derivative) -> bool:
    """Exercise: dy*/dθ for the scalar fixed point y = a y + θ, as ``derivative(a)``: 1/(1 − a)."""
    derivative = require_callable(derivative, "derivative(a)")
    for a in _CONTRACTION_FACTORS:
        got = require_number(derivative(a), f"derivative({a})")
        check_value(
            got,
            1.0 / (1.0 - a),
            prefix=f"derivative({a}) = ",
            known_wrong={
                1.0: "1 is the Jacobian-free answer ∂g/∂θ: it leaves out the factor "
                "(1 − ∂g/∂y)^(-1) that the implicit function theorem puts in front.",
                a / (1.0 - a): "a/(1 − a) is the derivative of y* − θ, not of y*: differentiate "
                "y* = a y* + θ on both sides.",
            },
            otherwise=f"{got:.6g} is not right: solve y* = a y* + θ for y*, or apply "
            "dy*/dθ = (1 − ∂g/∂y)^(-1) ∂g/∂θ.",
        )
    return correct("the derivative of a scalar fixed point")


def check_unrolled_derivative(derivative) -> bool:
    """Exercise: d y_N/dθ for N Picard steps of y = a y + θ from y₀ = 0: (1 − a^N)/(1 − a)."""
    derivative = require_callable(derivative, "unrolled_derivative(a, N)")
    for a in (0.3, -0.5, 0.9):
        for n in (1, 2, 5, 30):
            got = require_number(derivative(a, n), f"unrolled_derivative({a}, {n})")
            check_value(
                got,
                (1.0 - a**n) / (1.0 - a),
                prefix=f"unrolled_derivative({a}, {n}) ",
                known_wrong={
                    1.0 / (1.0 - a): "= 1/(1 − a) is the limit N → ∞ (the implicit gradient), "
                    "not the derivative of the N-th iterate.",
                    (1.0 - a ** (n + 1)) / (1.0 - a): "counts one step too many: y_1 = θ, so "
                    "y_N = θ (1 + a + … + a^(N−1)).",
                },
                otherwise=f"= {got:.6g} is not right: write y_N as a geometric sum in θ and "
                "differentiate.",
            )
    return correct("the derivative of the unrolled iteration")


def check_jfb_error(error) -> bool:
    """Exercise: the relative error ||∇_jfb − ∇_ift|| / ||∇_ift|| when J = μ I: it is μ."""
    error = require_callable(error, "jfb_error(mu)")
    for mu in (0.1, 0.5, 0.9, 0.99):
        got = require_number(error(mu), f"jfb_error({mu})")
        check_value(
            got,
            mu,
            prefix=f"jfb_error({mu}) = ",
            known_wrong={
                mu / (1.0 - mu): "μ/(1 − μ) divides by ||∇_jfb||; the relative error is "
                "measured against the exact gradient ∇_ift = ∇_jfb / (1 − μ)."
            },
            otherwise=f"{got:.6g} is not right: with J = μ I the exact u is (1 − μ)^(-1) v, and "
            "jfb uses u ≈ v.",
        )
    return correct("the Jacobian-free error")


def check_phantom_error(error) -> bool:
    """Exercise: the phantom gradient's relative error for J = μ I: (1 − τ (1 − μ))^k."""
    error = require_callable(error, "phantom_error(mu, k, tau)")
    for mu, k, tau in [(0.5, 1, 1.0), (0.9, 3, 0.8), (0.9, 10, 0.5), (0.99, 5, 1.0), (0.3, 2, 0.6)]:
        got = require_number(error(mu, k, tau), f"phantom_error({mu}, {k}, {tau})")
        check_value(
            got,
            (1.0 - tau * (1.0 - mu)) ** k,
            prefix=f"phantom_error({mu}, {k}, {tau}) = ",
            known_wrong={
                mu**k: "μ^k ignores the damping: one damped step multiplies by (1 − τ) + τ μ, "
                "not by μ."
            },
            otherwise=f"{got:.6g} is not right: the phantom gradient is τ Σ_(j<k) M^j with "
            "M = (1 − τ) I + τ J; compare with (I − J)^(-1) = τ Σ_(j≥0) M^j.",
        )
    return correct("the phantom-gradient error")


def _backward_problem(seed: int, n: int = 5, mu: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """A non-symmetric J with ||J||₂ = μ, and a vector v."""
    gen = torch.Generator().manual_seed(seed)
    J = torch.randn(n, n, generator=gen, dtype=torch.float64)
    J = mu * J / torch.linalg.matrix_norm(J, 2)
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    return J, v


def check_backward_iteration(iterate) -> bool:
    """Exercise: ``iterate(J, v, steps)`` returns u_steps of u_{k+1} = v + Jᵀ u_k from u_0 = v."""
    iterate = require_callable(iterate, "backward_iteration(J, v, steps)")
    for seed in (0, 1):
        J, v = _backward_problem(seed)
        exact = torch.linalg.solve(torch.eye(len(v), dtype=v.dtype) - J.T, v)
        got = as_tensor(iterate(J.clone(), v.clone(), 200), "backward_iteration(J, v, 200)")
        if got.shape != v.shape:
            raise WrongAnswer(
                f"backward_iteration(J, v, 200): expected the shape {tuple(v.shape)} of v, "
                f"got {tuple(got.shape)}."
            )
        check_close(
            got,
            exact,
            what="backward_iteration(J, v, 200) against torch.linalg.solve",
            rtol=1e-8,
            atol=1e-8,
            known_wrong=[
                (
                    torch.linalg.solve(torch.eye(len(v), dtype=v.dtype) - J, v),
                    "backward_iteration solves (I − J) u = v: the backward equation has the "
                    "transpose, u = v + Jᵀ u (a vector-Jacobian product, not a Jacobian-vector "
                    "one).",
                )
            ],
        )
        for steps in (0, 1, 3):
            partial = v.clone()
            for _ in range(steps):
                partial = v + J.T @ partial
            got = as_tensor(
                iterate(J.clone(), v.clone(), steps), f"backward_iteration(J, v, {steps})"
            )
            check_close(
                got,
                partial,
                what=f"backward_iteration(J, v, {steps}) (start at u_0 = v)",
                rtol=1e-10,
                atol=1e-10,
            )
    return correct("the backward fixed-point iteration")
