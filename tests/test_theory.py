"""Part II's theorems on random regular operators and the talk example
(implicit_edu.analysis.theory)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from implicit_edu.analysis import theory
from implicit_edu.core.solvers import iterate
from implicit_edu.experiments import toy

DTYPE = torch.float64
PROPERTY = settings(max_examples=25, deadline=None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads; on a busy 2-core machine two intra-op threads made
    the Anderson solves here 10-50x slower. Restore the setting for the other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def talk_grid(delta: float, points: int) -> torch.Tensor:
    """Points of [−3, 4] at distance ≥ δ from the poles 0 and 1, without x = 1/2 (where F = 0)."""
    pieces = [
        torch.linspace(-3, -delta, points, dtype=DTYPE),
        torch.linspace(delta, 0.49, points // 2, dtype=DTYPE),
        torch.linspace(0.51, 1 - delta, points // 2, dtype=DTYPE),
        torch.linspace(1 + delta, 4, points, dtype=DTYPE),
    ]
    return torch.cat(pieces)


operators = st.builds(
    theory.random_regular_operator,
    n=st.integers(1, 6),
    d=st.integers(1, 4),
    mu=st.floats(0.1, 0.95),
    seed=st.integers(0, 2**31 - 1),
)


# --- random regular operators: Banach and Theorem 2.5 -------------------------------------------


@PROPERTY
@given(op=operators, seed=st.integers(0, 1000))
def test_fixed_point_is_reached_from_any_start(op, seed):
    n, d = op.U.shape
    x = 2 * randn(3, d, seed=seed)
    fixed_points = [
        theory.fixed_point_map(op.G, x, y0=scale * randn(3, n, seed=seed + k))
        for k, scale in enumerate([0.0, 1.0, 10.0, 100.0])
    ]
    for y in fixed_points:
        assert torch.allclose(op.G(y, x), y, atol=1e-8)  # a fixed point ...
        assert torch.allclose(y, fixed_points[0], atol=1e-8)  # ... and the same one


@PROPERTY
@given(op=operators, seed=st.integers(0, 1000), scale=st.floats(1e-3, 3.0))
def test_necessity_bound_holds(op, seed, scale):
    n, d = op.U.shape
    x1 = randn(8, d, seed=seed)
    x2 = x1 + scale * randn(8, d, seed=seed + 1)
    zeros = torch.zeros(8, n, dtype=DTYPE)
    y1, y2 = theory.fixed_point_map(op.G, x1, zeros), theory.fixed_point_map(op.G, x2, zeros)
    gap = torch.linalg.vector_norm(y1 - y2, dim=1)
    bound = theory.necessity_bound(op.lip_x, op.mu) * torch.linalg.vector_norm(x1 - x2, dim=1)
    assert bool((gap <= bound + 1e-7).all())


@PROPERTY
@given(op=operators, seed=st.integers(0, 1000))
def test_checks_recover_the_known_constants(op, seed):
    n, d = op.U.shape
    xs, ys = randn(30, d, seed=seed), 3 * randn(10, n, seed=seed + 1)
    report = theory.check_regular(op.G, xs, ys)
    assert report.contracts and report.max_mu <= op.mu * (1 + 1e-10)
    assert bool((report.x_constants <= op.lip_x * (1 + 1e-10)).all())
    assert 0 <= report.a <= op.lip_x * (1 + 1e-10) and report.b >= 0
    assert "contracts" in report.summary()


# --- the sufficiency construction (Theorem 2.4) -------------------------------------------------


def test_talk_example_values():
    F, eps = theory.talk_example()
    x = torch.tensor([-2.0, -0.1, 0.25, 0.5, 3.0], dtype=DTYPE)
    assert torch.allclose(
        F(x), torch.tensor([2.0, 0.1, 4 - 4 / 3, 0.0, 1 / 2 - 1 / 3], dtype=DTYPE)
    )
    expected_eps = torch.tensor([0.1, 0.01 * 1.21, 0.0625 * 0.5625, 0.0625, 0.5], dtype=DTYPE)
    assert torch.allclose(eps(x), expected_eps)


def test_talk_example_fixed_point_is_F_and_iterates_have_the_closed_form():
    F, eps = theory.talk_example()
    G = theory.sufficiency_operator(F, eps)
    x = talk_grid(1e-2, 200)
    assert torch.allclose(theory.fixed_point_map(G, x), F(x), rtol=1e-6)
    trajectory = iterate(lambda y: G(y, x), torch.zeros_like(x), 100)
    for t in (0, 1, 5, 20, 100):
        assert torch.allclose(trajectory[t], theory.sufficiency_iterate(F, eps, x, t), rtol=1e-10)


def test_talk_example_eps_and_eps_F_are_globally_lipschitz():
    """Closer to the poles F's difference quotients blow up like 1/δ²; those of ε and εF do not."""
    F, eps = theory.talk_example()
    for delta in (1e-1, 1e-2, 1e-3, 1e-4):
        x = talk_grid(delta, 4000)
        assert toy.grid_lipschitz(eps, x) < 3.0
        assert toy.grid_lipschitz(lambda s: eps(s) * F(s), x) < 2.0
        assert toy.grid_lipschitz(F, x) > 0.5 / delta**2


