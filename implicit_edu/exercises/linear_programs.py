"""Checks for the exercises of the chapter "Linear programs" (Part IV)."""

from __future__ import annotations

import numpy as np

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)


def check_relative_error(error) -> bool:
    """Exercise: ``error(y_hat, y_star)``, the paper's ‖ŷ − y*‖ / (‖y*‖ + 1) per instance."""
    error = require_callable(error, "error(y_hat, y_star)")
    rng = np.random.default_rng(0)
    y_star = rng.normal(size=(5, 7)) * np.array([[0.01], [0.1], [1.0], [10.0], [3.0]])
    y_hat = y_star + rng.normal(size=(5, 7))
    diff = np.linalg.norm(y_hat - y_star, axis=1)
    norm_star = np.linalg.norm(y_star, axis=1)
    try:
        got = np.asarray(error(y_hat, y_star), dtype=float)
    except (TypeError, ValueError) as failure:
        raise WrongAnswer(
            f"error(y_hat, y_star) failed on arrays of shape (5, 7): {failure}"
        ) from None
    if got.shape != (5,):
        raise WrongAnswer(
            f"error(y_hat, y_star) must give one value per instance (rows), shape (5,); got "
            f"{got.shape}: take the norm along the last axis."
        )
    return check_close(
        got,
        diff / (norm_star + 1),
        what="error(y_hat, y_star)",
        rtol=1e-9,
        atol=1e-8,
        known_wrong=[
            (diff / norm_star, "not quite: add 1 to ‖y*‖ in the denominator."),
            (
                diff / (np.linalg.norm(y_hat, axis=1) + 1),
                "not quite: divide by ‖y*‖ + 1, the label's norm.",
            ),
            (diff**2 / (norm_star + 1), "not quite: the norm, not its square."),
            (diff / (norm_star**2 + 1), "not quite: the norm ‖y*‖, not its square."),
        ],
        otherwise=f"error(y_hat, y_star) gave {np.round(got, 4)}, which is not right: "
        "‖ŷ − y*‖ / (‖y*‖ + 1) with Euclidean norms over the variables of each instance.",
        exercise="the error metric",
    )


def check_explicit_count(count) -> bool:
    """Exercise: ``count(d)``, the parameters of ``ExplicitGNN(d)``."""
    from implicit_edu.core.parameters import parameter_count
    from implicit_edu.experiments.lp.models import ExplicitGNN

    count = require_callable(count, "explicit_count(d)")
    for d in (1, 4, 8, 16, 32, 5):
        got = require_number(count(d), f"explicit_count({d})")
        want = parameter_count(ExplicitGNN(d))
        check_value(
            got,
            want,
            rtol=0,
            prefix=f"explicit_count({d}) = {got:g} is not right: ",
            known_wrong={
                want - (6 * d * d + 5 * d): "there are four half-convolutions, not three.",
                want - 20 * d: "every Linear layer has a bias (5 per half-convolution).",
                want - (d * d + d): "the message MLP has two layers (d → d → d).",
                want - 4 * (d * d + d): "each half-convolution also has its linear map own(h_i).",
                want - (d * d + d) - 1: "the read-out MLP is d → d → d → 1, with biases.",
                want - 2 * (d * d + d): "each embedding is an MLP with two layers "
                "(2 or 3 → d → d).",
            },
            otherwise="add the two embeddings (2 → d → d, 3 → d → d), four half-convolutions "
            "(message d → d → d, own d → d, update 2d → d → d) and the read-out d → d → d → 1.",
        )
    return correct("the parameter count of the explicit GNN")


def check_jump(s_jump, x_label) -> bool:
    """Exercise: the s > 0 at which min −x₁ − s x₂ (unit square, x₁ + x₂ ≤ 1.5) has many optima,
    and the label (minimum-norm optimal point) there."""
    s = require_number(s_jump, "s_jump")
    if s <= 0:
        raise WrongAnswer(f"s_jump = {s:g}: look for a positive s (s = 0 is another story).")
    check_value(
        s,
        1,
        rtol=0,
        otherwise=f"at s = {s:g} the optimum is a single vertex: the cost vector (−1, −s) must be "
        "perpendicular to the edge x₁ + x₂ = 1.5, i.e. parallel to its normal (1, 1).",
    )
    x = np.asarray(x_label, dtype=float).reshape(-1)
    if x.shape != (2,):
        raise WrongAnswer(f"x_label must have two entries (x₁, x₂), got {x.shape[0]}.")
    return check_close(
        x,
        [0.75, 0.75],
        what="x_label",
        rtol=1e-5,
        atol=1e-6,
        known_wrong=[
            (
                vertex,
                f"{vertex} is optimal, but the label is the optimal point of smallest norm: "
                "minimise ‖x‖ along the optimal edge.",
            )
            for vertex in ([1.0, 0.5], [0.5, 1.0])
        ],
        otherwise=f"x_label = {x}: the optimal points at s = 1 are the edge x₁ + x₂ = 1.5 between "
        "(1, 0.5) and (0.5, 1); the label is the one closest to the origin.",
        exercise="the jump of the solution map",
    )
