"""Checks for the exercises of Part II, chapter "Regular implicit operators"."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_value,
    correct,
    require_callable,
    require_number,
)


def _value(f, argument: float, what: str) -> float:
    """``f(argument)`` as a float; the argument is passed as a 0-d float64 tensor.

    A 0-d tensor works with ``math`` functions, ``abs`` and ``torch`` functions alike.
    """
    return require_number(f(torch.tensor(argument, dtype=torch.float64)), what)


def check_sine_operator(mu, lip_x) -> bool:
    """Exercise: ``G(y, x) = y/2 + x sin(y)/4`` on ``[−1, 1]``.

    The answers: ``μ(x) = 1/2 + |x|/4`` and ``Lip_x G(y, ·) = |sin y| / 4``.
    """
    mu = require_callable(mu, "mu(x)")
    lip_x = require_callable(lip_x, "lip_x(y)")
    for x in (-1.0, -0.6, -0.1, 0.0, 0.3, 1.0):
        got = _value(mu, x, f"mu({x})")
        check_value(
            got,
            0.5 + abs(x) / 4,
            known_wrong={
                0.75: f"mu({x}) = 0.75: that bounds μ(x) for every x in [−1, 1], but the "
                "smallest factor at this x is smaller. Look at the largest |∂G/∂y| for this x "
                "only.",
                0.5 + x / 4: f"mu({x}) = {got}: for negative x, ∂G/∂y = 1/2 + (x/4) cos y is "
                "largest in size where cos y = −1; the factor is a supremum of |∂G/∂y|.",
            },
            otherwise=f"mu({x}) = {got} is not right: μ(x) is the supremum over y of "
            "|∂G/∂y| = |1/2 + (x/4) cos y|.",
        )
    for y in (-2.0, -0.5, 0.0, 1.0, math.pi / 2, 3.0):
        got = _value(lip_x, y, f"lip_x({y})")
        check_value(
            got,
            abs(math.sin(y)) / 4,
            atol=1e-12,
            known_wrong={
                0.25: f"lip_x({y}) = 0.25: that is a bound for all y (the constant a), but the "
                "best constant at this y is smaller: G is affine in x, with slope sin(y)/4.",
                math.sin(y) / 4: f"lip_x({y}) = {got} is negative: a Lipschitz constant is the "
                "size |slope|.",
            },
            otherwise=f"lip_x({y}) = {got} is not right: for fixed y, x ↦ G(y, x) is a straight "
            "line; what is its slope?",
        )
    return correct("μ(x) and the x-Lipschitz constant of y/2 + x sin(y)/4")


#: The operators of the exercise "which are regular?", with why each one is or is not.
CANDIDATES = {
    "inverse": (True, "y − (xy − 1)/2 on (0, 1] is the 1/x operator with η = 1/2: regular"),
    "naive": (False, "y/2 + 1/(2x) has x-slope −1/(2x²), unbounded on (0, 1]: condition 1 fails"),
    "tanh": (True, "0.9 tanh(y/2 + x) contracts with μ = 0.45 and is 0.9-Lipschitz in x"),
    "shift": (False, "y + sin x is a translation in y: μ = 1, not a contraction"),
    "newton": (False, "y(2 − xy) has ∂G/∂y = 2 − 2xy, unbounded: not a contraction on ℝ"),
    "affine": (
        True,
        "(1/2 + sin(x)/4) y + cos x is affine in the state with ‖A(x)‖ ∈ [1/4, 3/4], "
        "L_A = 1/4, L_c = 1: regular by the lemma on operators affine in the state",
    ),
    "sign": (False, "y/2 + sign(x) jumps at x = 0: not Lipschitz (not even continuous) in x"),
    "edge": (
        False,
        "x·y on (0, 1] has μ(x) = x, and μ(1) = 1: at x = 1 it is the identity, not a "
        "contraction (μ(x) must lie in (0, 1) for every x in the set, including its end 1)",
    ),
    "quadratic": (
        False,
        "y/2 + max(0, |y| − 1/x)/4 has the x-constant y²/4: it grows faster than a₀ + a₁|y|",
    ),
}


def check_regular_names(names) -> bool:
    """Exercise: the set of the regular operators among :data:`CANDIDATES`."""
    if names is None or names is ...:
        raise WrongAnswer("regular_names: replace the `...` with your answer.")
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise WrongAnswer(
            f"regular_names: expected a set of names such as {{'inverse', 'naive'}}, got {names!r}."
        )
    names = set(names)
    unknown = sorted(n for n in names if n not in CANDIDATES)
    if unknown:
        raise WrongAnswer(
            f"regular_names: unknown name(s) {unknown}; choose among {sorted(CANDIDATES)}."
        )
    want = {name for name, (regular, _) in CANDIDATES.items() if regular}
    wrong_in = sorted(names - want)
    missing = sorted(want - names)
    problems = [f"'{n}' is not regular: {CANDIDATES[n][1]}." for n in wrong_in]
    problems += [f"'{n}' is regular, but missing: {CANDIDATES[n][1]}." for n in missing]
    if problems:
        raise WrongAnswer("regular_names: " + " ".join(problems))
    return correct("which operators are regular")


def check_inverse_constant(inverse_lip_x) -> bool:
    """Exercise: the x-Lipschitz constant of ``y − η(xy − 1)`` on ``(0, 1]`` is ``η |y|``."""
    inverse_lip_x = require_callable(inverse_lip_x, "inverse_lip_x(y, eta)")
    for y, eta in [(3.0, 0.5), (-2.0, 0.5), (0.0, 0.9), (10.0, 0.1), (-0.7, 1.0)]:
        got = require_number(
            inverse_lip_x(torch.tensor(y, dtype=torch.float64), eta), f"inverse_lip_x({y}, {eta})"
        )
        check_value(
            got,
            eta * abs(y),
            atol=1e-12,
            prefix=f"inverse_lip_x({y}, {eta}) = {got} ",
            known_wrong={
                eta * y: "is negative: the constant is |∂G/∂x|, the size of the slope −η y.",
                eta: "does not depend on y: but ∂G/∂x = −η y.",
            },
            otherwise="is not right: for fixed y the map x ↦ y − η(xy − 1) is a straight line "
            "in x.",
        )
    return correct("the x-Lipschitz constant of the 1/x operator")


def check_affine_constants(a_b, affine_mu) -> bool:
    """Exercise: ``G = (2 + cos x) y / 4 + sin(2x)`` on ℝ.

    The lemma on operators affine in the state gives ``(a, b) = (2, 1/4)``, and
    ``μ(x) = (2 + cos x)/4``.
    """
    if a_b is None or a_b is ...:
        raise WrongAnswer("a_b: replace the `...` with your answer.")
    try:
        a, b = (require_number(v, "a_b") for v in a_b)
    except (TypeError, ValueError):
        raise WrongAnswer(f"a_b: expected a pair (a, b) of numbers, got {a_b!r}.") from None
    if math.isclose(a, 0.25) and math.isclose(b, 2.0):
        raise WrongAnswer("a_b = (0.25, 2): swapped; a comes from c(x), b from A(x).")
    check_value(
        a,
        2.0,
        known_wrong={
            1.0: "a = 1 forgets the chain rule: the derivative of sin(2x) is 2 cos(2x), so L_c = 2."
        },
        otherwise=f"a = {a}, expected L_c, the Lipschitz constant of sin(2x).",
    )
    check_value(
        b,
        0.25,
        known_wrong={
            0.75: "b = 0.75 is the largest value of A(x) = (2 + cos x)/4 (the largest μ), but b "
            "is the Lipschitz constant L_A of x ↦ A(x): its largest slope."
        },
        otherwise=f"b = {b}, expected L_A, the Lipschitz constant of (2 + cos x)/4.",
    )
    affine_mu = require_callable(affine_mu, "affine_mu(x)")
    for x in (-3.0, -1.0, 0.0, 0.5, 2.0, math.pi):
        got = _value(affine_mu, x, f"affine_mu({x})")
        check_value(
            got,
            (2 + math.cos(x)) / 4,
            prefix=f"affine_mu({x}) = ",
            known_wrong={0.75: "0.75 is a bound for all x; the factor at x is |A(x)|."},
            otherwise=f"{got} is not right: y ↦ A(x) y + c(x) contracts with |A(x)|.",
        )
    return correct("the constants of an operator affine in the state")