def test_talk_example_is_regular_on_a_grid_avoiding_the_poles():
    F, eps = theory.talk_example()
    G = theory.sufficiency_operator(F, eps)
    xs = talk_grid(5e-2, 300)
    xs = xs[torch.randperm(len(xs), generator=torch.Generator().manual_seed(0))]  # any order
    report = theory.check_regular(G, xs, torch.linspace(-10, 10, 21, dtype=DTYPE))
    assert report.contracts and report.max_mu < 1
    assert math.isfinite(report.a) and math.isfinite(report.b)
    # G = εF + (1 − ε) y: Lip_x ≤ Lip(εF) + Lip(ε)|y|, with Lip(εF) < 2 and Lip(ε) < 3 (see above)
    assert report.a < 2.0 and report.b < 3.0
    # for scalar states the contraction factor is exactly μ(x) = 1 − ε(x)
    assert torch.allclose(report.mu, 1 - eps(xs), rtol=1e-10)
    assert report.mu_jump < 0.05


@PROPERTY
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), d=st.integers(1, 3))
def test_sufficiency_reproduces_a_smooth_random_F(seed, n, d):
    A, v = randn(n, d, seed=seed), randn(d, seed=seed + 1)

    def F(x):
        return torch.sin(x @ A.T) + 1.0

    def eps(x):
        return 0.05 + 0.9 * torch.sigmoid(x @ v)

    G = theory.sufficiency_operator(F, eps)
    x = randn(10, d, seed=seed + 2)
    y0 = torch.zeros(10, n, dtype=DTYPE)
    assert torch.allclose(theory.fixed_point_map(G, x, y0), F(x), rtol=1e-7)
    trajectory = iterate(lambda y: G(y, x), y0, 12)
    for t in (1, 3, 12):
        assert torch.allclose(trajectory[t], theory.sufficiency_iterate(F, eps, x, t), rtol=1e-10)


# --- checks that must fail ----------------------------------------------------------------------


def test_checks_see_what_is_not_regular():
    x = torch.linspace(0.01, 1.0, 200, dtype=DTYPE)
    ys = torch.linspace(-1, 1, 5, dtype=DTYPE)
    # the naive 1/x operator: its x-Lipschitz constant ≈ η / x² at the grid's left end
    naive = theory.check_regular(toy.naive_operator(lambda s: 1 / s, 0.5), x, ys)
    assert float(naive.x_constants.min()) > 0.5 * 0.5 / (0.01 * 0.0150)
    # an expanding operator does not contract
    expanding = theory.check_regular(lambda y, s: 1.5 * y + s, x, ys)
    assert not expanding.contracts and expanding.max_mu == pytest.approx(1.5)
    assert "does NOT contract" in expanding.summary()


def test_linear_growth_fit():
    norms = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=DTYPE)
    a, b = theory.linear_growth_fit(norms, 0.5 + 2.0 * norms)
    assert (a, b) == pytest.approx((0.5, 2.0), abs=1e-9)
    a, b = theory.linear_growth_fit(norms, torch.tensor([1.0, 0.2, 0.1, 0.0], dtype=DTYPE))
    assert (a, b) == pytest.approx((1.0, 0.0), abs=1e-9)


def test_x_lipschitz_constants_on_1d_and_2d_grids():
    ys = torch.tensor([[0.0], [1.0], [-3.0]], dtype=DTYPE)
    # 1-D: neighbours of the sorted grid −1, 0, 0.3, 2; the quotients of x² are 1, 0.3 and 2.3
    x1 = torch.tensor([0.3, -1.0, 0.0, 2.0], dtype=DTYPE)  # unsorted on purpose
    constants = theory.x_lipschitz_constants(lambda y, x: y + x[:, None] ** 2 * y, ys, x1)
    assert torch.allclose(constants, torch.tensor([0.0, 2.3, 6.9], dtype=DTYPE))

    def G(y, x):
        return y + x.sum(dim=1, keepdim=True) * y

    x2 = randn(20, 2, seed=5)  # Lip of x ↦ (x₁ + x₂) y is √2 |y|, approached by the grid
    constants = theory.x_lipschitz_constants(G, ys, x2)
    assert bool((constants <= math.sqrt(2) * ys.abs().flatten() * (1 + 1e-12)).all())
    assert float(constants[2]) > 0.5 * 3 * math.sqrt(2)


def test_errors():
    F, _ = theory.talk_example()
    x = torch.tensor([2.0, 3.0], dtype=DTYPE)
    for bad in (0.0, 1.0, 1.5):
        G = theory.sufficiency_operator(F, lambda s, bad=bad: torch.full_like(s, bad))
        with pytest.raises(ValueError, match="0 < ε"):
            G(torch.zeros_like(x), x)
    with pytest.raises(ValueError, match="μ"):
        theory.necessity_bound(1.0, 1.0)
    with pytest.raises(ValueError, match="μ"):
        theory.random_regular_operator(2, 2, 1.0, seed=0)
    assert theory.necessity_bound(2.0, 0.5) == pytest.approx(4.0)
    expanding = lambda y, s: 2 * y + 1  # noqa: E731
    with pytest.raises(RuntimeError, match="did not converge"):
        theory.fixed_point_map(expanding, x, solver="picard", max_iter=20)
    with pytest.raises(ValueError, match="two distinct"):
        theory.x_lipschitz_constants(lambda y, s: y, x[:1], x[:1])
