"""Checks for the exercises of Part II, chapter "Sufficiency" (Theorem 2.4)."""

from __future__ import annotations

import math

import torch

from implicit_edu.analysis.theory import talk_example
from implicit_edu.exercises._common import (
    WrongAnswer,
    check_value,
    correct,
    require_callable,
    require_number,
)

# Nested log-spaced grids of (0, ∞): [1e-k, 1e+k] with the same density (200 points per decade),
# so that a difference quotient that grows from one grid to the next reveals a slope that is
# unbounded near 0 (or near ∞).
_GRID_DECADES = (3, 6, 9, 12)
_POINTS_PER_DECADE = 200


def _grid(decades: int) -> torch.Tensor:
    return torch.logspace(-decades, decades, 2 * decades * _POINTS_PER_DECADE + 1).double()


def _neighbour_lipschitz(values: torch.Tensor, xs: torch.Tensor) -> float:
    """Largest difference quotient between neighbours of the sorted grid ``xs``."""
    return float(((values[1:] - values[:-1]).abs() / (xs[1:] - xs[:-1])).max())


def _step_values(eps, xs: torch.Tensor) -> torch.Tensor:
    try:
        values = eps(xs.clone())
    except Exception as error:  # the reader's code: report any failure as a wrong answer
        raise WrongAnswer(
            f"eps(x) raised {type(error).__name__}: {error}. It must accept a 1-D tensor of "
            "inputs x > 0 and return ε(x) for each of them (use torch functions)."
        ) from None
    if values is None:
        raise WrongAnswer("eps(x) returned None (did you forget `return`?).")
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.shape != xs.shape:
        raise WrongAnswer(
            f"eps(x) must return one value per input: expected shape {tuple(xs.shape)}, "
            f"got {tuple(values.shape)}."
        )
    if not bool(torch.isfinite(values).all()):
        raise WrongAnswer("eps(x) returned nan or inf for some x > 0.")
    return values


def check_step_for_inverse(eps) -> bool:
    """Exercise: a step ``ε`` for ``F(x) = 1/x`` on ``(0, ∞)`` that makes the construction regular.

    Lemma A needs ``0 < ε < 1`` and both ``ε`` and ``ε F`` globally Lipschitz on ``(0, ∞)``. The
    check measures the largest difference quotients on nested grids ``[10⁻ᵏ, 10ᵏ]``: for a
    Lipschitz map they settle, for a map with an unbounded slope they keep growing.
    """
    eps = require_callable(eps, "eps(x)")
    lip_eps, lip_product = [], []
    for decades in _GRID_DECADES:
        xs = _grid(decades)
        values = _step_values(eps, xs)
        bad = (values <= 0) | (values >= 1)
        if bool(bad.any()):
            where = int(bad.nonzero()[0])
            raise WrongAnswer(
                f"ε(x) must lie strictly between 0 and 1 for every x > 0, but "
                f"ε({float(xs[where]):.3g}) = {float(values[where]):.3g}: then μ = 1 − ε is not "
                "a contraction factor in (0, 1). Hint: cap it, e.g. with torch.clamp(·, max=c) "
                "or c·min(1, ·) for some c < 1."
            )
        lip_eps.append(_neighbour_lipschitz(values, xs))
        lip_product.append(_neighbour_lipschitz(values / xs, xs))

    def grows(estimates: list[float]) -> bool:
        return estimates[-1] > 2.0 * estimates[-2] + 1e-9

    if grows(lip_eps):
        raise WrongAnswer(
            "ε itself is not globally Lipschitz: its largest difference quotient grows from "
            f"{lip_eps[-2]:.3g} on [1e-{_GRID_DECADES[-2]}, 1e{_GRID_DECADES[-2]}] to "
            f"{lip_eps[-1]:.3g} on [1e-{_GRID_DECADES[-1]}, 1e{_GRID_DECADES[-1]}]. Condition (i) "
            "needs Lip(ε) < ∞ (a power x^p with p < 1 has an infinite slope at 0)."
        )
    if grows(lip_product):
        raise WrongAnswer(
            "ε·F = ε(x)/x is not globally Lipschitz: its largest difference quotient grows from "
            f"{lip_product[-2]:.3g} on [1e-{_GRID_DECADES[-2]}, 1e{_GRID_DECADES[-2]}] to "
            f"{lip_product[-1]:.3g} on [1e-{_GRID_DECADES[-1]}, 1e{_GRID_DECADES[-1]}]. Near the "
            "pole ε must go to 0 at least as fast as x."
        )
    print(f"  Lip(ε) ≈ {lip_eps[-1]:.3g}, Lip(ε·F) ≈ {lip_product[-1]:.3g} on (0, ∞)")
    return correct("a regular step for 1/x")


