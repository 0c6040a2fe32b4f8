"""The checks of "Keeping the operator regular" accept the reference answers and reject typical
wrong ones."""

import math

import pytest
import torch

from implicit_edu.exercises import regularity as check


def test_averaged_factor_check():
    assert check.check_averaged_factor(lambda eps, lip: 1 - eps * (1 - lip))
    with pytest.raises(AssertionError, match="leaves out h"):
        check.check_averaged_factor(lambda eps, lip: 1 - eps)
    with pytest.raises(AssertionError, match="multiplies where it should add"):
        check.check_averaged_factor(lambda eps, lip: (1 - eps) * lip)
    with pytest.raises(AssertionError, match="is not right"):
        check.check_averaged_factor(lambda eps, lip: eps * lip)
    with pytest.raises(AssertionError, match="replace the `...`"):
        check.check_averaged_factor(...)


def test_smallest_bound_check():
    assert check.check_smallest_bound(lambda lip, s: max(0.0, 1 - lip / s))
    with pytest.raises(AssertionError, match="is 1 − μ, not μ"):
        check.check_smallest_bound(lambda lip, s: lip / s)
    with pytest.raises(AssertionError, match="upside down"):
        check.check_smallest_bound(lambda lip, s: 1 - s / lip)
    with pytest.raises(AssertionError, match="max\\(0"):
        check.check_smallest_bound(lambda lip, s: 1 - lip / s)
    with pytest.raises(AssertionError, match="expected a number"):
        check.check_smallest_bound(lambda lip, s: "high")


def _steps(m, L):
    return 2 * m / L**2, m / L**2, math.sqrt(1 - m**2 / L**2)


def test_monotone_steps_check():
    assert check.check_monotone_steps(_steps)
    with pytest.raises(AssertionError, match="carries L²"):
        check.check_monotone_steps(lambda m, L: (2 * m / L, m / L, math.sqrt(1 - m**2 / L**2)))
    with pytest.raises(AssertionError, match="square of the contraction factor"):
        check.check_monotone_steps(lambda m, L: (2 * m / L**2, m / L**2, 1 - m**2 / L**2))
    with pytest.raises(AssertionError, match="minimise"):
        check.check_monotone_steps(lambda m, L: (2 * m / L**2, 2 * m / L**2, 0.5))
    with pytest.raises(AssertionError, match="three numbers"):
        check.check_monotone_steps(lambda m, L: 2 * m / L**2)


def test_monotone_weight_check():
    def reference(A, B, m):
        return (1 - m) * torch.eye(A.shape[0], dtype=A.dtype) - A.T @ A + B - B.T

    assert check.check_monotone_weight(reference)
    eye = torch.eye
    with pytest.raises(AssertionError, match="A Aᵀ"):
        check.check_monotone_weight(
            lambda A, B, m: (1 - m) * eye(4, dtype=A.dtype) - A @ A.T + B - B.T
        )
    with pytest.raises(AssertionError, match="leaves out B − Bᵀ"):
        check.check_monotone_weight(lambda A, B, m: (1 - m) * eye(4, dtype=A.dtype) - A.T @ A)
    with pytest.raises(AssertionError, match="\\(1 \\+ m\\) I"):
        check.check_monotone_weight(
            lambda A, B, m: (1 + m) * eye(4, dtype=A.dtype) - A.T @ A + B - B.T
        )
    with pytest.raises(AssertionError, match="shape"):
        check.check_monotone_weight(lambda A, B, m: reference(A, B, m)[:3])
    with pytest.raises(AssertionError, match="returned None"):
        check.check_monotone_weight(lambda A, B, m: None)
