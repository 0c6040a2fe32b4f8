"""The 1/x operator and the learned models of chapter 2 (implicit_edu.experiments.toy)."""

import math

import pytest
import torch

from implicit_edu import fixed_point, iterate
from implicit_edu.core.parameters import parameter_count
from implicit_edu.experiments import toy


def test_fixed_point_is_one_over_x():
    x = torch.linspace(0.1, 1.0, 10, dtype=torch.float64)
    G = toy.inverse_operator(0.7)
    result = fixed_point(lambda y: G(y, x), torch.zeros_like(x), tol=1e-12, max_iter=1000)
    assert result.converged
    assert torch.allclose(result.y, 1 / x, rtol=1e-10)


def test_closed_form_matches_iteration_and_limit_at_zero():
    x = torch.tensor([0.0, 0.01, 0.3, 1.0, 1.5], dtype=torch.float64)
    G = toy.inverse_operator(0.6)
    trajectory = iterate(lambda y: G(y, x), torch.zeros_like(x), 40)
    for t in (0, 1, 7, 40):
        assert torch.allclose(trajectory[t], toy.closed_form_iterate(x, 0.6, t), rtol=1e-10)
    assert float(toy.closed_form_iterate(torch.tensor([0.0]), 0.6, 5)) == pytest.approx(3.0)


def test_derivative_formula_against_autograd():
    x = torch.tensor([0.05, 0.4, 0.9], dtype=torch.float64, requires_grad=True)
    y = toy.closed_form_iterate(x, 0.8, 12)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(grad, toy.closed_form_derivative(x.detach(), 0.8, 12), rtol=1e-9)
    at_zero = toy.closed_form_derivative(torch.tensor([0.0]), 0.8, 12)
    assert float(at_zero) == pytest.approx(-(0.8**2) * 12 * 11 / 2)


@pytest.mark.parametrize("t", [2, 10, 50])
def test_lipschitz_of_iterates_is_eta_squared_t_choose_2(t):
    """Proposition 'Lipschitz constant of the iterates': Lip(y_t) on [0, 1/η] = η² t(t − 1)/2."""
    eta = 1.0
    grid = torch.linspace(0.0, 1.0 / eta, 100001, dtype=torch.float64)
    measured = toy.grid_lipschitz(lambda s: toy.closed_form_iterate(s, eta, t), grid)
    assert measured == pytest.approx(eta**2 * t * (t - 1) / 2, rel=1e-3)


def test_grid_lipschitz_of_known_maps_and_bad_grids():
    grid = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    assert toy.grid_lipschitz(lambda s: 3 * s + 1, grid) == pytest.approx(3.0)
    assert toy.grid_lipschitz(torch.sin, grid) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="sorted"):
        toy.grid_lipschitz(torch.sin, grid.flip(0))


def test_naive_operator_fixed_point_and_errors():
    x = torch.tensor([0.2, 0.5], dtype=torch.float64)
    G = toy.naive_operator(lambda s: 1 / s, 0.5)
    result = fixed_point(lambda y: G(y, x), torch.zeros_like(x), tol=1e-12, max_iter=200)
    assert torch.allclose(result.y, 1 / x)
    with pytest.raises(ValueError, match="0 < η ≤ 1"):
        toy.naive_operator(lambda s: 1 / s, 1.5)
    with pytest.raises(TypeError, match="callable"):
        toy.naive_operator(3.0, 0.5)
    with pytest.raises(ValueError, match="positive"):
        toy.inverse_operator(-1.0)


def test_contraction_factor():
    x = torch.tensor([0.0, 0.5, 2.0, 3.0])
    assert torch.allclose(toy.contraction_factor(x, 1.0), torch.tensor([1.0, 0.5, 1.0, 2.0]))


def test_learned_operator_contracts_and_has_implicit_gradient():
    torch.manual_seed(0)
    model = toy.LearnedInverseOperator(width=4).double()
    x = torch.linspace(0.1, 1.0, 7, dtype=torch.float64)
    a, _ = model.coefficients(x)
    assert bool(((model.eta * a > 0) & (model.eta * a < 1)).all())
    y_star = model(x)
    assert model.last_result.converged
    assert torch.allclose(model.operator(y_star.detach(), x), y_star.detach(), rtol=1e-6)
    # The implicit-function-theorem gradient equals the gradient of the closed form b/a.
    params = list(model.parameters())
    implicit_grads = torch.autograd.grad(y_star.sum(), params)
    a, b = model.coefficients(x)
    exact_grads = torch.autograd.grad((b / a).sum(), params)
    for g_implicit, g_exact in zip(implicit_grads, exact_grads, strict=True):
        assert torch.allclose(g_implicit, g_exact, rtol=1e-4, atol=1e-8)


def test_training_reduces_the_relative_error():
    torch.manual_seed(0)
    x = torch.linspace(0.05, 1.0, 64, dtype=torch.float64)
    for model in (toy.ExplicitMLP(8).double(), toy.LearnedInverseOperator(4).double()):
        losses = toy.fit_inverse(model, x, steps=150, lr=1e-2)
        assert losses[-1] < 0.5 * losses[0]
        assert math.isfinite(losses[-1])
    assert parameter_count(toy.ExplicitMLP(16)) == 49
    assert parameter_count(toy.LearnedInverseOperator(8)) == 50
