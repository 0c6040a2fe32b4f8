"""The checks of the chapter "Steady Navier–Stokes" accept the reference answers and reject typical
wrong ones."""

from __future__ import annotations

import pytest

from implicit_edu.exercises import navier_stokes as check

# --- the laminar Kolmogorov flow ----------------------------------------------------------------


def test_kolmogorov_accepts_the_reference():
    assert check.check_kolmogorov_amplitude(lambda A, k, nu, drag: A / (nu * k**2 + drag))


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda A, k, nu, drag: A / (nu * k**2), "drag"),
        (lambda A, k, nu, drag: A / (nu * k + drag), "squared"),
        (lambda A, k, nu, drag: A * (nu * k**2 + drag), "divide"),
        (lambda A, k, nu, drag: A / (nu + drag), "wavenumber k"),
        (lambda A, k, nu, drag: -A / (nu * k**2 + drag), "sign"),
        (lambda A, k, nu, drag: A, "u·∇ω = 0"),
        (lambda A, k, nu, drag: None, "replace the `...`"),
        (..., "replace the `...`"),
    ],
)
def test_kolmogorov_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_kolmogorov_amplitude(wrong)


# --- the parameter count of the explicit FNO ---------------------------------------------------


def _reference_count(C, m, L):
    return 2 * C + L * (4 * m * m * C * C + C * C + C) + (2 * C * C + 2 * C) + (2 * C + 1)


def test_explicit_count_accepts_the_reference():
    assert check.check_explicit_count(_reference_count)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda C, m, L: _reference_count(C, m, L) - L * 2 * m * m * C * C, "factor 2"),
        (lambda C, m, L: _reference_count(C, m, L) - L * 3 * m * m * C * C, "two corners"),
        (lambda C, m, L: _reference_count(C, m, L) - L * C, "bias"),
        (lambda C, m, L: _reference_count(C, m, L) - L * (C * C + C), "1 × 1 convolution W"),
        (lambda C, m, L: _reference_count(C, m, L) - 2 * C, "lift"),
        (lambda C, m, L: 2 * C + L * (4 * m * m * C * C + C * C + C), "projection"),
        (lambda C, m, L: 4 * m * m * C * C * L, "add the lift"),
        (lambda C, m, L: "many", "expected a number"),
    ],
)
def test_explicit_count_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_explicit_count(wrong)


# --- the Lipschitz constant of the Stokes map ---------------------------------------------------


def test_stokes_lipschitz_accepts_the_reference():
    assert check.check_stokes_lipschitz(lambda nu, drag, k_min, k_max: 1 / (nu * k_min**2 + drag))


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda nu, drag, k_min, k_max: 1 / (nu * k_max**2 + drag), "steepest"),
        (lambda nu, drag, k_min, k_max: 1 / (nu * k_min**2), "drag"),
        (lambda nu, drag, k_min, k_max: 1 / (nu * k_min + drag), "−|k|²"),
        (lambda nu, drag, k_min, k_max: nu * k_min**2 + drag, "reciprocal"),
        (lambda nu, drag, k_min, k_max: 1 / (nu + drag), "diagonal"),
        (..., "replace the `...`"),
    ],
)
def test_stokes_lipschitz_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_stokes_lipschitz(wrong)
