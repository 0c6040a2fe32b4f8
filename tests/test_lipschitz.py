"""Lipschitz estimators on maps with known constants (implicit_edu.analysis.lipschitz)."""

import pytest
import torch

from implicit_edu.analysis import lipschitz
from implicit_edu.core.solvers import iterate
from implicit_edu.experiments import toy

DTYPE = torch.float64


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_spectral_norm_of_linear_maps_per_sample():
    g = generator()
    A = torch.randn(7, 5, generator=g, dtype=DTYPE)
    x = torch.randn(4, 5, generator=g, dtype=DTYPE)
    measured = lipschitz.spectral_norm(lambda s: s @ A.T, x)
    assert measured.shape == (4,)
    assert torch.allclose(measured, torch.linalg.matrix_norm(A, 2).expand(4), rtol=1e-2)

    # one matrix per sample: each sample's vector must be normalised on its own
    As = torch.randn(4, 6, 5, generator=g, dtype=DTYPE) * torch.tensor([0.1, 1.0, 10.0, 100.0])[
        :, None, None
    ].to(DTYPE)
    measured = lipschitz.spectral_norm(lambda s: torch.einsum("bij,bj->bi", As, s), x)
    assert torch.allclose(measured, torch.linalg.matrix_norm(As, 2), rtol=1e-2)


def test_spectral_norm_of_a_nonlinear_map_and_of_scalars():
    g = generator(1)
    A = torch.randn(3, 3, generator=g, dtype=DTYPE)
    x = torch.randn(2, 3, generator=g, dtype=DTYPE)

    def f(s):
        return torch.tanh(s @ A.T)

    for i in range(2):
        J = torch.autograd.functional.jacobian(lambda s: f(s[None])[0], x[i])
        assert float(lipschitz.spectral_norm(f, x)[i]) == pytest.approx(
            float(torch.linalg.matrix_norm(J, 2)), rel=1e-2
        )
    s = torch.tensor([0.0, 1.0, 2.0], dtype=DTYPE)
    assert torch.allclose(lipschitz.spectral_norm(torch.sin, s), torch.cos(s).abs(), rtol=1e-10)
    # reproducible: the start vector is seeded
    assert torch.equal(
        lipschitz.spectral_norm(f, x, iters=2), lipschitz.spectral_norm(f, x, iters=2)
    )


def test_empirical_lipschitz_of_a_linear_map():
    g = generator(2)
    A = torch.randn(7, 5, generator=g, dtype=DTYPE)
    x = torch.randn(4, 5, generator=g, dtype=DTYPE)
    norm = torch.linalg.matrix_norm(A, 2)
    top = torch.linalg.svd(A).Vh[:1]  # the top right-singular vector
    directions = torch.cat([torch.randn(200, 5, generator=g, dtype=DTYPE), 3 * top])
    measured = lipschitz.empirical_lipschitz(lambda s: s @ A.T, x, directions, 1e-3)
    assert measured.shape == (4,)
    assert torch.allclose(measured, norm.expand(4), rtol=1e-2)
    assert bool((measured <= norm * (1 + 1e-9)).all())
    # random directions alone see less, never more
    random_only = lipschitz.empirical_lipschitz(lambda s: s @ A.T, x, directions[:-1], 1e-3)
    assert bool((random_only <= measured * (1 + 1e-9)).all())


def test_empirical_lipschitz_of_sine_at_zero_tends_to_one():
    x = torch.tensor([0.0], dtype=DTYPE)
    directions = torch.tensor([1.0, -1.0], dtype=DTYPE)
    ratios = [
        float(lipschitz.empirical_lipschitz(torch.sin, x, directions, e)) for e in (1e-1, 1e-3)
    ]
    assert ratios[0] < ratios[1] < 1.0  # sin(ε)/ε increases to 1
    assert ratios[1] == pytest.approx(1.0, abs=1e-6)
    # at π/2 the derivative is 0: the ratio is |sin(π/2 ± ε) − 1| / ε ≈ ε/2
    top = torch.tensor([torch.pi / 2], dtype=DTYPE)
    assert float(lipschitz.empirical_lipschitz(torch.sin, top, directions, 1e-4)) < 1e-4


def test_trace_of_the_one_over_x_operator_matches_the_closed_form():
    eta, steps = 0.5, 30
    x = torch.linspace(0.2, 1.0, 9, dtype=DTYPE)
    directions = torch.tensor([1.0, -1.0], dtype=DTYPE)
    G = toy.inverse_operator(eta)
    trace = lipschitz.lipschitz_trace(G, x, directions, 1e-6, steps, reduce="none")
    assert trace.shape == (steps, 9)
    # y_1 = G(0, x) = η does not depend on x: L_1 = Lip(G(0, ·)) = 0 exactly
    assert torch.equal(trace[0], torch.zeros(9, dtype=DTYPE))
    exact = torch.stack([toy.closed_form_derivative(x, eta, t).abs() for t in range(2, steps + 1)])
    assert torch.allclose(trace[1:], exact, rtol=1e-3)


