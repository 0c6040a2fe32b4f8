"""Checks for the exercises of Part II, chapter "Expressive power grows with test-time compute"."""

from __future__ import annotations

import functools
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


def check_first_step(L1) -> bool:
    """Exercise: ``L1(eta, y0)``, the Lipschitz constant on [0, 1] of ``y_1 = G(y0, ·)``.

    For the 1/x operator ``G(y, x) = y − η (x y − 1)`` and a constant start ``y0``,
    ``y_1(x) = y0 + η − η y0 x`` is a line of slope ``−η y0``: ``L_1 = η |y0|``.
    """
    L1 = require_callable(L1, "L1(eta, y0)")
    for eta, y0 in [(0.5, 0.0), (0.5, 1.0), (1.0, 3.0), (0.25, -2.0), (1.5, -0.5)]:
        got = require_number(L1(eta, y0), f"L1({eta}, {y0})")
        if got < 0:
            raise WrongAnswer(
                f"L1({eta}, {y0}) = {got} is negative: a Lipschitz constant is the size of a "
                "slope, so take the absolute value."
            )
        check_value(
            got,
            eta * abs(y0),
            atol=1e-12,
            known_wrong={
                0.0: f"L1({eta}, {y0}) = 0, but L_1 = 0 only for the start y0 = 0: from "
                f"y0 = {y0}, y_1(x) = G(y0, x) depends on x. Look at ∂G/∂x at y = y0.",
                eta: f"L1({eta}, {y0}) = η ignores the start: the slope of x ↦ G(y0, x) is −η y0.",
            },
            otherwise=f"L1({eta}, {y0}) = {got} is not right: y_1 = G(y0, ·) is a straight line "
            "in x; its Lipschitz constant is the size of its slope.",
        )
    return correct("the Lipschitz constant of the first iterate")


def check_limit(limit) -> bool:
    """Exercise: ``limit(a, b)``, the limit of ``L_t`` on ``[a, b]`` for the 1/x operator (1/a²)."""
    limit = require_callable(limit, "limit(a, b)")
    for a, b in [(0.1, 1.0), (0.25, 0.5), (0.05, 0.8), (0.5, 1.0)]:
        got = require_number(limit(a, b), f"limit({a}, {b})")
        check_value(
            got,
            1.0 / a**2,
            prefix=f"limit({a}, {b}) = ",
            known_wrong={
                1.0 / b**2: "1/b²: that is the smallest slope of 1/x on [a, b]; the Lipschitz "
                "constant is the largest one. Where is 1/x steepest?",
                1.0 / a: "1/a is the value of the target at a, not its slope.",
            },
            otherwise=f"{got} is not right: L_t on [a, b] tends to the Lipschitz constant of the "
            "target 1/x on [a, b], the largest |d(1/x)/dx| there.",
        )
    return correct("the limit of L_t on [a, b]")


def _test_matrices() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    shapes = [(8, 2, 3), (16, 4, 4), (5, 5, 1)]  # (m, d, p)
    return [
        (
            torch.randn(m, d, generator=g, dtype=torch.float64),
            torch.randn(p, m, generator=g, dtype=torch.float64),
        )
        for m, d, p in shapes
    ]


def check_naive_bound(bound) -> bool:
    """Exercise: ``bound(W1, W2) = ‖W2‖₂ ‖W1‖₂`` for ``f(x) = W2 tanh(W1 x + b1)``."""
    bound = require_callable(bound, "bound(W1, W2)")
    for W1, W2 in _test_matrices():
        got = require_number(bound(W1.clone(), W2.clone()), "bound(W1, W2)")
        spectral = torch.linalg.matrix_norm
        check_value(
            got,
            float(spectral(W2, 2) * spectral(W1, 2)),
            rtol=1e-6,
            prefix="bound(W1, W2) ",
            known_wrong={
                float(spectral(W2) * spectral(W1)): "used Frobenius norms: a valid bound, but not "
                "the tightest one from the chain rule; use spectral norms (largest singular "
                "values).",
                float(spectral(W2 @ W1, 2)): "= ‖W2 W1‖₂ is the slope of the network where every "
                "tanh has slope 1 (a lower bound candidate), not an upper bound: the slopes "
                "differ from neuron to neuron. Bound each layer on its own.",
            },
            otherwise=f"= {got} is not right: tanh is 1-Lipschitz, so the naive bound is the "
            "product of the two layers' spectral norms.",
        )
    return correct("the naive product bound")


