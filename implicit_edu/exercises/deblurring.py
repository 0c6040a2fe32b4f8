"""Checks for the exercises of the chapter "Image deblurring" (Part IV)."""

from __future__ import annotations

import math

import numpy as np
import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)


def subspace_estimator(A: np.ndarray, P: np.ndarray, alpha: float, x: np.ndarray) -> np.ndarray:
    """argmin_y ½‖x − Ay‖² + (α/2)‖(I − P)y‖²  =  (AᵀA + α(I − P))⁻¹ Aᵀ x."""
    n = A.shape[1]
    return np.linalg.solve(A.T @ A + alpha * (np.eye(n) - P), A.T @ x)


def _instance(seed: int):
    rng = np.random.default_rng(seed)
    m, n, k = 6, 5, 2
    A = rng.normal(size=(m, n)) / math.sqrt(m)
    basis, _ = np.linalg.qr(rng.normal(size=(n, k)))
    return A, basis @ basis.T, float(rng.uniform(0.2, 3.0)), rng.normal(size=m)


def check_subspace_estimator(estimator) -> bool:
    """Exercise: the minimiser of ½‖x − Ay‖² + (α/2) dist²(y, M) for a subspace M = range(P)."""
    estimator = require_callable(estimator, "estimator(A, P, alpha, x)")
    for seed in range(4):
        A, P, alpha, x = _instance(seed)
        got = estimator(A, P, alpha, x)
        if got is None:
            raise WrongAnswer("estimator returned None (did you forget `return`?).")
        got = np.asarray(got, dtype=float).reshape(-1)
        want = subspace_estimator(A, P, alpha, x)
        if got.shape != want.shape:
            raise WrongAnswer(f"expected a vector of {want.size} entries, got {got.size}.")
        n = A.shape[1]
        check_close(
            got,
            want,
            what="estimator(A, P, alpha, x)",
            rtol=1e-6,
            atol=1e-8,
            prefix="not the minimiser: ",
            known_wrong=[
                (
                    np.linalg.solve(A.T @ A + alpha * P, A.T @ x),
                    "the penalty is on the part of y outside M, (I − P)y, not on Py.",
                ),
                (
                    np.linalg.solve(A.T @ A + alpha * np.eye(n), A.T @ x),
                    "dist²(y, M) is not ‖y‖²: that is Tikhonov; project onto M first.",
                ),
                (
                    np.linalg.solve(A.T @ A + 2 * alpha * (np.eye(n) - P), A.T @ x),
                    "the gradient of (α/2)‖(I − P)y‖² is α(I − P)y, without a factor ½ or 2.",
                ),
                (
                    np.linalg.lstsq(A, x, rcond=None)[0],
                    "the least-squares solution ignores the prior: add α(I − P) to AᵀA.",
                ),
            ],
            otherwise="set the gradient Aᵀ(Ay − x) + α(I − P)y to zero and solve for y.",
        )
    return correct("the estimator for a subspace M")


def hqs_data_step_lipschitz(singular_values, beta: float) -> float:
    """Lip_y of y ↦ (AᵀA + βI)⁻¹(Aᵀx + βy): max over the spectrum of β / (s² + β)."""
    s = torch.as_tensor(singular_values, dtype=torch.float64)
    return float((beta / (s**2 + beta)).max())


def check_hqs_data_step(blur, beta, value) -> bool:
    """Exercise: the Lipschitz constant in y of the HQS data step for the chapter's blur."""
    got = require_number(value, "lipschitz")
    s = blur.singular_values()
    want = hqs_data_step_lipschitz(s, beta)
    return check_value(
        got,
        want,
        rtol=1e-6,
        known_wrong={
            float(beta / (s.max() ** 2 + beta)): "that is the factor at the largest singular "
            "value, where A is strongest; a Lipschitz constant is the worst case: take the "
            "direction where A is weakest.",
            float((1 / (s**2 + beta)).max()): "y enters multiplied by β: the factor is "
            "β / (s² + β), not 1 / (s² + β).",
            1.0: "1 would need a singular value 0; this blur's smallest singular value is "
            "positive, so the factor is below 1 (though close to it).",
        },
        otherwise=f"{got} is not it: in the Fourier basis the step multiplies each mode of y by "
        "β / (s² + β).",
        exercise="the Lipschitz constant of the HQS data step",
    )


def tikhonov_slope(s, lam: float):
    """Lipschitz constant of x ↦ (AᵀA + λI)⁻¹Aᵀx along the singular direction s: s / (s² + λ)."""
    return s / (s**2 + lam)


def check_tikhonov_slope(slope, bound) -> bool:
    """Exercise: slope(s, lam) of the Tikhonov estimate along a singular vector, and its bound."""
    slope = require_callable(slope, "slope(s, lam)")
    b = require_number(bound, "bound")
    for s, lam in ((0.3, 0.02), (1.0, 0.02), (0.01, 0.02), (0.5, 0.1)):
        got = require_number(slope(s, lam), f"slope({s}, {lam})")
        check_value(
            got,
            tikhonov_slope(s, lam),
            prefix=f"slope({s}, {lam})",
            known_wrong={
                1 / (s**2 + lam): ": the estimate applies Aᵀ first, which multiplies the mode "
                "by s.",
                1 / s: " = 1/s is the exact inverse, without λ.",
            },
            otherwise=f" = {got} is wrong: expected s / (s² + λ).",
        )
    lam = 0.02
    return check_value(
        b,
        1 / (2 * math.sqrt(lam)),
        rtol=1e-6,
        known_wrong={
            1 / math.sqrt(lam): "1/√λ is too large by 2: the maximum of s/(s² + λ) is at s = √λ."
        },
        otherwise=f"bound = {b} is not the largest slope for λ = {lam}: maximise s / (s² + λ) "
        "over s > 0 (set the derivative to zero).",
        exercise="the Tikhonov slope and its global bound",
    )
