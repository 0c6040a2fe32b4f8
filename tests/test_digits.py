"""The digits experiment of "A first trained implicit model": data, models, training, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from implicit_edu import digits
from implicit_edu.digits import ExplicitClassifier, ImplicitClassifier


@pytest.fixture(autouse=True)
def float64_on_cpu():
    """The chapter's dtype, restored afterwards; one thread is fastest for these small sizes."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return digits.load(seed=0, device="cpu", dtype=torch.float64)


def test_data_shapes_ranges_and_stratification(data):
    x_train, y_train, x_test, y_test = data
    assert x_train.shape == (1297, 64) and y_train.shape == (1297,)
    assert x_test.shape == (500, 64) and y_test.shape == (500,)
    assert x_train.dtype == torch.float64 and y_train.dtype == torch.long
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0
    assert set(y_test.tolist()) == set(range(10))
    counts = torch.bincount(y_test, minlength=10)
    assert int(counts.min()) >= 48 and int(counts.max()) <= 52  # about 50 per class


def test_split_is_disjoint_complete_and_seeded():
    train, test = digits.split_indices(0)
    assert len(np.intersect1d(train, test)) == 0
    assert np.array_equal(np.union1d(train, test), np.arange(1797))
    again, _ = digits.split_indices(0)
    other, _ = digits.split_indices(1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


@pytest.mark.parametrize("width", [8, 32, 64, 100])
def test_parameter_counts_match_the_formulas_and_each_other(width):
    implicit = ImplicitClassifier(width)
    count = digits.parameter_count(implicit)
    assert count == digits.implicit_parameter_count(width)
    for depth in (1, 2):
        hidden = digits.matched_hidden_width(count, depth)
        explicit = ExplicitClassifier(hidden, depth)
        explicit_count = digits.parameter_count(explicit)
        assert explicit_count == digits.explicit_parameter_count(hidden, depth)
        assert abs(explicit_count - count) / count < 0.02
        for other in (hidden - 1, hidden + 1):  # no other width is closer
            if other >= 1:
                assert abs(digits.explicit_parameter_count(other, depth) - count) >= abs(
                    explicit_count - count
                )


def test_a_few_training_steps_reduce_the_loss(data):
    x_train, y_train = data[0][:256], data[1][:256]
    small = (x_train, y_train, data[2][:100], data[3][:100])
    for model in (ImplicitClassifier(16, tol=1e-6), ExplicitClassifier(16)):
        torch.manual_seed(0)
        with torch.no_grad():
            before = float(torch.nn.functional.cross_entropy(model(x_train), y_train))
        history = digits.train(model, small, epochs=3, batch_size=64, lr=1e-2, progress=False)
        with torch.no_grad():
            after = float(torch.nn.functional.cross_entropy(model(x_train), y_train))
        assert after < 0.8 * before, type(model).__name__
        assert len(history.loss) == 3 and len(history.test_accuracy) == 3
        if isinstance(model, ImplicitClassifier):
            steps = 3 * 4  # 256 images in batches of 64, 3 epochs
            assert len(history.forward_iterations) == steps
            assert all(history.forward_converged)
            assert max(history.forward_residual) <= 1e-6
            assert min(history.backward_iterations) >= 1


def test_t_step_accuracy_converges_to_the_fixed_point_prediction(data):
    torch.manual_seed(0)
    model = ImplicitClassifier(16, mu=0.9, tol=1e-10, max_iter=200)
    x, y = data[2][:200], data[3][:200]
    digits.train(model, (data[0][:256], data[1][:256], x, y), epochs=2, progress=False)
    steps = [0, 1, 2, 8, 300]
    accuracies = digits.accuracy_vs_iterations(model, x, y, steps)
    assert len(accuracies) == len(steps) and all(0 <= a <= 1 for a in accuracies)
    with torch.no_grad():
        at_fixed_point = model(x)
        late = model.logits_after(x, 300)
        zero = model.logits_after(x, 0)
    assert torch.allclose(late, at_fixed_point, atol=1e-8)
    assert accuracies[-1] == digits.accuracy(at_fixed_point, y)
    assert torch.equal(zero, model.readout.bias.expand_as(zero))  # t = 0: the bias alone
    certified = digits.certified_fraction(model, x, steps)
    assert certified[0] == 0.0 and certified[-1] == 1.0
    assert certified == sorted(certified)


def test_certified_predictions_equal_the_fixed_point_predictions(data):
    torch.manual_seed(1)
    model = ImplicitClassifier(16, mu=0.95, tol=1e-12, max_iter=400)
    x = data[2]
    with torch.no_grad():
        z_star = model.layer(x)
        final = model.readout(z_star).argmax(dim=1)
    seen = 0
    for t in (1, 2, 3, 6, 12, 25):
        certified = digits.certify(model, x, t)
        states = model.states(x, [t - 1, t])
        with torch.no_grad():
            predicted = model.readout(states[t]).argmax(dim=1)
        assert torch.equal(predicted[certified], final[certified]), t
        seen += int(certified.sum())
        # the bound behind the certificate: ||z_t - z*|| <= mu/(1-mu) ||z_t - z_{t-1}||
        error = (states[t] - z_star).norm(dim=1)
        bound = 0.95 / 0.05 * (states[t] - states[t - 1]).norm(dim=1)
        assert bool((error <= bound + 1e-9).all())
    assert 0 < seen < 6 * len(x)  # some, but not all, were certified along the way
    assert not bool(digits.certify(model, x, 0).any())


def test_deq_gradients_reach_every_parameter(data):
    torch.manual_seed(0)
    model = ImplicitClassifier(12)
    loss = torch.nn.functional.cross_entropy(model(data[0][:32]), data[1][:32])
    loss.backward()
    names = dict(model.named_parameters())
    assert set(names) == {"layer.g.V", "layer.g.U", "layer.g.b", "readout.weight", "readout.bias"}
    for name, parameter in names.items():
        assert parameter.grad is not None, name
        assert bool(torch.isfinite(parameter.grad).all()) and float(parameter.grad.abs().sum()) > 0
    assert model.layer.backward_result is not None and model.layer.backward_result.converged


def test_ift_gradient_agrees_with_unrolled_backprop(data):
    torch.manual_seed(0)
    x, y = data[0][:16], data[1][:16]
    ift = ImplicitClassifier(10, mu=0.5, tol=1e-12, max_iter=200)
    unrolled = ImplicitClassifier(10, mu=0.5, backward="unrolled", max_iter=120)
    unrolled.load_state_dict(ift.state_dict())
    grads = []
    for model in (ift, unrolled):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads.append(model.layer.g.V.grad.clone())
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-10)


