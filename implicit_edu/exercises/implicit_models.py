"""Checks for the exercises of chapter 1, "Implicit models"."""

from __future__ import annotations

import math

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


def check_picard(picard) -> bool:
    """Exercise: ``picard(g, y0, steps)`` returns ``y_steps`` of ``y_{k+1} = g(y_k)``."""
    picard = require_callable(picard, "picard(g, y0, steps)")
    y0 = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)

    def g(y):
        return 0.5 * y + 1.0  # fixed point 2, y_k = 2 + (y0 − 2)/2^k

    for steps in (0, 1, 5):
        got = as_tensor(picard(g, y0.clone(), steps), f"picard(g, y0, {steps})")
        check_close(got, 2.0 + (y0 - 2.0) / 2**steps, what=f"picard(g, y0, steps={steps})")
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
        check_value(
            got,
            float(torch.linalg.matrix_norm(W, ord=2)),
            rtol=1e-6,
            known_wrong={
                float(torch.linalg.matrix_norm(W)): "bound(W) returned the Frobenius norm: it is "
                "an upper bound, but not the tightest one; use the largest singular value."
            },
            otherwise=f"bound(W) = {got} is not right: ‖Wz − Wz'‖ ≤ c ‖z − z'‖ holds for all z, "
            "z' with c the largest singular value of W (torch.linalg.matrix_norm(W, ord=2)).",
        )
    return correct("the contraction bound")


#: The distance to the fixed point asked for in ``ex-implicit-depth`` (relative to ``‖z*‖``).
DEPTH_TOLERANCE = 1e-4


def _first_step_within(distances: torch.Tensor, tol: float) -> int:
    """The least ``t ≥ 1`` with ``distances[t − 1] ≤ tol`` (rows are t = 1, 2, ...), or 0."""
    below = (distances <= tol).nonzero()
    return int(below[0]) + 1 if len(below) else 0


def check_equilibrium_depth(distances, z_star, W, depth_bound, depth_measured, local_factor):
    """Exercise: Banach's worst case against the steps the tanh layer actually needs.

    ``distances`` is the chapter's ``(t, batch)`` tensor of ``‖z_t − z*‖/‖z*‖`` for t = 1, 2, …
    (figure fig-depth), ``z_star`` the ``(batch, width)`` fixed points and ``W`` the layer's
    weight. ``depth_bound`` is the least ``t`` with ``‖W‖₂^t ≤ 1e-4``; ``depth_measured`` the
    first ``t`` at which every sample is within ``1e-4``; ``local_factor`` the largest over the
    batch of ``‖diag(1 − z*²) W‖₂``, the Lipschitz constant of the layer's linearisation at its
    fixed point (the Jacobian of ``tanh(Wz + Ux + b)`` is ``diag(1 − tanh²(·)) W``, and at the
    fixed point ``tanh(·) = z*``).
    """
    distances = as_tensor(distances, "distances").double()
    z_star = as_tensor(z_star, "z_star").double()
    W = as_tensor(W, "W").double()
    mu = float(torch.linalg.matrix_norm(W, ord=2))

    bound = require_number(depth_bound, "depth_bound")
    want_bound = math.ceil(math.log(DEPTH_TOLERANCE) / math.log(mu))
    round_up = (
        f"depth_bound = {bound}: the bound must hold at a whole step, so take the least whole "
        "t with μ^t ≤ 1e-4 (round the logarithm's quotient up, math.ceil)."
    )
    if not float(bound).is_integer():
        raise WrongAnswer(round_up)
    check_value(
        bound,
        want_bound,
        rtol=0,
        known_wrong={want_bound - 1: round_up},
        otherwise=f"depth_bound = {bound} is not right: from z_0 = 0 the relative start distance "
        "is 1, so Banach's bound is μ^t with μ = ‖W‖₂; solve μ^t ≤ 1e-4 for the least whole t.",
    )

    measured = require_number(depth_measured, "depth_measured")
    want_measured = _first_step_within(distances.max(dim=1).values, DEPTH_TOLERANCE)
    if want_measured == 0:
        raise WrongAnswer("distances never reaches 1e-4: pass the chapter's `distances`.")
    check_value(
        measured,
        want_measured,
        rtol=0,
        prefix=f"depth_measured = {measured} ",
        known_wrong=[
            (
                _first_step_within(distances.mean(dim=1), DEPTH_TOLERANCE),
                "is when the batch's mean distance reaches 1e-4; the question asks for every "
                "sample, so follow the largest distance in each row.",
            ),
            (want_measured - 1, "is one short: row 0 of `distances` is t = 1, not t = 0."),
        ],
        otherwise="is not right: find the first row of `distances` whose largest entry is at "
        "most 1e-4 (row i is t = i + 1).",
    )

    factor = require_number(local_factor, "local_factor")
    slopes = 1 - z_star**2  # tanh'(·) at the fixed point
    norms = torch.stack([torch.linalg.matrix_norm(s[:, None] * W, ord=2) for s in slopes])
    return check_value(
        factor,
        float(norms.max()),
        rtol=1e-6,
        known_wrong=[
            (
                mu,
                "local_factor equals ‖W‖₂, the global bound; near the fixed point the derivative "
                "of tanh is 1 − z*², smaller than 1: scale the rows of W by it.",
            ),
            (float(norms.mean()), "local_factor is the mean over the batch: take the largest."),
        ],
        otherwise=f"local_factor = {factor:.6g} is not right: for each sample form "
        "diag(1 − z*²) W (scale row i of W by 1 − z*_i²), take its spectral norm, then the "
        "largest over the batch.",
        exercise="the equilibrium depth",
    )