def recursion_bound_reference(a: float, b: float, mu_bar: float, c0: float, steps: int) -> list:
    """``[L_1, …, L_steps]`` from ``M_0 = L_0 = 0`` and, for t ≥ 1,

    ``L_t = a + b M_{t−1} + μ̄ L_{t−1}`` and ``M_t = c0 + μ̄ M_{t−1}``.
    """
    L, M, values = 0.0, 0.0, []
    for _ in range(steps):
        L, M = a + b * M + mu_bar * L, c0 + mu_bar * M
        values.append(L)
    return values


def _mistakes(a, b, mu_bar, c0, steps) -> dict[str, list]:
    """The bound computed with typical mistakes, to recognise them."""
    late, no_mu, values = (0.0, 0.0), (0.0, 0.0), {"late": [], "no_mu": []}
    for _ in range(steps):
        L, M = late
        M = c0 + mu_bar * M  # M_t used where M_{t−1} belongs
        late = (a + b * M + mu_bar * L, M)
        values["late"].append(late[0])
        L, M = no_mu
        no_mu = (a + b * M + L, c0 + M)
        values["no_mu"].append(no_mu[0])
    values["shifted"] = [0.0] + recursion_bound_reference(a, b, mu_bar, c0, steps - 1)
    return values


def check_recursion_bound(bound) -> bool:
    """Exercise: ``bound(a, b, mu_bar, c0, steps)`` returns the list ``[L_1, …, L_steps]``."""
    bound = require_callable(bound, "bound(a, b, mu_bar, c0, steps)")
    cases = [(0.0, 0.5, 1.0, 0.5, 12), (0.3, 0.2, 0.9, 1.0, 30), (1.0, 0.0, 0.5, 2.0, 8)]
    for a, b, mu_bar, c0, steps in cases:
        call = f"bound({a}, {b}, {mu_bar}, {c0}, {steps})"
        got = bound(a, b, mu_bar, c0, steps)
        if got is None:
            raise WrongAnswer(f"{call} returned None (did you forget `return`?).")
        try:
            got = [float(v) for v in got]
        except (TypeError, ValueError):
            raise WrongAnswer(f"{call}: expected a list of numbers, got {got!r}.") from None
        want = recursion_bound_reference(a, b, mu_bar, c0, steps)
        if len(got) != steps:
            raise WrongAnswer(
                f"{call} returned {len(got)} values; expected {steps}: L_1, …, L_steps "
                "(L_0 = 0 is not part of the answer)."
            )
        mistakes = _mistakes(a, b, mu_bar, c0, steps)
        worst = max(range(steps), key=lambda k: abs(got[k] - want[k]))
        check_close(
            got,
            want,
            what=call,
            rtol=1e-9,
            atol=1e-12,
            prefix=f"{call}: ",
            known_wrong=[
                (
                    mistakes["late"],
                    "L_t uses the bound M_{t−1} on the previous iterate y_{t−1}, not M_t: "
                    "update L before M (or from the old M).",
                ),
                (
                    mistakes["no_mu"],
                    "the previous constant L_{t−1} (and M_{t−1}) must be multiplied by the "
                    "contraction factor μ̄.",
                ),
                (
                    mistakes["shifted"],
                    "your list is shifted by one step: its first entry should be "
                    "L_1 = a, the constant of y_1 = G(0, ·).",
                ),
            ],
            otherwise=f"L_{worst + 1} = {got[worst]} is not right. Start from M_0 = L_0 = 0 and "
            "use L_t = a + b M_{t−1} + μ̄ L_{t−1}, M_t = c0 + μ̄ M_{t−1}.",
        )
    eta = 0.5
    return check_close(
        bound(0.0, eta, 1.0, eta, 10),
        [eta**2 * t * (t - 1) / 2 for t in range(1, 11)],
        what="bound(0, η, 1, η, 10)",
        rtol=1e-9,
        atol=1e-12,
        otherwise="bound(0, η, 1, η, 10) should give η² t (t − 1) / 2 for the 1/x operator.",
        exercise="the recursion bound on L_t",
    )


