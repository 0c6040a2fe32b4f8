"""Checks for the exercises of chapter 1, "Implicit models"."""

from __future__ import annotations

import math

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    as_tensor,
    assert_close,
    correct,
    require_callable,
    require_number,
)


def check_picard(picard) -> bool:
    """Exercise: ``picard(g, y0, steps)`` returns ``y_steps`` of ``y_{k+1} = g(y_k)``."""
    picard = require_callable(picard, "picard(g, y0, steps)")
    y0 = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)

    def g(y):
        return 0.5 * y + 1.0  # fixed point 2, y_k = 2 + (y0 − 2)/2^k

    for steps in (0, 1, 5):
        got = as_tensor(picard(g, y0.clone(), steps), f"picard(g, y0, {steps})")
        assert_close(got, 2.0 + (y0 - 2.0) / 2**steps, f"picard(g, y0, steps={steps})")
    return correct("Picard iteration")


def check_contraction_bound(bound) -> bool:
    """Exercise: the Lipschitz constant in ``z`` of ``z ↦ tanh(W z + U x + b)`` is at most ``‖W‖₂``.

    ``bound(W)`` must return the spectral norm of ``W``.
    """
    bound = require_callable(bound, "bound(W)")
    g = torch.Generator().manual_seed(3)
    for shape in [(4, 4), (7, 7)]:
        W = torch.randn(*shape, generator=g, dtype=torch.float64)
        got = require_number(bound(W), "bound(W)")
        want = float(torch.linalg.matrix_norm(W, ord=2))
        frob = float(torch.linalg.matrix_norm(W))
        if math.isclose(got, frob, rel_tol=1e-6):
            raise WrongAnswer(
                "bound(W) returned the Frobenius norm: it is an upper bound, but not the "
                "tightest one; use the largest singular value."
            )
        if not math.isclose(got, want, rel_tol=1e-6):
            raise WrongAnswer(
                f"bound(W) = {got} is not right: ‖Wz − Wz'‖ ≤ c ‖z − z'‖ holds for all z, z' with "
                "c the largest singular value of W (torch.linalg.matrix_norm(W, ord=2))."
            )
    return correct("the contraction bound")


def check_equilibrium_depth(depth) -> bool:
    """Exercise: Picard steps until ``‖y_k − y*‖ ≤ 1e-6`` when ``μ = 0.9``, ``‖y_0 − y*‖ = 1``."""
    value = require_number(depth, "depth")
    want = math.ceil(math.log(1e-6) / math.log(0.9))
    if value != want:
        raise WrongAnswer(
            f"depth = {value} is not right: Banach's bound gives ‖y_k − y*‖ ≤ μ^k ‖y_0 − y*‖; "
            "solve μ^k ≤ 1e-6 for the least whole k."
        )
    return correct("the equilibrium depth")
