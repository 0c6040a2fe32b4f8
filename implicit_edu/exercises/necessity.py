"""Checks for the exercises of Part II, chapter "Necessity" (Theorem 2.5)."""

from __future__ import annotations

from implicit_edu.exercises._common import WrongAnswer, check_value, correct, require_number

# Exercise "which targets": can the map be the fixed-point map of a regular operator on the
# given domain X? (Theorem 2.4 and 2.5 together: exactly when it is locally Lipschitz on X.)
TARGETS = {
    "inverse": "1/x on X = (0, 1]",
    "sign": "sign(x) on X = ℝ",
    "sign_punctured": "sign(x) on X = ℝ \\ {0}",
    "sqrt_abs": "√|x| on X = ℝ",
    "sqrt_positive": "√x on X = (0, ∞)",
    "abs": "|x| on X = ℝ",
    "x_sin": "x·sin(1/x) (and 0 at x = 0) on X = ℝ",
    "x2_sin": "x²·sin(1/x) (and 0 at x = 0) on X = ℝ",
    "tan": "tan(x) on X = (−π/2, π/2)",
    "floor": "floor(x) on X = (0, 1) ∪ (1, 2)",
}

_ANSWERS = {
    "inverse": True,
    "sign": False,
    "sign_punctured": True,
    "sqrt_abs": False,
    "sqrt_positive": True,
    "abs": True,
    "x_sin": False,
    "x2_sin": True,
    "tan": True,
    "floor": True,
}

_HINTS = {
    "inverse": "1/x is unbounded on (0, 1], but on a small ball around each x > 0 its slope is "
    "bounded: locally Lipschitz is all that is needed.",
    "sign": "a fixed-point map of a regular operator is continuous (even locally Lipschitz), and "
    "sign jumps at 0, which belongs to X.",
    "sign_punctured": "0 is not in X: around every x ≠ 0 there is a ball on which sign is "
    "constant.",
    "sqrt_abs": "near 0 the quotient √|x| / |x| = 1/√|x| is unbounded, and 0 belongs to X.",
    "sqrt_positive": "0 is not in X: on a small ball around each x > 0 the slope 1/(2√x) is "
    "bounded.",
    "abs": "|x| is globally 1-Lipschitz; the kink at 0 does not matter.",
    "x_sin": "its slope sin(1/x) − cos(1/x)/x is unbounded on every neighbourhood of 0.",
    "x2_sin": "its derivative 2x·sin(1/x) − cos(1/x) exists everywhere and is bounded near 0.",
    "tan": "the poles ±π/2 are not in X; near each point of X the slope 1 + tan² x is bounded.",
    "floor": "1 is not in X, so floor is constant on a ball around every point of X.",
}


def check_bound(value) -> bool:
    """Exercise: the bound ``L_x / (1 − μ)`` for ``G(y, x) = 0.8·tanh(0.5 y + 2 x)``."""
    got = require_number(value, "bound")
    return check_value(
        got,
        1.6 / 0.6,  # L_x = 0.8·2, μ = 0.8·0.5
        rtol=1e-6,
        known_wrong={
            1.6: "1.6 is L_x alone: the fixed point moves further than G does, by the factor "
            "1/(1 − μ).",
            8.0: "8 = 1.6/(1 − 0.8) takes the prefactor 0.8 as the contraction factor; μ is the "
            "Lipschitz constant of y ↦ G(y, x), which also includes the 0.5 inside tanh.",
            4.0: "4 is not right: either the 1 − μ became μ, or the prefactor 0.8 was left out of "
            "L_x = Lip of x ↦ 0.8·tanh(0.5 y + 2 x).",
        },
        otherwise=f"bound = {got} is not right: tanh is 1-Lipschitz, so L_x = 0.8·2 and "
        "μ = 0.8·0.5; the bound is L_x / (1 − μ).",
        exercise="the necessity bound",
    )


def check_representable(answers) -> bool:
    """Exercise: for each map of ``TARGETS``, True iff it is a regular fixed-point map."""
    if answers is None or answers is ...:
        raise WrongAnswer("replace the `...` with your answers.")
    if not isinstance(answers, dict):
        raise WrongAnswer(
            f"expected a dict mapping each name of check.TARGETS to True or False, got "
            f"{type(answers).__name__}."
        )
    missing = sorted(set(TARGETS) - set(answers))
    if missing:
        raise WrongAnswer(f"answers are missing for: {', '.join(missing)}.")
    unknown = sorted(set(answers) - set(TARGETS))
    if unknown:
        raise WrongAnswer(f"unknown names: {', '.join(unknown)} (use the keys of check.TARGETS).")
    for name, answer in answers.items():
        if not isinstance(answer, bool):
            raise WrongAnswer(f"answers[{name!r}] must be True or False, got {answer!r}.")
    wrong = [name for name in TARGETS if answers[name] != _ANSWERS[name]]
    if wrong:
        lines = [
            f"  {name} ({TARGETS[name]}): should be {_ANSWERS[name]}: {_HINTS[name]}"
            for name in wrong
        ]
        raise WrongAnswer(
            f"{len(wrong)} of {len(TARGETS)} answers are wrong (a map is a regular fixed-point "
            "map exactly when it is locally Lipschitz on X):\n" + "\n".join(lines)
        )
    return correct("which targets a regular operator can represent")


def smallest_contraction(L: float = 1.0, h: float = 0.01, delta: float = 0.1) -> float:
    """The least ``μ̄`` with ``1 − L h / (1 − μ̄) ≤ δ``: ``μ̄ = 1 − L h / (1 − δ)``."""
    return 1.0 - L * h / (1.0 - delta)


def check_smallest_mu(mu) -> bool:
    """Exercise: the least ``μ̄`` allowing an error ``≤ δ = 0.1`` against sign at ``|x| = 0.01``."""
    got = require_number(mu, "mu_min")
    want = smallest_contraction()
    if not (0 < got < 1):
        raise WrongAnswer(f"μ̄ = {got} is not a contraction factor: it must lie in (0, 1).")
    return check_value(
        got,
        want,
        known_wrong={
            1 - 0.01: "μ̄ = 1 − L h makes the lower bound 1 − L h/(1 − μ̄) zero, not δ: solve "
            "1 − L h/(1 − μ̄) ≤ δ for μ̄.",
            1 - 0.01 * 0.9: "μ̄ = 1 − L h (1 − δ) has the factor 1 − δ on the wrong side: solve "
            "1 − L h/(1 − μ̄) ≤ δ for 1 − μ̄.",
        },
        otherwise=f"μ̄ = {got} is not right: the proposition gives an error of at least "
        "1 − L h/(1 − μ̄) at x = h or x = −h; set it equal to δ and solve for μ̄.",
        exercise="the smallest contraction factor",
    )
