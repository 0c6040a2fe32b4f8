"""The checks of chapter "Expressive power grows with test-time compute" accept the reference
answers and reject typical wrong ones."""

import math

import pytest
import torch

from implicit_edu.analysis import certificates
from implicit_edu.exercises import test_time_compute as ttc


def test_first_step_check():
    assert ttc.check_first_step(lambda eta, y0: eta * abs(y0))
    with pytest.raises(AssertionError, match="absolute value"):
        ttc.check_first_step(lambda eta, y0: eta * y0)
    with pytest.raises(AssertionError, match="only for the start y0 = 0"):
        ttc.check_first_step(lambda eta, y0: 0.0)
    with pytest.raises(AssertionError, match="ignores the start"):
        ttc.check_first_step(lambda eta, y0: eta)
    with pytest.raises(AssertionError, match="is not right"):
        ttc.check_first_step(lambda eta, y0: eta**2 * abs(y0))
    with pytest.raises(AssertionError, match="replace the `...`"):
        ttc.check_first_step(...)


def test_limit_check():
    assert ttc.check_limit(lambda a, b: 1 / a**2)
    with pytest.raises(AssertionError, match="smallest slope"):
        ttc.check_limit(lambda a, b: 1 / b**2)
    with pytest.raises(AssertionError, match="value of the target"):
        ttc.check_limit(lambda a, b: 1 / a)
    with pytest.raises(AssertionError, match="finite number"):
        ttc.check_limit(lambda a, b: float("inf"))
    with pytest.raises(AssertionError, match="is not right"):
        ttc.check_limit(lambda a, b: 1 / a**2 - 1 / b**2)


def test_naive_bound_check():
    def spectral(W):
        return torch.linalg.matrix_norm(W, 2)

    assert ttc.check_naive_bound(lambda W1, W2: float(spectral(W2) * spectral(W1)))
    assert ttc.check_naive_bound(certificates.naive_lipschitz_bound)
    with pytest.raises(AssertionError, match="Frobenius"):
        ttc.check_naive_bound(
            lambda W1, W2: float(torch.linalg.matrix_norm(W2) * torch.linalg.matrix_norm(W1))
        )
    with pytest.raises(AssertionError, match="not an upper bound"):
        ttc.check_naive_bound(lambda W1, W2: float(spectral(W2 @ W1)))
    with pytest.raises(AssertionError, match="is not right"):
        ttc.check_naive_bound(lambda W1, W2: float(W1.abs().max() * W2.abs().max()))
    with pytest.raises(AssertionError, match="expected a number"):
        ttc.check_naive_bound(lambda W1, W2: "large")


def _reference(a, b, mu_bar, c0, steps):
    L, M, values = 0.0, 0.0, []
    for _ in range(steps):
        L, M = a + b * M + mu_bar * L, c0 + mu_bar * M
        values.append(L)
    return values


def test_recursion_bound_check():
    assert ttc.check_recursion_bound(_reference)
    assert ttc.recursion_bound_reference(0.0, 0.5, 1.0, 0.5, 4) == [0.0, 0.25, 0.75, 1.5]

    def late(a, b, mu_bar, c0, steps):  # uses M_t where M_{t−1} belongs
        L, M, values = 0.0, 0.0, []
        for _ in range(steps):
            M = c0 + mu_bar * M
            L = a + b * M + mu_bar * L
            values.append(L)
        return values

    def no_mu(a, b, mu_bar, c0, steps):
        return _reference(a, b, 1.0, c0, steps)

    def shifted(a, b, mu_bar, c0, steps):  # returns L_0, …, L_{steps−1}
        return [0.0] + _reference(a, b, mu_bar, c0, steps - 1)

    with pytest.raises(AssertionError, match="M_{t−1}"):
        ttc.check_recursion_bound(late)
    with pytest.raises(AssertionError, match="contraction factor"):
        ttc.check_recursion_bound(no_mu)
    with pytest.raises(AssertionError, match="shifted by one step"):
        ttc.check_recursion_bound(shifted)
    with pytest.raises(AssertionError, match="returned 13 values"):
        ttc.check_recursion_bound(
            lambda a, b, mu_bar, c0, steps: _reference(a, b, mu_bar, c0, steps + 1)
        )
    with pytest.raises(AssertionError, match="is not right"):
        ttc.check_recursion_bound(
            lambda a, b, mu_bar, c0, steps: [2 * v for v in _reference(a, b, mu_bar, c0, steps)]
        )
    with pytest.raises(AssertionError, match="returned None"):
        ttc.check_recursion_bound(lambda a, b, mu_bar, c0, steps: None)


def test_certified_operator_check():
    weights = ttc.exercise_operator()
    assert set(weights) == {"W", "U", "V", "b"}
    mu = certificates.lipschitz_upper_bound_sdp(weights["W"], weights["V"])
    L_x = certificates.lipschitz_upper_bound_sdp(weights["U"], weights["V"])
    assert mu == pytest.approx(0.8, rel=1e-6)
    assert ttc.check_certified_operator(mu, L_x)
    naive_mu = certificates.naive_lipschitz_bound(weights["W"], weights["V"])
    naive_x = certificates.naive_lipschitz_bound(weights["U"], weights["V"])
    assert naive_mu >= 1  # the naive bound proves nothing here, as the exercise says
    with pytest.raises(AssertionError, match="swapped"):
        ttc.check_certified_operator(L_x, mu)
    with pytest.raises(AssertionError, match="naive bound"):
        ttc.check_certified_operator(naive_mu, L_x)
    with pytest.raises(AssertionError, match="naive bound"):
        ttc.check_certified_operator(mu, naive_x)
    with pytest.raises(AssertionError, match="is not the SDP bound"):
        ttc.check_certified_operator(0.5, L_x)
    with pytest.raises(AssertionError, match="is not the SDP bound"):
        ttc.check_certified_operator(mu, 2 * L_x)
    # the weights handed out are copies: changing them does not change the exercise
    weights["V"].mul_(10)
    assert ttc.check_certified_operator(mu, L_x)


def test_ramp_iterations_check():
    def right(a, S, h, delta):
        return max(0, math.ceil((S * h - delta) / (a * h)))

    assert ttc.check_ramp_iterations(right)
    wrong_answers = {
        "round the bound up": lambda a, S, h, d: (S * h - d) / (a * h),
        "bound for sign": lambda a, S, h, d: math.ceil((1 - d) / (a * h)),
        "subtract δ": lambda a, S, h, d: math.ceil(S / a),
        "distance 2h": lambda a, S, h, d: math.ceil((S * h - d) / a),
        "cannot be negative": lambda a, S, h, d: math.ceil((S * h - d) / (a * h)),
        "compare": lambda a, S, h, d: 3,
        "replace the `...`": ...,
    }
    for hint, wrong in wrong_answers.items():
        with pytest.raises(AssertionError, match=hint):
            ttc.check_ramp_iterations(wrong)
