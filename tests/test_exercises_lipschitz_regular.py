"""Exercise checks of Part II, chapters "Lipschitz maps, contractions and fixed points" and
"Regular implicit operators": each accepts the reference answer and rejects typical wrong ones."""

import math

import pytest
import torch

from implicit_edu.exercises import lipschitz_maps, regular_operators

# --- Lipschitz maps, contractions and fixed points -------------------------------------------


def test_composition_constant_check():
    assert lipschitz_maps.check_composition_constant(
        lambda A1, A2: torch.linalg.matrix_norm(A2 @ A1, ord=2)
    )
    with pytest.raises(AssertionError, match="bound of the composition lemma"):
        lipschitz_maps.check_composition_constant(
            lambda A1, A2: torch.linalg.matrix_norm(A2, ord=2) * torch.linalg.matrix_norm(A1, ord=2)
        )
    with pytest.raises(AssertionError, match="Frobenius"):
        lipschitz_maps.check_composition_constant(lambda A1, A2: torch.linalg.matrix_norm(A2 @ A1))
    with pytest.raises(AssertionError, match="is not right"):  # wrong order of the factors
        lipschitz_maps.check_composition_constant(
            lambda A1, A2: torch.linalg.matrix_norm(A1.T @ A2.T @ A2 @ A1, ord=2)
        )
    with pytest.raises(AssertionError, match="replace the `...`"):
        lipschitz_maps.check_composition_constant(...)


def _reference_iterations(mu, delta, tol):
    if delta / (1 - mu) <= tol:
        return 0
    return math.ceil(math.log(tol * (1 - mu) / delta) / math.log(mu))


def test_iterations_needed_check():
    assert lipschitz_maps.iterations_needed(0.9, 2.0, 1e-8) == 204
    assert lipschitz_maps.check_iterations_needed(_reference_iterations)
    with pytest.raises(AssertionError, match="forgets the factor"):
        lipschitz_maps.check_iterations_needed(
            lambda mu, delta, tol: max(0, math.ceil(math.log(tol / delta) / math.log(mu)))
        )
    with pytest.raises(AssertionError, match="too small"):  # rounded down
        lipschitz_maps.check_iterations_needed(
            lambda mu, delta, tol: max(0, _reference_iterations(mu, delta, tol) - 1)
        )
    with pytest.raises(AssertionError, match="not the least"):
        lipschitz_maps.check_iterations_needed(
            lambda mu, delta, tol: _reference_iterations(mu, delta, tol) + 1
        )
    with pytest.raises(AssertionError, match="whole number"):
        lipschitz_maps.check_iterations_needed(
            lambda mu, delta, tol: math.log(tol * (1 - mu) / delta) / math.log(mu)
        )


def test_local_constants_check():
    def lip_sqrt(a):
        return 1 / (2 * math.sqrt(a))

    assert lipschitz_maps.check_local_constants(lambda a: 1 / a**2, lip_sqrt)
    with pytest.raises(AssertionError, match="negative"):
        lipschitz_maps.check_local_constants(lambda a: -1 / a**2, lip_sqrt)
    with pytest.raises(AssertionError, match="log x"):
        lipschitz_maps.check_local_constants(lambda a: 1 / a, lip_sqrt)
    with pytest.raises(AssertionError, match="twice too large"):
        lipschitz_maps.check_local_constants(lambda a: 1 / a**2, lambda a: 1 / math.sqrt(a))
    with pytest.raises(AssertionError, match="is not right"):
        lipschitz_maps.check_local_constants(lambda a: 1 / a**2, lambda a: math.sqrt(a))
    with pytest.raises(AssertionError, match="expected a function"):
        lipschitz_maps.check_local_constants(1.0, lip_sqrt)


def test_weighted_norm_check():
    assert lipschitz_maps.check_weighted_norm(torch.tensor([1.0, 4.0]))
    assert lipschitz_maps.check_weighted_norm([1.0, 2.0])  # any w2/w1 > 4/3 works
    with pytest.raises(AssertionError, match="Euclidean"):
        lipschitz_maps.check_weighted_norm(torch.tensor([1.0, 1.0]))
    with pytest.raises(AssertionError, match="w1/w2"):
        lipschitz_maps.check_weighted_norm(torch.tensor([4.0, 1.0]))
    with pytest.raises(AssertionError, match="w1/w2"):
        lipschitz_maps.check_weighted_norm(torch.tensor([3.0, 3.9]))  # w2/w1 < 4/3
    with pytest.raises(AssertionError, match="positive"):
        lipschitz_maps.check_weighted_norm(torch.tensor([1.0, -4.0]))
    with pytest.raises(AssertionError, match="two weights"):
        lipschitz_maps.check_weighted_norm(torch.tensor([1.0, 4.0, 2.0]))