def test_first_step_of_a_tanh_operator_is_mu_times_norm_of_U():
    """y_1(x) = μ tanh(U x) from y_0 = 0: at x = 0 its Jacobian is μU, so L_1 = μ‖U‖₂."""
    g = generator(3)
    mu = 0.7
    W = torch.randn(3, 3, generator=g, dtype=DTYPE)
    U = torch.randn(3, 4, generator=g, dtype=DTYPE)

    def G(y, x):
        return mu * torch.tanh(y @ W.T + x @ U.T)

    x = torch.zeros(1, 4, dtype=DTYPE)
    top = torch.linalg.svd(U).Vh[:1]
    trace = lipschitz.lipschitz_trace(G, x, top, 1e-5, 1, y0=torch.zeros(1, 3, dtype=DTYPE))
    assert trace[0] == pytest.approx(mu * float(torch.linalg.matrix_norm(U, 2)), rel=1e-8)


def test_trace_agrees_with_empirical_lipschitz_of_each_t_step_map():
    g = generator(4)
    W = 0.9 * torch.randn(3, 3, generator=g, dtype=DTYPE) / 3
    U = torch.randn(3, 2, generator=g, dtype=DTYPE)

    def G(y, x):
        return torch.tanh(y @ W.T + x @ U.T)

    x = torch.randn(5, 2, generator=g, dtype=DTYPE)
    y0 = torch.randn(5, 3, generator=g, dtype=DTYPE)
    directions = torch.randn(6, 2, generator=g, dtype=DTYPE)
    trace = lipschitz.lipschitz_trace(G, x, directions, 1e-4, 4, y0=y0, reduce="none")
    for t in range(1, 5):
        expected = lipschitz.empirical_lipschitz(
            lambda s, t=t: iterate(lambda y: G(y, s), y0.repeat(7, 1), t)[-1], x, directions, 1e-4
        )
        assert torch.allclose(trace[t - 1], expected, rtol=1e-9)


def test_reduce_modes():
    x = torch.linspace(0.2, 1.0, 5, dtype=DTYPE)
    G = toy.inverse_operator(0.8)
    args = (G, x, torch.tensor([1.0, -1.0], dtype=DTYPE), 1e-5, 6)
    per_sample = lipschitz.lipschitz_trace(*args, reduce="none")
    as_max, as_mean = (
        lipschitz.lipschitz_trace(*args),
        lipschitz.lipschitz_trace(*args, reduce="mean"),
    )
    assert isinstance(as_max, list) and isinstance(as_mean, list) and len(as_max) == 6
    assert as_max == pytest.approx(per_sample.amax(dim=1).tolist(), rel=1e-12)
    assert as_mean == pytest.approx(per_sample.mean(dim=1).tolist(), rel=1e-12)
    assert all(m <= M for m, M in zip(as_mean, as_max, strict=True))


def test_errors():
    x = torch.zeros(3, 2, dtype=DTYPE)
    good = torch.ones(4, 2, dtype=DTYPE)
    with pytest.raises(ValueError, match="directions must have shape"):
        lipschitz.empirical_lipschitz(torch.sin, x, torch.ones(4, 3, dtype=DTYPE), 1e-3)
    with pytest.raises(ValueError, match="directions must have shape"):
        lipschitz.empirical_lipschitz(torch.sin, x[:, 0], good, 1e-3)
    with pytest.raises(ValueError, match="eps"):
        lipschitz.empirical_lipschitz(torch.sin, x, good, 0.0)
    with pytest.raises(ValueError, match="zero"):
        lipschitz.empirical_lipschitz(torch.sin, x, torch.zeros(1, 2, dtype=DTYPE), 1e-3)
    with pytest.raises(ValueError, match="reduce"):
        lipschitz.lipschitz_trace(lambda y, s: y, x, good, 1e-3, 2, reduce="sum")
    with pytest.raises(ValueError, match="steps"):
        lipschitz.lipschitz_trace(lambda y, s: y, x, good, 1e-3, 0)
    W = torch.ones(5, 5, dtype=DTYPE)
    with pytest.raises(ValueError, match="pass y0"):  # the state lives in R^5, x in R^2
        lipschitz.lipschitz_trace(lambda y, s: y @ W.T, x, good, 1e-3, 2)
    with pytest.raises(ValueError, match="iters"):
        lipschitz.spectral_norm(torch.sin, x, iters=0)
