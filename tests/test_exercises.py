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


def _tanh_layer_depths():
    """A small tanh layer as in the chapter: its distances, fixed points and weight."""
    g = torch.Generator().manual_seed(0)
    width, batch, mu = 12, 6, 0.95
    A = torch.randn(width, width, generator=g, dtype=torch.float64)
    W = (A + A.T) / 2
    W *= mu / torch.linalg.matrix_norm(W, ord=2)
    drive = torch.randn(batch, width, generator=g, dtype=torch.float64)
    z = torch.zeros(batch, width, dtype=torch.float64)
    for _ in range(2000):
        z = torch.tanh(z @ W.T + drive)
    z_star, distances, y = z, [], torch.zeros(batch, width, dtype=torch.float64)
    for _ in range(120):
        y = torch.tanh(y @ W.T + drive)
        distances.append((y - z_star).norm(dim=1) / z_star.norm(dim=1))
    distances = torch.stack(distances)
    bound = math.ceil(math.log(1e-4) / math.log(mu))
    measured = int((distances.max(1).values <= 1e-4).nonzero()[0]) + 1
    norms = [float(torch.linalg.matrix_norm((1 - s**2)[:, None] * W, ord=2)) for s in z_star]
    return distances, z_star, W, bound, measured, norms


def test_equilibrium_depth_check():
    distances, z_star, W, bound, measured, norms = _tanh_layer_depths()
    assert measured < bound and max(norms) < 0.95
    assert implicit_models.check_equilibrium_depth(
        distances, z_star, W, bound, measured, max(norms)
    )
    mean_measured = int((distances.mean(1) <= 1e-4).nonzero()[0]) + 1
    wrong = {
        "round the logarithm": (bound - 1, measured, max(norms)),
        "Banach's bound is": (bound + 3, measured, max(norms)),
        "one short": (bound, measured - 1, max(norms)),
        "global bound": (bound, measured, 0.95),
        "mean over the batch": (bound, measured, sum(norms) / len(norms)),
        "spectral norm": (bound, measured, min(norms)),
    }
    if mean_measured != measured:
        wrong["largest distance"] = (bound, mean_measured, max(norms))
    for hint, (b, m, f) in wrong.items():
        with pytest.raises(AssertionError, match=hint):
            implicit_models.check_equilibrium_depth(distances, z_star, W, b, m, f)


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
