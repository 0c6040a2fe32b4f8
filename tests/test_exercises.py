"""Every exercise check accepts the reference answer and rejects typical wrong ones."""

import math

import pytest
import torch

from implicit_edu.exercises import implicit_models, one_over_x

# --- chapter 1: implicit models --------------------------------------------------------------


def _picard(g, y0, steps):
    for _ in range(steps):
        y0 = g(y0)
    return y0


def test_picard_check():
    assert implicit_models.check_picard(_picard)
    with pytest.raises(AssertionError, match="steps=0"):
        implicit_models.check_picard(lambda g, y0, steps: _picard(g, y0, steps + 1))
    with pytest.raises(AssertionError, match="returned None"):
        implicit_models.check_picard(lambda g, y0, steps: None)
    with pytest.raises(AssertionError, match="replace the `...`"):
        implicit_models.check_picard(...)


def test_contraction_bound_check():
    assert implicit_models.check_contraction_bound(lambda W: torch.linalg.matrix_norm(W, ord=2))
    with pytest.raises(AssertionError, match="Frobenius"):
        implicit_models.check_contraction_bound(lambda W: torch.linalg.matrix_norm(W))
    with pytest.raises(AssertionError, match="is not right"):
        implicit_models.check_contraction_bound(lambda W: W.abs().max())


def test_equilibrium_depth_check():
    assert implicit_models.check_equilibrium_depth(math.ceil(math.log(1e-6) / math.log(0.9)))
    for wrong in (131, 100, math.log(1e-6) / math.log(0.9)):
        with pytest.raises(AssertionError):
            implicit_models.check_equilibrium_depth(wrong)


# --- chapter 2: the 1/x operator -------------------------------------------------------------


def test_largest_step_check():
    assert one_over_x.check_largest_step(2.0)
    with pytest.raises(AssertionError, match="sufficient condition"):
        one_over_x.check_largest_step(1.0)
    with pytest.raises(AssertionError, match="not right"):
        one_over_x.check_largest_step(1.99)
    with pytest.raises(AssertionError, match="number"):
        one_over_x.check_largest_step("two")


def test_iterations_check():
    assert one_over_x.required_iterations(0.1, 0.5, 1e-6) == 270
    assert one_over_x.check_iterations(270)
    with pytest.raises(AssertionError, match="one short"):
        one_over_x.check_iterations(269)
    with pytest.raises(AssertionError, match="whole number"):
        one_over_x.check_iterations(269.4)
    with pytest.raises(AssertionError, match="least"):
        one_over_x.check_iterations(300)


def test_slope_check():
    assert one_over_x.check_slope_at_zero(lambda eta, t: -(eta**2) * t * (t - 1) / 2)
    with pytest.raises(AssertionError, match="sign"):
        one_over_x.check_slope_at_zero(lambda eta, t: eta**2 * t * (t - 1) / 2)
    with pytest.raises(AssertionError, match="is not right"):
        one_over_x.check_slope_at_zero(lambda eta, t: -(eta**2) * t**2 / 2)


def test_newton_check():
    assert one_over_x.check_newton_operator(lambda y, x: y * (2 - x * y))
    with pytest.raises(AssertionError):
        one_over_x.check_newton_operator(lambda y, x: y - (x * y - 1))


def test_best_step_check():
    assert one_over_x.check_best_step(lambda a: 2 / (1 + a), lambda a: (1 - a) / (1 + a))
    for wrong_step, hint in (
        (lambda a: 1.0, "η = 1"),
        (lambda a: 1 / a, "η = 1/a"),
        (lambda a: 2.0, "edge"),
        (lambda a: 1.5, "smallest where"),
    ):
        with pytest.raises(AssertionError, match=hint):
            one_over_x.check_best_step(wrong_step, lambda a: (1 - a) / (1 + a))
    with pytest.raises(AssertionError, match="factor of η = 1"):
        one_over_x.check_best_step(lambda a: 2 / (1 + a), lambda a: 1 - a)
    with pytest.raises(AssertionError, match="replace the `...`"):
        one_over_x.check_best_step(..., ...)
