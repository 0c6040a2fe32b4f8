"""The regular parametrisations of implicit_edu.core.regular keep their certified contraction
bounds, plug into DEQ, and pass gradients."""

import math
import pickle
import warnings

import pytest
import torch

from implicit_edu import DEQ, fixed_point
from implicit_edu.core.regular import (
    AdaptiveStep,
    AveragedOperator,
    LipschitzMLP,
    MonotoneOperator,
    TanhOperator,
    bounded_matrix,
)

DTYPE = torch.float64


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    yield
    torch.set_default_dtype(previous)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _pairs(op, width, in_features, n=256, scale=3.0, seed=1):
    """Random (y1, y2, x) with y's of size ``width`` and x of size ``in_features``."""
    g = _gen(seed)
    y1 = scale * torch.randn(n, width, generator=g)
    y2 = y1 + torch.randn(n, width, generator=g) * torch.rand(n, 1, generator=g)
    x = torch.randn(n, in_features, generator=g)
    return y1, y2, x


def _ratios(op, y1, y2, x):
    with torch.no_grad():
        return (op(y1, x) - op(y2, x)).norm(dim=1) / (y1 - y2).norm(dim=1)


# --- spectral normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize("mu", [0.3, 0.9, 0.99])
def test_spectral_exact_is_a_mu_contraction(mu):
    op = TanhOperator(6, 3, mu=mu, generator=_gen())
    assert op.contraction_bound() == pytest.approx(mu, rel=1e-10)
    ratios = _ratios(op, *_pairs(op, 6, 3))
    assert float(ratios.max()) <= mu + 1e-12
    # the x-Lipschitz bound ‖U‖₂ holds as well
    g = _gen(2)
    y = torch.randn(100, 6, generator=g)
    x1, x2 = torch.randn(100, 3, generator=g), torch.randn(100, 3, generator=g)
    with torch.no_grad():
        r = (op(y, x1) - op(y, x2)).norm(dim=1) / (x1 - x2).norm(dim=1)
    assert float(r.max()) <= op.x_lipschitz_bound() + 1e-12


def test_spectral_lip_x_keeps_the_input_matrix_bounded():
    op = TanhOperator(5, 4, mu=0.5, lip_x=0.25, generator=_gen())
    assert op.x_lipschitz_bound() <= 0.25 + 1e-12
    small = bounded_matrix(torch.eye(3) * 0.1, 1.0)
    assert torch.equal(small, torch.eye(3) * 0.1)  # already inside the ball: unchanged


def test_spectral_power_iteration_is_certified_by_the_exact_norm():
    op = TanhOperator(8, 2, mu=0.9, normalisation="power", generator=_gen(3))
    with torch.no_grad():
        op.V.add_(0.5 * torch.randn(8, 8, generator=_gen(4)))  # the stored vectors are stale now
    sigma_hat = float(op._u @ op.V.detach() @ op._v)
    sigma = float(torch.linalg.matrix_norm(op.V.detach(), 2))
    assert sigma_hat <= sigma + 1e-12
    bound = op.contraction_bound()
    assert bound == pytest.approx(0.9 * sigma / sigma_hat, rel=1e-9)
    assert bound >= 0.9 - 1e-12  # normalising by an underestimate overshoots
    assert float(_ratios(op, *_pairs(op, 8, 2)).max()) <= bound + 1e-12
    for _ in range(200):
        op.power_step()
    assert op.contraction_bound() == pytest.approx(0.9, rel=1e-6)


def test_unconstrained_tanh_reports_its_norm():
    op = TanhOperator(4, 1, mu=None, generator=_gen())
    assert op.contraction_bound() == pytest.approx(
        float(torch.linalg.matrix_norm(op.V.detach(), 2))
    )


# --- averaged operators -------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
def test_averaged_constant_step(eps):
    h = TanhOperator(5, 2, mu=0.8, generator=_gen())
    op = AveragedOperator(h, eps=eps)
    y1, y2, x = _pairs(op, 5, 2)
    bound = 1 - eps * (1 - 0.8)
    assert op.contraction_bound() == pytest.approx(bound)
    assert torch.allclose(op.contraction_bound(x), torch.full((len(x),), bound))
    assert float(_ratios(op, y1, y2, x).max()) <= bound + 1e-12