def talk_iterations(x: float = 0.05, rel_tol: float = 1e-3) -> int:
    """The least t with ``|y_t(x) − F(x)| ≤ rel_tol |F(x)|`` for the talk's example from ``y₀ = 0``.

    From ``y₀ = 0`` the relative error after t steps is exactly ``(1 − ε(x))^t``.
    """
    _, eps = talk_example()
    step = float(eps(torch.tensor([x], dtype=torch.float64)))
    return math.ceil(math.log(rel_tol) / math.log(1.0 - step))


def check_iterations(t) -> bool:
    """Exercise: iterations to a relative error of 1e-3 at x = 0.05 in the talk's example."""
    value = require_number(t, "t")
    if value != int(value):
        raise WrongAnswer(f"t must be a whole number of iterations, got {value}.")
    _, eps = talk_example()
    step = float(eps(torch.tensor([0.05], dtype=torch.float64)))
    want = talk_iterations()
    return check_value(
        value,
        want,
        rtol=0,
        prefix=f"t = {int(value)} ",
        known_wrong=[
            (want - 1, "is one short: round the bound up, not down."),
            (
                math.ceil(math.log(1e3) / step),
                "uses the approximation log(1 − ε) ≈ −ε; solve (1 − ε)^t ≤ 1e-3 exactly instead.",
            ),
        ],
        otherwise="is not the least such t: from y₀ = 0 the relative error after t steps is "
        f"exactly (1 − ε(x))^t, with ε(0.05) = {step:.6g} here.",
        exercise="the iteration count",
    )


def check_smallest_power(p) -> bool:
    """Exercise: least integer p such that ``ε = c·min(1, x)^p`` works for ``F = log(x)/x``."""
    value = require_number(p, "p")
    if value != int(value):
        raise WrongAnswer(f"p must be a whole number, got {value}.")
    too_small = {
        0: "with p = 0 the step is constant and ε·F = c·log(x)/x is unbounded near 0.",
        1: "with p = 1, ε·F = c·log(x) on (0, 1) is unbounded near 0.",
        2: "with p = 2, ε·F = c·x·log(x) is bounded, but its slope c·(log x + 1) is not.",
    }
    return check_value(
        value,
        3,
        rtol=0,
        prefix=f"p = {int(value)} ",
        known_wrong={p: f"is too small: {hint}" for p, hint in too_small.items()},
        otherwise="works, but it is not the smallest: check p = 3, where ε·F = c·x²·log(x) near 0.",
        exercise="the smallest power",
    )


def check_inversion_constants(a, b) -> bool:
    """Exercise: ``Lip(εF)``, ``Lip(ε)`` for ``F(x) = x/‖x‖²``, ``ε = c·min(1, ‖x‖)²``, c = 1/2."""
    a_value, b_value = require_number(a, "a"), require_number(b, "b")
    c = 0.5
    if math.isclose(a_value, 2 * c) and math.isclose(b_value, c):
        raise WrongAnswer("a and b are swapped: a = Lip(ε·F) multiplies 1, b = Lip(ε) ‖y‖.")
    if math.isclose(a_value, 3 * c) and math.isclose(b_value, 2 * c):
        raise WrongAnswer(
            "(3c, 2c) are the general bounds of the adaptive-step lemma; for this F the product "
            "ε·F is simpler: write it out inside and outside the unit circle."
        )
    check_value(
        a_value,
        c,
        otherwise=f"a = Lip(ε·F) = {a_value} is not right: inside the unit disc ε·F = c·x, "
        "outside it is c times the inversion x/‖x‖², whose Lipschitz constant there is at most 1.",
    )
    return check_value(
        b_value,
        2 * c,
        otherwise=f"b = Lip(ε) = {b_value} is not right: inside the unit disc ε = c‖x‖², with "
        "gradient 2c·x; outside it is constant.",
        exercise="the constants of the inversion example",
    )
