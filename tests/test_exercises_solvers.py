"""The checks of the chapter "Fixed-point solvers" accept the reference answers and reject typical
wrong ones."""

from __future__ import annotations

import cmath
import math

import pytest
import torch

from implicit_edu.exercises import solvers as check

F64 = torch.float64

# --- the Picard rate of an affine map ---------------------------------------------------------


def test_picard_rate_accepts_the_spectral_radius():
    assert check.check_picard_rate(check.picard_rate)
    assert check.check_picard_rate(lambda A: torch.linalg.eigvals(A).abs().max().item())


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda A: torch.linalg.matrix_norm(A, ord=2), "only a bound"),
        (lambda A: torch.linalg.eigvals(A).real.abs().max(), "real parts"),
        (lambda A: torch.linalg.matrix_norm(A), "is not right"),  # Frobenius norm
        (lambda A: A.abs().max(), "is not right"),
        (..., "replace the `...`"),
        (lambda A: "fast", "expected a number"),
    ],
)
def test_picard_rate_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_picard_rate(wrong)


# --- the certified stop (part 1 of the a-posteriori proposition) ------------------------------


def test_certified_stop_accepts_the_reference():
    assert check.check_certified_stop(check.picard_until_certified)


def _plain_stop(g, y0, L, eps):
    return check.picard_until_certified(g, y0, 0.0, eps)  # ‖g(y) − y‖ ≤ eps, no 1/(1 − L)


def _a_priori(g, y0, L, eps):
    k = check.iterations_needed(L, float(torch.linalg.vector_norm(g(y0) - y0)), eps)
    y = y0
    for _ in range(k):
        y = g(y)
    return y, k


def _one_more(g, y0, L, eps):
    y, k = check.picard_until_certified(g, y0, L, eps)
    return g(y), k + 1


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (_plain_stop, "divides the residual by 1 − L"),
        (_a_priori, "a-priori count"),
        (_one_more, "off by one"),
        (lambda g, y0, L, eps: (y0, 0), "iterate y ← g"),
        (lambda g, y0, L, eps: y0, "the pair"),
        (..., "replace the `...`"),
    ],
)
def test_certified_stop_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_certified_stop(wrong)


# --- Krasnoselskii–Mann on a rotation -------------------------------------------------------


def _km_factor(alpha, theta):
    return abs(1 - alpha + alpha * cmath.exp(1j * theta))


def test_km_rotation_accepts_the_reference_and_a_measurement():
    assert check.check_km_rotation(_km_factor, lambda theta: 0.5)
    # the factor is what a run of KM on a rotation measures
    theta, alpha = 1.1, 0.3
    rotation = torch.tensor(
        [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=F64
    )
    y = torch.tensor([2.0, -1.0], dtype=F64)
    start = float(y.norm())
    for _ in range(30):
        y = (1 - alpha) * y + alpha * (rotation @ y)
    measured = (float(y.norm()) / start) ** (1 / 30)
    assert math.isclose(measured, check.km_rotation_factor(alpha, theta), rel_tol=1e-9)


@pytest.mark.parametrize(
    ("factor", "best", "match"),
    [
        (lambda a, t: abs(1 - a + a * math.cos(t)), lambda t: 0.5, "real part"),
        (lambda a, t: 1 - a * (1 - a), lambda t: 0.5, "is not right"),
        (lambda a, t: math.cos(t / 2), lambda t: 0.5, "is not right"),
        (_km_factor, lambda t: 1.0, "Picard"),
        (_km_factor, lambda t: t / 4, "does not minimise"),
        (lambda a, t: None, lambda t: 0.5, "replace|None|number"),
        (..., lambda t: 0.5, "replace"),
    ],
)
def test_km_rotation_rejects(factor, best, match):
    with pytest.raises(AssertionError, match=match):
        check.check_km_rotation(factor, best)


# --- the Anderson weights ---------------------------------------------------------------------


def _weights(F, lam, scaled=True, constrained=True):
    gram = F @ F.T
    reg = lam * (gram.diagonal().mean() if scaled else 1.0)
    A = gram + reg * torch.eye(len(F), dtype=F.dtype)
    if constrained:
        z = torch.linalg.solve(A, torch.ones(len(F), dtype=F.dtype))
        return z / z.sum()
    return torch.linalg.lstsq(F.T, torch.zeros(F.shape[1], dtype=F.dtype)).solution


def test_anderson_weights_accepts_the_reference():
    assert check.check_anderson_weights(check.anderson_weights)
    assert check.check_anderson_weights(_weights)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda F, lam: _weights(F, lam, scaled=False), "not scaled"),
        (lambda F, lam: _weights(F, lam, constrained=False), "sum to"),
        (lambda F, lam: _weights(F, 0.0), "wrong value"),
        (lambda F, lam: torch.full((len(F),), 1.0 / len(F)), "wrong value"),
        (lambda F, lam: _weights(F, lam)[:-1], "one weight per residual"),
    ],
)
def test_anderson_weights_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_anderson_weights(wrong)