def test_averaged_adaptive_step_bound_per_sample():
    h = TanhOperator(4, 3, mu=0.5, generator=_gen())
    step = AdaptiveStep(3, eps_max=0.9, eps_min=0.05, width=8, lip=6.0, generator=_gen(5))
    op = AveragedOperator(h, eps=step)
    y1, y2, x = _pairs(op, 4, 3, n=400)
    eps = step(x).detach()
    assert float(eps.min()) > 0.05 and float(eps.max()) < 0.9
    bound = op.contraction_bound(x)
    assert torch.allclose(bound, 1 - eps.detach() * 0.5)
    assert bool((_ratios(op, y1, y2, x) <= bound + 1e-12).all())
    assert op.contraction_bound() == pytest.approx(1 - 0.05 * 0.5)
    assert step.lipschitz_bound() <= (0.9 - 0.05) * 6.0 / 4 + 1e-12


def test_damping_does_not_move_the_fixed_point():
    h = TanhOperator(5, 2, mu=0.7, generator=_gen())
    op = AveragedOperator(h, eps=0.3)
    x = torch.randn(20, 2, generator=_gen(6))
    y0 = torch.zeros(20, 5)
    with torch.no_grad():
        y_h = fixed_point(lambda y: h(y, x), y0, solver="anderson", tol=1e-13, max_iter=300).y
        y_g = fixed_point(lambda y: op(y, x), y0, solver="anderson", tol=1e-13, max_iter=300).y
    assert torch.allclose(y_h, y_g, atol=1e-10)


def test_injection_only_has_the_closed_form_fixed_point():
    p = LipschitzMLP(1, 1, width=8, lip=3.0, generator=_gen())
    step = AdaptiveStep(1, eps_max=1.0, eps_min=0.01, width=8, lip=4.0, generator=_gen(1))
    op = AveragedOperator(injection=p, eps=step, width=1)
    x = torch.linspace(0.05, 1, 50)[:, None]
    with torch.no_grad():
        e, q = op.coefficients(x)
        result = fixed_point(lambda y: op(y, x), op.initial_state(x), tol=1e-13, max_iter=5000)
        trajectory = op.iterates(x, 30)
    assert result.converged
    assert torch.allclose(result.y, q / e, rtol=1e-10, atol=1e-12)
    assert trajectory.shape == (31, 50, 1)
    assert p.lipschitz_bound() <= 3.0 + 1e-12


def test_lipschitz_mlp_bound_holds():
    net = LipschitzMLP(3, 2, width=16, lip=2.0, generator=_gen())
    with torch.no_grad():
        net.B.mul_(10)  # free weights far outside the budget
    g = _gen(7)
    x1, x2 = torch.randn(300, 3, generator=g), torch.randn(300, 3, generator=g)
    with torch.no_grad():
        r = (net(x1) - net(x2)).norm(dim=1) / (x1 - x2).norm(dim=1)
    assert net.lipschitz_bound() == pytest.approx(2.0)
    assert float(r.max()) <= 2.0 + 1e-12


def test_coefficient_cache_follows_weights_and_inputs():
    p = LipschitzMLP(1, 1, width=4, lip=2.0, generator=_gen())
    op = AveragedOperator(injection=p, eps=0.5, width=1)
    x = torch.linspace(0, 1, 5)[:, None]
    y = torch.zeros(5, 1)
    with torch.no_grad():
        first = op(y, x).clone()
        p.d.add_(1.0)  # an in-place change of a weight (like an optimiser step)
        second = op(y, x)
        x_other = x + 0.0  # equal values, another tensor
        third = op(y, x_other)
        x.data.mul_(2.0)  # a change that bypasses the version counter
        fourth = op(y, x)
        expected = p(x)  # g(0, x) = p(x)
    assert torch.allclose(second, first + 1.0)
    assert torch.allclose(third, second)
    assert torch.allclose(fourth, expected)
    pickle.loads(pickle.dumps(op))


# --- monotone operators -------------------------------------------------------------------------


def test_monotone_parametrisation_is_strongly_monotone_and_contracts():
    op = MonotoneOperator(10, 3, m=0.3, generator=_gen())
    eye = torch.eye(10)
    with torch.no_grad():
        M = eye - op.W
    assert float(torch.linalg.eigvalsh((M + M.T) / 2).min()) >= 0.3 - 1e-10
    bound = op.contraction_bound()
    assert bound <= op.forward_backward_bound() + 1e-12 < 1
    L = op.lipschitz_I_minus_W()
    assert op.forward_backward_bound() == pytest.approx(math.sqrt(1 - 0.3**2 / L**2))
    assert float(_ratios(op, *_pairs(op, 10, 3)).max()) <= bound + 1e-12