@functools.lru_cache(maxsize=1)
def _exercise_weights() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from implicit_edu.analysis.certificates import lipschitz_upper_bound_sdp

    g = torch.Generator().manual_seed(2026)
    n, d, m = 3, 2, 12
    W = torch.randn(m, n, generator=g, dtype=torch.float64) / math.sqrt(n)
    U = torch.randn(m, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    V = torch.randn(n, m, generator=g, dtype=torch.float64) / math.sqrt(m)
    b = torch.randn(m, generator=g, dtype=torch.float64)
    V = V * 0.8 / lipschitz_upper_bound_sdp(W, V)  # certified contraction factor 0.8
    return W, U, V, b


def exercise_operator() -> dict[str, torch.Tensor]:
    """The weights of the exercise's operator ``G(y, x) = V tanh(W y + U x + b)``.

    Returns a dict with ``W`` (12 × 3), ``U`` (12 × 2), ``V`` (3 × 12) and ``b`` (12,): states y in
    ℝ³, inputs x in ℝ², a hidden layer of 12 tanh units.
    """
    return dict(zip("WUVb", (t.clone() for t in _exercise_weights()), strict=True))


def check_certified_operator(mu, L_x) -> bool:
    """Exercise: the certified constants of :func:`exercise_operator` and its regularity.

    ``mu``: the LipSDP bound on the contraction factor of ``y ↦ G(y, x)`` (weights W, V);
    ``L_x``: the LipSDP bound on the Lipschitz constant of ``x ↦ G(y, x)`` (weights U, V).
    """
    from implicit_edu.analysis.certificates import lipsdp_neuron

    mu = require_number(mu, "mu")
    L_x = require_number(L_x, "L_x")
    W, U, V, _ = _exercise_weights()
    in_y, in_x = lipsdp_neuron(W, V), lipsdp_neuron(U, V)
    if math.isclose(mu, in_x.bound, rel_tol=1e-4) and math.isclose(L_x, in_y.bound, rel_tol=1e-4):
        raise WrongAnswer("mu and L_x are swapped: the contraction is in y (weights W, V).")
    check_value(
        mu,
        in_y.bound,
        rtol=1e-4,
        known_wrong={
            in_y.naive: f"mu = ‖V‖₂ ‖W‖₂ = {mu:.4g} is the naive bound: it is ≥ 1 here and "
            "proves nothing; use lipschitz_upper_bound_sdp(W, V)."
        },
        otherwise=f"mu = {mu} is not the SDP bound for the sub-network y ↦ V tanh(W y + c) "
        "(c = U x + b does not enter the bound).",
    )
    return check_value(
        L_x,
        in_x.bound,
        rtol=1e-4,
        known_wrong={
            in_x.naive: f"L_x = ‖V‖₂ ‖U‖₂ = {L_x:.4g} is the naive bound; use "
            "lipschitz_upper_bound_sdp(U, V)."
        },
        otherwise=f"L_x = {L_x} is not the SDP bound for the sub-network x ↦ V tanh(U x + c) "
        "(c = W y + b does not enter the bound).",
        exercise="the certified constants of the operator",
    )


def check_ramp_iterations(least_iterations) -> bool:
    """Exercise: the least t allowed by cor-ttc-iterations-lower-bound's argument for a ramp S x.

    With b = 0, L_t ≤ a t; following S x within δ at ±h needs 2 a h t ≥ 2 S h − 2δ.
    """
    least_iterations = require_callable(least_iterations, "least_iterations(a, S, h, delta)")
    cases = (
        (0.5, 10.0, 0.1, 0.05),
        (0.01, 3.0, 0.4, 0.1),
        (2.0, 1.0, 0.05, 0.2),
        (0.1, 7.0, 1.0, 0.5),
    )
    for a, S, h, delta in cases:
        call = f"least_iterations({a}, {S}, {h}, {delta})"
        got = require_number(least_iterations(a, S, h, delta), call)
        exact = (S * h - delta) / (a * h)
        lead = f"{call} = {got} is not right: "
        if got != int(got):
            raise WrongAnswer(lead + "t counts iterations: round the bound up to a whole number.")
        check_value(
            got,
            max(0, math.ceil(exact)),
            rtol=0,
            prefix=lead,
            known_wrong=[
                (
                    math.ceil((1 - delta) / (a * h)),
                    "that is the bound for sign, a jump of height 2; the ramp's values at ±h are "
                    "±S h.",
                ),
                (math.ceil(S / a), "following within δ loosens the requirement: subtract δ."),
                (
                    math.ceil((S * h - delta) / a),
                    "L_t ≤ a t bounds a difference quotient: divide the difference "
                    "y_t(h) − y_t(−h) by the distance 2h.",
                ),
                (
                    math.ceil(exact),
                    "when S h ≤ δ the zero map already follows the ramp: no iterations are "
                    "needed, and t cannot be negative.",
                ),
            ],
            otherwise="compare y_t(h) − y_t(−h) ≥ 2 S h − 2δ with |y_t(h) − y_t(−h)| ≤ 2 a h t.",
        )
    return correct("the iterations a ramp needs")
