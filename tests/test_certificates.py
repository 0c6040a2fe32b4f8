"""Certified Lipschitz bounds (implicit_edu.analysis.certificates) on networks with known constants.

For ``f(x) = W2 σ(W1 x + b1)`` with σ slope-restricted in [0, 1] the LipSDP bound must lie between
the true (or a sampled, lower) Lipschitz constant and the naive bound ``‖W2‖₂ ‖W1‖₂``.
"""

import numpy as np
import pytest
import torch

from implicit_edu.analysis import certificates

DTYPE = torch.float64
SLACK = 1e-7  # relative: the bound is verified in floating point


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def jacobian_norms(W1, b1, W2, x, activation: str) -> np.ndarray:
    """‖W2 diag(σ'(W1 x + b1)) W1‖₂ at each row of x, from the exact singular values."""
    u = x @ W1.T + b1
    slopes = 1 - np.tanh(u) ** 2 if activation == "tanh" else (u > 0).astype(float)
    jacobians = np.einsum("pm,bm,md->bpd", W2, slopes, W1)
    return np.linalg.norm(jacobians, ord=2, axis=(1, 2))


def test_single_neuron_bounds_coincide_with_the_true_constant():
    g = rng(1)
    for d, p in [(1, 1), (3, 2), (5, 4)]:
        w1, w2 = g.standard_normal((1, d)), g.standard_normal((p, 1))
        true = np.linalg.norm(w1) * np.linalg.norm(w2)  # attained where tanh' = 1
        result = certificates.lipsdp_neuron(w1, w2)
        assert result.naive == pytest.approx(true, rel=1e-12)
        assert result.bound >= true * (1 - SLACK)
        assert result.bound == pytest.approx(true, rel=1e-5)
        # the optimal multiplier is ‖w2‖² (Proposition in the chapter)
        assert result.multipliers[0] == pytest.approx(np.linalg.norm(w2) ** 2, rel=1e-3)


def test_orthogonal_first_layer_and_diagonal_output():
    g = rng(2)
    Q, _ = np.linalg.qr(g.standard_normal((6, 6)))
    D = np.diag([0.5, -2.0, 1.0, 3.0, 0.1, -0.7])
    b1 = g.standard_normal(6)
    # f(x) = D tanh(Q x + b1) has Jacobian D diag(tanh') Q; at x = −Qᵀ b1 every slope is 1
    true = 3.0
    at_zero = jacobian_norms(Q, b1, D, (-Q.T @ b1)[None], "tanh")[0]
    assert at_zero == pytest.approx(true, rel=1e-12)
    bound = certificates.lipschitz_upper_bound_sdp(Q, D)
    assert true * (1 - SLACK) <= bound <= certificates.naive_lipschitz_bound(Q, D) * (1 + SLACK)
    assert bound == pytest.approx(true, rel=1e-5)


@pytest.mark.parametrize(
    "d, m, p, activation, seed",
    [(2, 8, 2, "tanh", 0), (2, 16, 1, "relu", 1), (4, 12, 3, "tanh", 2), (3, 10, 3, "relu", 3)],
)
def test_random_networks_lie_between_sampled_and_naive(d, m, p, activation, seed):
    g = rng(seed)
    W1, W2, b1 = g.standard_normal((m, d)), g.standard_normal((p, m)), g.standard_normal(m)
    sampled = jacobian_norms(W1, b1, W2, 3 * g.standard_normal((4000, d)), activation).max()
    result = certificates.lipsdp_neuron(W1, W2)
    assert sampled <= result.bound * (1 + SLACK)
    assert result.bound <= result.naive * (1 + SLACK)
    assert result.bound < 0.99 * result.naive  # a real improvement on random networks
    # the returned (ρ, T) satisfies the matrix inequality
    M = certificates.lipsdp_matrix(W1, W2, result.rho, result.multipliers)
    assert np.linalg.eigvalsh(M).max() <= 1e-9 * result.rho
    assert result.rho == pytest.approx(result.bound**2)


