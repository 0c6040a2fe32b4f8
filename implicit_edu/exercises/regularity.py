"""Checks for the exercises of the chapter "Keeping the operator regular"."""

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

_STEP_CASES = [(0.2, 0.9), (0.5, 0.0), (0.05, 0.5), (1.0, 0.3), (0.7, 0.99)]


def check_averaged_factor(factor) -> bool:
    """Exercise: ``factor(eps, lip_h)``, the contraction factor 1 − ε (1 − L_h) of the
    averaged operator (1 − ε) y + ε h(y, x)."""
    factor = require_callable(factor, "averaged_factor(eps, lip_h)")
    for eps, lip_h in _STEP_CASES:
        got = require_number(factor(eps, lip_h), f"averaged_factor({eps}, {lip_h})")
        check_value(
            got,
            1.0 - eps * (1.0 - lip_h),
            atol=1e-12,
            prefix=f"averaged_factor({eps}, {lip_h}) = ",
            known_wrong=[
                (
                    1.0 - eps,
                    "1 − ε leaves out h: the term ε h(y, x) adds ε L_h to the factor.",
                ),
                (
                    (1.0 - eps) * lip_h if lip_h > 0 else None,
                    "(1 − ε) L_h multiplies where it should add: bound the two terms "
                    "(1 − ε)(y − y') and ε (h(y) − h(y')) separately.",
                ),
            ],
            otherwise=f"{got:.6g} is not right: apply the triangle inequality to "
            "g(y, x) − g(y', x).",
        )
    return correct("the contraction factor of an averaged operator")


def check_smallest_bound(smallest) -> bool:
    """Exercise: ``smallest(lip_x, slope)``, the least μ with lip_x / (1 − μ) ≥ slope:
    1 − lip_x / slope (0 when the slope is at most lip_x)."""
    smallest = require_callable(smallest, "smallest_bound(lip_x, slope)")
    for lip_x, slope in [(4.0, 400.0), (1.0, 10.0), (2.0, 3.0), (0.5, 100.0)]:
        got = require_number(smallest(lip_x, slope), f"smallest_bound({lip_x}, {slope})")
        check_value(
            got,
            1.0 - lip_x / slope,
            prefix=f"smallest_bound({lip_x}, {slope}) = ",
            known_wrong={
                lip_x / slope: "L_x / s is 1 − μ, not μ: solve L_x / (1 − μ) ≥ s for μ.",
                1.0 - slope / lip_x: "1 − s / L_x has the ratio upside down.",
            },
            otherwise=f"{got:.6g} is not right: the slope of the fixed-point map is at most "
            "L_x / (1 − μ).",
        )
    got = require_number(smallest(5.0, 2.0), "smallest_bound(5.0, 2.0)")
    return check_value(
        got,
        0.0,
        atol=1e-12,
        otherwise=f"smallest_bound(5.0, 2.0) = {got:.6g}: when the wanted slope is below L_x, "
        "every μ ≥ 0 allows it, so the answer is 0 (use max(0, …)).",
        exercise="the smallest contraction bound for a slope",
    )


def check_monotone_steps(steps) -> bool:
    """Exercise: ``steps(m, L)`` returns ``(alpha_limit, alpha_best, factor)`` =
    (2m/L², m/L², √(1 − m²/L²)) for forward–backward splitting."""
    steps = require_callable(steps, "monotone_steps(m, L)")
    for m, L in [(0.5, 2.0), (0.1, 1.5), (1.0, 1.0), (0.3, 4.0)]:
        answer = steps(m, L)
        if not (isinstance(answer, (tuple, list)) and len(answer) == 3):
            raise WrongAnswer(
                f"monotone_steps({m}, {L}) must return three numbers (alpha_limit, alpha_best, "
                f"factor), got {answer!r}."
            )
        limit, best, factor = (require_number(v, f"monotone_steps({m}, {L})") for v in answer)
        check_value(
            limit,
            2 * m / L**2,
            prefix="alpha_limit = ",
            known_wrong={
                2 * m / L: f"2m/L for m = {m}, L = {L}: the α² term carries L², so the condition "
                "1 − 2αm + α²L² < 1 gives α < 2m/L²."
            },
            otherwise=f"{limit:.6g} for m = {m}, L = {L} is not right: solve 1 − 2αm + α²L² < 1 "
            "for α > 0.",
        )
        check_value(
            best,
            m / L**2,
            otherwise=f"alpha_best = {best:.6g} for m = {m}, L = {L} is not right: minimise "
            "the quadratic 1 − 2αm + α²L² in α.",
        )
        want = math.sqrt(max(0.0, 1 - m**2 / L**2))
        check_value(
            factor,
            want,
            atol=1e-12,
            prefix="factor = ",
            known_wrong=[
                (
                    None if want in (0.0, 1.0) else 1 - m**2 / L**2,
                    f"1 − m²/L² for m = {m}, L = {L} is the square of the contraction factor: the "
                    "bound is the square root of 1 − 2αm + α²L².",
                )
            ],
            otherwise=f"{factor:.6g} for m = {m}, L = {L} is not right: insert alpha_best into "
            "√(1 − 2αm + α²L²).",
        )
    return correct("the step sizes of forward–backward splitting")


def _mon_factors(seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=gen, dtype=torch.float64)
    B = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return A, B


def check_monotone_weight(weight) -> bool:
    """Exercise: ``weight(A, B, m)`` returns W = (1 − m) I − AᵀA + B − Bᵀ."""
    weight = require_callable(weight, "monotone_weight(A, B, m)")
    for seed, m in [(0, 0.5), (1, 0.1), (2, 1.0)]:
        A, B = _mon_factors(seed)
        eye = torch.eye(A.shape[0], dtype=A.dtype)
        want = (1 - m) * eye - A.T @ A + B - B.T
        got = as_tensor(weight(A.clone(), B.clone(), m), f"monotone_weight(A, B, {m})")
        if got.shape != want.shape:
            raise WrongAnswer(
                f"monotone_weight(A, B, {m}): expected an n × n matrix of shape "
                f"{tuple(want.shape)}, got {tuple(got.shape)}."
            )
        check_close(
            got,
            want,
            what=f"monotone_weight(A, B, {m})",
            rtol=1e-9,
            atol=1e-9,
            prefix="monotone_weight ",
            known_wrong=[
                (
                    (1 - m) * eye - A @ A.T + B - B.T,
                    "uses A Aᵀ: the parametrisation has AᵀA (both are positive semidefinite, but "
                    "only AᵀA is the one of the text).",
                ),
                (
                    (1 - m) * eye - A.T @ A,
                    "leaves out B − Bᵀ (or writes B − B): the skew-symmetric part is what lets W "
                    "be non-symmetric.",
                ),
                (
                    (1 + m) * eye - A.T @ A + B - B.T,
                    "has (1 + m) I: with it I − W = −m I + AᵀA − (B − Bᵀ) is not strongly "
                    "monotone.",
                ),
            ],
        )
        smallest = float(torch.linalg.eigvalsh((eye - got + (eye - got).T) / 2).min())
        if smallest < m - 1e-9:
            raise WrongAnswer(
                f"I − W should satisfy zᵀ(I − W)z ≥ m‖z‖², but its symmetric part has the "
                f"eigenvalue {smallest:.4g} < m = {m}."
            )
    return correct("the monotone parametrisation")
