"""The checks of the chapter "Image deblurring" accept the reference answers and reject typical
wrong ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from implicit_edu.exercises import deblurring as check
from implicit_edu.experiments.deblur import BlurOperator, motion_kernel

# --- the estimator for a subspace M ------------------------------------------------------------


def _reference(A, P, alpha, x):
    return np.linalg.solve(A.T @ A + alpha * (np.eye(A.shape[1]) - P), A.T @ x)


def test_subspace_estimator_accepts_the_reference():
    assert check.check_subspace_estimator(_reference)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda A, P, a, x: np.linalg.solve(A.T @ A + a * P, A.T @ x), "outside M"),
        (lambda A, P, a, x: np.linalg.solve(A.T @ A + a * np.eye(len(P)), A.T @ x), "Tikhonov"),
        (
            lambda A, P, a, x: np.linalg.solve(A.T @ A + 2 * a * (np.eye(len(P)) - P), A.T @ x),
            "factor",
        ),
        (lambda A, P, a, x: np.linalg.lstsq(A, x, rcond=None)[0], "ignores the prior"),
        (lambda A, P, a, x: A.T @ x, "set the gradient"),
        (lambda A, P, a, x: None, "None"),
        (..., "replace the `...`"),
    ],
)
def test_subspace_estimator_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_subspace_estimator(wrong)


# --- the Lipschitz constant of the HQS data step ----------------------------------------------


@pytest.fixture
def blur():
    return BlurOperator(motion_kernel(9, seed=3), (24, 24))


def test_hqs_data_step_accepts_the_reference(blur):
    s = blur.singular_values()
    value = float((0.5 / (s**2 + 0.5)).max())
    assert value < 1
    assert check.check_hqs_data_step(blur, 0.5, value)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda s: float(0.5 / (s.max() ** 2 + 0.5)), "weakest"),
        (lambda s: float((1 / (s**2 + 0.5)).max()), "multiplied by β"),
        (lambda s: 1.0, "singular value 0"),
        (lambda s: 0.5, "Fourier basis"),
        (lambda s: "one", "expected a number"),
    ],
)
def test_hqs_data_step_rejects(blur, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_hqs_data_step(blur, 0.5, wrong(blur.singular_values()))


# --- the Tikhonov slope -----------------------------------------------------------------------


def test_tikhonov_slope_accepts_the_reference():
    assert check.check_tikhonov_slope(lambda s, lam: s / (s**2 + lam), 1 / (2 * math.sqrt(0.02)))


@pytest.mark.parametrize(
    ("slope", "bound", "match"),
    [
        (lambda s, lam: 1 / (s**2 + lam), 3.5, "applies Aᵀ first"),
        (lambda s, lam: 1 / s, 3.5, "exact inverse"),
        (lambda s, lam: s, 3.5, "expected s"),
        (lambda s, lam: s / (s**2 + lam), 1 / math.sqrt(0.02), "too large by 2"),
        (lambda s, lam: s / (s**2 + lam), 50.0, "maximise"),
        (lambda s, lam: s / (s**2 + lam), ..., "replace"),
    ],
)
def test_tikhonov_slope_rejects(slope, bound, match):
    with pytest.raises(AssertionError, match=match):
        check.check_tikhonov_slope(slope, bound)