def test_torch_and_numpy_inputs_agree_and_solvers_agree():
    g = torch.Generator().manual_seed(4)
    W1 = torch.randn(10, 3, generator=g, dtype=DTYPE, requires_grad=True)
    W2 = torch.randn(2, 10, generator=g, dtype=DTYPE)
    from_torch = certificates.lipschitz_upper_bound_sdp(W1, W2)
    from_numpy = certificates.lipschitz_upper_bound_sdp(W1.detach().numpy(), W2.numpy())
    assert isinstance(from_torch, float)
    assert from_torch == pytest.approx(from_numpy, rel=1e-12)
    for solver in ("SCS", "CLARABEL"):
        other = certificates.lipschitz_upper_bound_sdp(W1, W2, solver=solver)
        assert other == pytest.approx(from_torch, rel=1e-4)
    assert certificates.naive_lipschitz_bound(W1, W2) == pytest.approx(
        float(torch.linalg.matrix_norm(W1.detach(), 2) * torch.linalg.matrix_norm(W2, 2))
    )


def test_homogeneity_and_trivial_cases():
    g = rng(5)
    W1, W2 = g.standard_normal((8, 3)), g.standard_normal((2, 8))
    base = certificates.lipschitz_upper_bound_sdp(W1, W2)
    assert certificates.lipschitz_upper_bound_sdp(4 * W1, 0.5 * W2) == pytest.approx(
        2 * base, rel=1e-5
    )
    assert certificates.lipschitz_upper_bound_sdp(np.zeros((4, 2)), np.ones((1, 4))) == 0.0


def test_schur_complement_gives_the_smallest_feasible_rho():
    g = rng(6)
    W1, W2 = g.standard_normal((5, 2)), g.standard_normal((2, 5))
    lam = np.full(5, np.linalg.norm(W2, 2) ** 2)  # the naive multipliers
    rho = certificates.smallest_feasible_rho(W1, W2, lam)
    assert rho <= certificates.naive_lipschitz_bound(W1, W2) ** 2 * (1 + 1e-12)
    top = np.linalg.eigvalsh(certificates.lipsdp_matrix(W1, W2, rho, lam)).max()
    assert abs(top) <= 1e-9 * rho  # feasible, and only just
    assert np.linalg.eigvalsh(certificates.lipsdp_matrix(W1, W2, 0.99 * rho, lam)).max() > 0
    # multipliers that leave −2T + W2ᵀW2 indefinite certify nothing
    assert certificates.smallest_feasible_rho(W1, W2, np.zeros(5)) == float("inf")
    assert certificates.smallest_feasible_rho(W1, W2, -lam) == float("inf")


def test_bad_shapes_and_values_are_rejected():
    with pytest.raises(ValueError, match="2-D"):
        certificates.lipschitz_upper_bound_sdp(np.ones(3), np.ones((1, 3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        certificates.lipschitz_upper_bound_sdp(np.ones((3, 2)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="shape mismatch"):
        certificates.naive_lipschitz_bound(torch.ones(3, 2), torch.ones(3, 1))
    with pytest.raises(ValueError, match="not finite"):
        certificates.lipschitz_upper_bound_sdp(np.full((2, 2), np.nan), np.ones((1, 2)))
    with pytest.raises(ValueError, match="empty"):
        certificates.naive_lipschitz_bound(np.ones((0, 2)), np.ones((1, 0)))
    with pytest.raises(TypeError, match="matrix of numbers"):
        certificates.naive_lipschitz_bound([["a", "b"]], np.ones((1, 1)))
    with pytest.raises(ValueError, match="not installed"):
        certificates.lipschitz_upper_bound_sdp(np.ones((2, 2)), np.ones((1, 2)), solver="nope")
    with pytest.raises(ValueError, match="one entry per hidden neuron"):
        certificates.smallest_feasible_rho(np.ones((3, 2)), np.ones((1, 3)), np.ones(2))