def test_contraction_diagnostics_respect_the_bounds(data):
    torch.manual_seed(0)
    model = ImplicitClassifier(16, mu=0.9, tol=1e-10, max_iter=200)
    result = digits.contraction_diagnostics(model, data[2][:100])
    assert result.spectral_norm_W == pytest.approx(0.9, rel=1e-9)
    assert bool((result.spectral_radius <= result.jacobian_norm + 1e-12).all())
    assert bool((result.jacobian_norm <= 0.9 + 1e-12).all())
    assert bool((result.empirical_rate <= 0.9 + 1e-6).all())
    # the measured rate is the spectral radius of the Jacobian at z*, up to the finite window
    assert float((result.empirical_rate - result.spectral_radius).abs().median()) < 0.05


def test_config_by_profile():
    smoke, cpu = digits.config("smoke"), digits.config("cpu")
    assert smoke.seeds == 1 and cpu.seeds == 3 and digits.config("gpu").seeds == 5
    assert smoke.epochs < cpu.epochs
    with pytest.raises(ValueError):
        digits.config("laptop")


def test_run_seed_smoke(monkeypatch):
    cfg = digits.DigitsConfig(width=8, epochs=1, seeds=1, eval_iterations=(1, 4, 64))
    monkeypatch.setattr(digits, "get_device", lambda: torch.device("cpu"))
    run = digits.run_seed(cfg, seed=3, progress=False)
    assert len(run.iteration_accuracy) == 3 and len(run.certified) == 3
    assert abs(run.iteration_accuracy[-1] - run.fixed_point_accuracy) <= 0.01
    assert digits.total_seconds(run.implicit_history) > 0
    counts = digits.parameter_count(run.implicit), digits.parameter_count(run.explicit)
    assert abs(counts[0] - counts[1]) / counts[0] < 0.02
