"""Checks for the exercises of chapter 2, "The 1/x operator"."""

from __future__ import annotations

import math

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)


def _probe_points() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    y = torch.randn(16, generator=g, dtype=torch.float64) * 3
    x = torch.rand(16, generator=g, dtype=torch.float64) * 1.5 + 0.05
    return y, x


def _worst_factor(eta: float, a: float) -> float:
    """max over x in [a, 1] of abs(1 − η x) (the extremes of a linear function sit at the ends)."""
    return max(abs(1 - eta * a), abs(1 - eta))


def check_best_step(best_step, best_factor) -> bool:
    """Exercise: the step η minimising max_{x ∈ [a, 1]} abs(1 − η x), and that minimal factor."""
    best_step = require_callable(best_step, "best_step(a)")
    best_factor = require_callable(best_factor, "best_factor(a)")
    for a in (0.1, 0.25, 0.5):
        eta = require_number(best_step(a), f"best_step({a})")
        want = 2 / (1 + a)
        check_value(
            eta,
            want,
            prefix=f"best_step({a}) = {eta:.6g} is not the best step: ",
            known_wrong={
                1.0: "η = 1 is exact at x = 1 only; at x = a the factor is 1 − a. Can a larger η "
                "trade some of x = 1 for x = a?",
                1 / a: "η = 1/a is exact at x = a, but at x = 1 the factor is |1 − 1/a|.",
                2.0: "η = 2 is the edge of convergence: at x = 1 the factor is 1.",
                2 / a: "η = 2/a diverges for x near 1.",
                1 / (1 + a): "the two end factors, 1 − η a and η − 1, must be equal.",
            },
            otherwise="the worst factor is max(|1 − η a|, |1 − η|); it is smallest where the two "
            "are equal.",
        )
        factor = require_number(best_factor(a), f"best_factor({a})")
        check_value(
            factor,
            _worst_factor(want, a),
            prefix=f"best_factor({a}) = {factor:.6g} is not right: ",
            known_wrong={
                1 - a: "1 − a is the factor of η = 1, not of the best step.",
                a: "the factor is |1 − η x| at the worst x, not at x = 1 − a.",
            },
            otherwise="insert the best η into |1 − η a| (or |1 − η|: they are equal there).",
        )
    return correct("the best step on [a, 1]")


def check_largest_step(eta_max) -> bool:
    """Exercise: the supremum of the step sizes η for which iteration converges on all of (0, 1]."""
    value = require_number(eta_max, "eta_max")
    return check_value(
        value,
        2.0,
        known_wrong={
            1.0: "eta_max = 1 is the paper's sufficient condition, not the largest step: "
            "look at |1 − η x| < 1 for every x in (0, 1]."
        },
        otherwise=f"eta_max = {value} is not right: the iteration converges at x iff "
        "|1 − η x| < 1; which η make this true for every x in (0, 1]?",
        exercise="the largest step size",
    )


def required_iterations(x: float, eta: float, rel_tol: float) -> int:
    """The least t with ``|y_t(x) − 1/x| ≤ rel_tol / x`` from ``y₀ = 0``.

    From ``y₀ = 0`` the relative error is exactly ``|1 − η x|^t``.
    """
    return math.ceil(math.log(rel_tol) / math.log(abs(1.0 - eta * x)))


def check_iterations(t) -> bool:
    """Exercise: iterations to a relative error of 1e-6 at x = 0.1 with η = 0.5, from y₀ = 0."""
    value = require_number(t, "t")
    if value != int(value):
        raise WrongAnswer(f"t must be a whole number of iterations, got {value}.")
    return check_value(
        value,
        required_iterations(0.1, 0.5, 1e-6),
        rtol=0,
        prefix=f"t = {int(value)} is ",
        known_wrong={
            required_iterations(0.1, 0.5, 1e-6) - 1: "one short: round the bound up, not down."
        },
        otherwise="not the least such t: the relative error after t steps is exactly |1 − η x|^t.",
        exercise="the iteration count",
    )


def check_slope_at_zero(slope) -> bool:
    """Exercise: ``y_t'(0)`` as a function ``slope(eta, t)``; the answer: ``−η² t (t − 1) / 2``."""
    slope = require_callable(slope, "slope(eta, t)")
    for eta, t in [(1.0, 1), (1.0, 2), (0.5, 5), (0.9, 20), (0.3, 100)]:
        got = require_number(slope(eta, t), f"slope({eta}, {t})")
        want = -(eta**2) * t * (t - 1) / 2
        check_value(
            got,
            want,
            atol=1e-12,
            known_wrong={-want: f"slope({eta}, {t}) has the wrong sign: y_t decreases near 0."},
            otherwise=f"slope({eta}, {t}) = {got} is not right: expand (1 − η x)^t by the "
            "binomial theorem and read off the coefficient of x in y_t(x).",
        )
    return correct("the slope of y_t at 0")


def check_newton_operator(G) -> bool:
    """Exercise: Newton's method on ``f(y) = 1/y − x``, i.e. ``G(y, x) = y (2 − x y)``."""
    G = require_callable(G, "G_newton(y, x)")
    y, x = _probe_points()
    return check_close(
        G(y, x), y * (2.0 - x * y), what="G_newton(y, x)", exercise="Newton's operator"
    )