# --- Regular implicit operators ---------------------------------------------------------------


def _mu(x):
    return 0.5 + abs(x) / 4


def _lip_x(y):
    return abs(math.sin(y)) / 4


def test_sine_operator_check():
    assert regular_operators.check_sine_operator(_mu, _lip_x)
    assert regular_operators.check_sine_operator(
        lambda x: 0.5 + torch.abs(x) / 4, lambda y: torch.sin(y).abs() / 4
    )
    with pytest.raises(AssertionError, match="for every x"):
        regular_operators.check_sine_operator(lambda x: 0.75, _lip_x)
    with pytest.raises(AssertionError, match="negative x"):
        regular_operators.check_sine_operator(lambda x: 0.5 + x / 4, _lip_x)
    with pytest.raises(AssertionError, match="supremum over y"):
        regular_operators.check_sine_operator(lambda x: 0.5, _lip_x)
    with pytest.raises(AssertionError, match="bound for all y"):
        regular_operators.check_sine_operator(_mu, lambda y: 0.25)
    with pytest.raises(AssertionError, match="negative"):
        regular_operators.check_sine_operator(_mu, lambda y: math.sin(y) / 4)
    with pytest.raises(AssertionError, match="straight line"):
        regular_operators.check_sine_operator(_mu, lambda y: abs(math.cos(y)) / 4)


def test_regular_names_check():
    assert regular_operators.check_regular_names({"inverse", "tanh", "affine"})
    assert regular_operators.check_regular_names(["affine", "inverse", "tanh"])
    with pytest.raises(AssertionError, match="'edge' is not regular"):
        regular_operators.check_regular_names({"inverse", "tanh", "affine", "edge"})
    with pytest.raises(AssertionError, match="'naive' is not regular"):
        regular_operators.check_regular_names({"inverse", "tanh", "affine", "naive"})
    with pytest.raises(AssertionError, match="'affine' is regular, but missing"):
        regular_operators.check_regular_names({"inverse", "tanh"})
    with pytest.raises(AssertionError, match="'quadratic' is not regular.*'affine' is regular"):
        regular_operators.check_regular_names({"inverse", "tanh", "quadratic"})
    with pytest.raises(AssertionError, match="unknown name"):
        regular_operators.check_regular_names({"inverse", "tanh", "affine", "1/x"})
    with pytest.raises(AssertionError, match="set of names"):
        regular_operators.check_regular_names("inverse")
    with pytest.raises(AssertionError, match="replace the `...`"):
        regular_operators.check_regular_names(...)


def test_inverse_constant_check():
    assert regular_operators.check_inverse_constant(lambda y, eta: eta * abs(y))
    with pytest.raises(AssertionError, match="negative"):
        regular_operators.check_inverse_constant(lambda y, eta: eta * y)
    with pytest.raises(AssertionError, match="does not depend on y"):
        regular_operators.check_inverse_constant(lambda y, eta: eta)
    with pytest.raises(AssertionError, match="straight line"):
        regular_operators.check_inverse_constant(lambda y, eta: eta * y**2)


def _affine_mu(x):
    return (2 + math.cos(x)) / 4


def test_affine_constants_check():
    assert regular_operators.check_affine_constants((2.0, 0.25), _affine_mu)
    with pytest.raises(AssertionError, match="swapped"):
        regular_operators.check_affine_constants((0.25, 2.0), _affine_mu)
    with pytest.raises(AssertionError, match="chain rule"):
        regular_operators.check_affine_constants((1.0, 0.25), _affine_mu)
    with pytest.raises(AssertionError, match="largest value of A"):
        regular_operators.check_affine_constants((2.0, 0.75), _affine_mu)
    with pytest.raises(AssertionError, match="bound for all x"):
        regular_operators.check_affine_constants((2.0, 0.25), lambda x: 0.75)
    with pytest.raises(AssertionError, match="contracts with"):
        regular_operators.check_affine_constants((2.0, 0.25), lambda x: (2 - math.cos(x)) / 4)
    with pytest.raises(AssertionError, match="pair"):
        regular_operators.check_affine_constants(2.0, _affine_mu)
