"""The checks of "Differentiating through a fixed point" accept the reference answers and reject
typical wrong ones."""

import pytest
import torch

from implicit_edu.exercises import differentiating as check


def test_scalar_derivative_check():
    assert check.check_scalar_derivative(lambda a: 1 / (1 - a))
    with pytest.raises(AssertionError, match="Jacobian-free"):
        check.check_scalar_derivative(lambda a: 1.0)
    with pytest.raises(AssertionError, match="y\\* − θ"):
        check.check_scalar_derivative(lambda a: a / (1 - a))
    with pytest.raises(AssertionError, match="is not right"):
        check.check_scalar_derivative(lambda a: 1 / (1 + a))
    with pytest.raises(AssertionError, match="replace the `...`"):
        check.check_scalar_derivative(...)
    with pytest.raises(AssertionError, match="expected a number"):
        check.check_scalar_derivative(lambda a: "one")


def test_unrolled_derivative_check():
    assert check.check_unrolled_derivative(lambda a, n: (1 - a**n) / (1 - a))
    with pytest.raises(AssertionError, match="limit N → ∞"):
        check.check_unrolled_derivative(lambda a, n: 1 / (1 - a))
    with pytest.raises(AssertionError, match="one step too many"):
        check.check_unrolled_derivative(lambda a, n: (1 - a ** (n + 1)) / (1 - a))
    with pytest.raises(AssertionError, match="geometric sum"):
        check.check_unrolled_derivative(lambda a, n: float(n))


def test_jfb_error_check():
    assert check.check_jfb_error(lambda mu: mu)
    with pytest.raises(AssertionError, match="divides by"):
        check.check_jfb_error(lambda mu: mu / (1 - mu))
    with pytest.raises(AssertionError, match="not right"):
        check.check_jfb_error(lambda mu: 1 - mu)


def test_phantom_error_check():
    assert check.check_phantom_error(lambda mu, k, tau: (1 - tau * (1 - mu)) ** k)
    with pytest.raises(AssertionError, match="ignores the damping"):
        check.check_phantom_error(lambda mu, k, tau: mu**k)
    with pytest.raises(AssertionError, match="is not right"):
        check.check_phantom_error(lambda mu, k, tau: (1 - tau * (1 - mu)) ** (k + 1))


def _reference(J, v, steps):
    u = v.clone()
    for _ in range(steps):
        u = v + J.T @ u
    return u


def test_backward_iteration_check():
    assert check.check_backward_iteration(_reference)

    def untransposed(J, v, steps):
        u = v.clone()
        for _ in range(steps):
            u = v + J @ u
        return u

    with pytest.raises(AssertionError, match="transpose"):
        check.check_backward_iteration(untransposed)

    def from_zero(J, v, steps):  # one step behind: starts at u_0 = 0
        u = torch.zeros_like(v)
        for _ in range(steps):
            u = v + J.T @ u
        return u

    with pytest.raises(AssertionError, match="u_0 = v"):
        check.check_backward_iteration(from_zero)
    with pytest.raises(AssertionError, match="returned None"):
        check.check_backward_iteration(lambda J, v, steps: None)
    with pytest.raises(AssertionError, match="shape"):
        check.check_backward_iteration(lambda J, v, steps: _reference(J, v, steps)[:3])