def test_monotone_unique_fixed_point_from_any_start_and_any_step():
    op = MonotoneOperator(8, 2, m=0.5, generator=_gen(2))
    x = torch.randn(6, 2, generator=_gen(3))
    limit = op.alpha_limit()
    fixed = []
    for k, alpha in enumerate((0.25 * limit, 0.5 * limit, 0.9 * limit)):
        op.fixed_alpha = alpha
        assert op.contraction_bound() < 1
        for start in range(3):
            z0 = 10 * torch.randn(6, 8, generator=_gen(10 * k + start))
            with torch.no_grad():
                result = fixed_point(lambda z: op(z, x), z0, tol=1e-12, max_iter=20000, atol=1e-13)
            assert result.converged
            fixed.append(result.y)
    for z in fixed[1:]:
        assert torch.allclose(z, fixed[0], atol=1e-9)
    assert float(op.equilibrium_residual(fixed[0], x).max()) < 1e-9
    assert bool((fixed[0] >= 0).all())


def test_monotone_identity_activation_is_a_linear_solve():
    op = MonotoneOperator(5, 2, m=0.4, activation="identity", generator=_gen(4))
    x = torch.randn(7, 2, generator=_gen(5))
    with torch.no_grad():
        z = fixed_point(lambda s: op(s, x), op.initial_state(x), solver="anderson", tol=1e-13).y
        exact = torch.linalg.solve(torch.eye(5) - op.W, (x @ op.U.T + op.b).T).T
    assert torch.allclose(z, exact, atol=1e-10)


def test_monotone_step_outside_the_condition_loses_the_certificate():
    op = MonotoneOperator(6, 1, m=0.05, alpha=None, generator=_gen(6))
    op.fixed_alpha = 3 * op.alpha_limit()
    assert op.forward_backward_bound() > 1


# --- DEQ: convergence and gradients -------------------------------------------------------------


def _operators():
    return {
        "spectral": TanhOperator(6, 2, mu=0.9, generator=_gen()),
        "spectral-power": TanhOperator(6, 2, mu=0.9, normalisation="power", generator=_gen()),
        "averaged": AveragedOperator(
            TanhOperator(6, 2, mu=0.8, generator=_gen()),
            injection=LipschitzMLP(2, 6, width=8, lip=2.0, generator=_gen(1)),
            eps=AdaptiveStep(2, eps_max=0.9, eps_min=0.1, width=8, generator=_gen(2)),
        ),
        "monotone": MonotoneOperator(6, 2, m=0.5, generator=_gen()),
    }


@pytest.mark.parametrize("name", ["spectral", "spectral-power", "averaged", "monotone"])
def test_deq_converges_and_gradients_flow(name):
    op = _operators()[name]
    layer = DEQ(op, solver="anderson", backward="ift", tol=1e-10, max_iter=500)
    x = torch.randn(16, 2, generator=_gen(8), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DEQConvergenceWarning fails the test
        y = layer(x)
        loss = (y**2).sum()
        loss.backward()
    assert layer.forward_result.converged
    assert layer.backward_result is not None and layer.backward_result.converged
    with torch.no_grad():
        assert float((op(y, x) - y).norm()) < 1e-8
    grads = [p.grad for p in op.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().max()) > 0 for g in grads)
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_deq_gradient_matches_finite_differences():
    op = AveragedOperator(
        TanhOperator(3, 1, mu=0.7, generator=_gen()),
        injection=LipschitzMLP(1, 3, width=4, lip=2.0, generator=_gen(1)),
        eps=AdaptiveStep(1, eps_max=0.9, eps_min=0.1, width=4, generator=_gen(2)),
    )
    layer = DEQ(op, solver="anderson", backward="ift", tol=1e-13, max_iter=500)
    x = torch.tensor([[0.3], [-0.7]], requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: layer(s), (x,), eps=1e-6, atol=1e-6)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="mu must be"):
        TanhOperator(3, 1, mu=-1.0)
    with pytest.raises(ValueError, match="normalisation"):
        TanhOperator(3, 1, normalisation="svd")
    with pytest.raises(ValueError, match="eps must be"):
        AveragedOperator(TanhOperator(3, 1), eps=1.5)
    with pytest.raises(ValueError, match="width"):
        AveragedOperator(injection=LipschitzMLP(1, 1), eps=0.5)
    with pytest.raises(TypeError, match="contraction_bound"):
        AveragedOperator(torch.nn.Linear(3, 3), eps=0.5)
    with pytest.raises(ValueError, match="eps_min < eps_max"):
        AdaptiveStep(1, eps_max=0.2, eps_min=0.5)
    with pytest.raises(ValueError, match="m must be"):
        MonotoneOperator(3, 1, m=0.0)
    with pytest.raises(ValueError, match="activation"):
        MonotoneOperator(3, 1, activation="tanh")
    op = TanhOperator(3, 2)
    with pytest.raises(ValueError, match="y must have shape"):
        op(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same batch size"):
        op(torch.zeros(4, 3), torch.zeros(5, 2))
