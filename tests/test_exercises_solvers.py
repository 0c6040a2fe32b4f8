"""The checks of the chapter "Fixed-point solvers" accept the reference answers and reject typical
wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from implicit_edu.exercises import solvers as check

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


# --- iterations from the a-posteriori bound ---------------------------------------------------


def test_iterations_needed_accepts_the_reference():
    assert check.check_iterations_needed(check.iterations_needed)

    def mine(L, r0, eps):
        return max(0, math.ceil(math.log(eps * (1 - L) / r0) / math.log(L)))

    assert check.check_iterations_needed(mine)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda L, r0, eps: math.ceil(math.log(eps / r0) / math.log(L)), "1/\\(1 − L\\)"),
        (
            lambda L, r0, eps: math.floor(math.log(eps * (1 - L) / r0) / math.log(L)),
            "one short",
        ),
        (lambda L, r0, eps: math.log(eps * (1 - L) / r0) / math.log(L), "whole number"),
        (lambda L, r0, eps: 2 * math.ceil(math.log(eps * (1 - L) / r0) / math.log(L)), "not right"),
        (lambda L, r0, eps: math.ceil(math.log(eps * (1 - L) / r0) / math.log(L)), "should be 0"),
    ],
)
def test_iterations_needed_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_iterations_needed(wrong)


# --- one Krasnoselskii–Mann step --------------------------------------------------------------


def test_km_step_accepts_the_reference():
    assert check.check_km_step(lambda g, y, alpha: (1 - alpha) * y + alpha * g(y))
    assert check.check_km_step(lambda g, y, alpha: y + alpha * (g(y) - y))


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda g, y, alpha: alpha * y + (1 - alpha) * g(y), "swapped the weights"),
        (lambda g, y, alpha: g(y), "wrong value"),
        (lambda g, y, alpha: 0.5 * (y + g(y)), "wrong value"),
        (lambda g, y, alpha: None, "returned None"),
        (lambda g, y, alpha: y[0], "shape"),
    ],
)
def test_km_step_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_km_step(wrong)


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
