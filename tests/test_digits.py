"""The digits experiment of "A first trained implicit model": data, models, training, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from implicit_edu.core.parameters import parameter_count
from implicit_edu.experiments import digits
from implicit_edu.experiments.digits import ExplicitClassifier, ImplicitClassifier


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
    assert isinstance(data, digits.Splits)
    assert data.x_train.shape == (1102, 64) and data.y_train.shape == (1102,)
    assert data.x_val.shape == (195, 64) and data.y_val.shape == (195,)
    assert data.x_test.shape == (500, 64) and data.y_test.shape == (500,)
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.long
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    everything = torch.cat([data.y_train, data.y_val, data.y_test])
    share = torch.bincount(everything, minlength=10) / len(everything)
    for labels in (data.y_train, data.y_val, data.y_test):
        counts = torch.bincount(labels, minlength=10)
        # stratified: every class within about one image of its share of the whole data set
        assert float((counts - share * len(labels)).abs().max()) <= 1.5


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_three_splits_are_disjoint_complete_stratified_and_seeded(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    labels = load_digits().target
    train, val, test = digits.split_indices(seed)
    assert (len(train), len(val), len(test)) == (1102, 195, 500)
    for a, b in ((train, val), (train, test), (val, test)):
        assert len(np.intersect1d(a, b)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(1797))
    overall = np.bincount(labels, minlength=10) / len(labels)
    for part in (train, val, test):
        share = np.bincount(labels[part], minlength=10) / len(part)
        assert np.abs(share - overall).max() <= 1.5 / len(part) + 1e-12  # about one image
    # the test set is that of the earlier two-way split with the same seed
    _, old_test = train_test_split(
        np.arange(1797), test_size=500, stratify=labels, random_state=seed
    )
    assert np.array_equal(test, np.sort(old_test))
    again = digits.split_indices(seed)
    other = digits.split_indices(seed + 1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(val, other[1])


def test_split_sizes_follow_the_arguments():
    train, val, test = digits.split_indices(0, test_size=300, val_fraction=0.25)
    assert (len(train), len(val), len(test)) == (1123, 374, 300)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "non-negative int"),
        ({"seed": 1.5}, "non-negative int"),
        ({"seed": 0, "test_size": 0.2}, "number of images"),
        ({"seed": 0, "test_size": 5}, "test_size must lie between"),
        ({"seed": 0, "test_size": 1790}, "test_size must lie between"),
        ({"seed": 0, "val_fraction": 0.0}, "strictly between 0 and 1"),
        ({"seed": 0, "val_fraction": 1.0}, "strictly between 0 and 1"),
        ({"seed": 0, "val_fraction": "15%"}, "must be a number"),
        ({"seed": 0, "test_size": 1757, "val_fraction": 0.1}, "at least 10"),
    ],
)
def test_bad_split_arguments_say_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits.split_indices(**kwargs)
    with pytest.raises(ValueError, match=match):
        digits.load(**kwargs, device="cpu")


def test_splits_are_named_not_numbered(data):
    with pytest.raises(TypeError, match="by name"):
        data[2]
    with pytest.raises(TypeError, match="by name"):
        x_train, y_train, x_test, y_test = data
    with pytest.raises(ValueError, match="shape"):
        digits.Splits(
            data.x_train, data.y_train[:-1], data.x_val, data.y_val, data.x_test, data.y_test
        )


def test_train_rejects_the_old_four_tuple(data):
    old = (data.x_train, data.y_train, data.x_test, data.y_test)
    with pytest.raises(ValueError, match="validation split"):
        digits.train(ExplicitClassifier(8), old, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        digits.train(ExplicitClassifier(8), data, epochs=0, progress=False)


@pytest.mark.parametrize(
    ("val", "want"),
    [
        ([0.5], 1),
        ([0.5, 0.7, 0.6], 2),
        ([0.5, 0.7, 0.7, 0.6], 2),  # ties go to the earlier epoch
        ([0.9, 0.1, 0.9], 1),
        ([0.2, 0.3, 0.4], 3),
    ],
)
def test_early_stop_epoch_is_the_best_validation_epoch(val, want):
    # the test accuracies point elsewhere: the choice must not look at them
    test = [1.0 - v for v in val]
    history = digits.History(loss=[1.0] * len(val), val_accuracy=val, test_accuracy=test)
    assert digits.early_stop_epoch(history) == want


def test_early_stop_epoch_rejects_an_empty_or_broken_history():
    with pytest.raises(ValueError, match="at least one epoch"):
        digits.early_stop_epoch(digits.History(test_accuracy=[0.9]))
    with pytest.raises(ValueError, match="finite"):
        digits.early_stop_epoch(digits.History(val_accuracy=[0.5, float("nan")]))


def _small(data, n_train=256, n_val=100, n_test=100):
    return digits.Splits(
        data.x_train[:n_train],
        data.y_train[:n_train],
        data.x_val[:n_val],
        data.y_val[:n_val],
        data.x_test[:n_test],
        data.y_test[:n_test],
    )


def test_training_keeps_the_weights_of_the_early_stop_epoch(data):
    small = _small(data)
    torch.manual_seed(0)
    model = ExplicitClassifier(16)
    # a large learning rate makes the validation accuracy move about between epochs
    history = digits.train(model, small, epochs=6, lr=0.1, progress=False)
    epoch = digits.early_stop_epoch(history)
    assert history.val_accuracy[epoch - 1] > history.val_accuracy[-1]  # the test means something
    with torch.no_grad():
        assert digits.accuracy(model(small.x_val), small.y_val) == history.val_accuracy[epoch - 1]
        assert (
            digits.accuracy(model(small.x_test), small.y_test) == history.test_accuracy[epoch - 1]
        )
    torch.manual_seed(0)
    last = ExplicitClassifier(16)
    again = digits.train(last, small, epochs=6, lr=0.1, progress=False, early_stop=False)
    assert again.val_accuracy == history.val_accuracy  # the same run, kept at its last epoch
    with torch.no_grad():
        assert digits.accuracy(last(small.x_val), small.y_val) == again.val_accuracy[-1]


@pytest.mark.parametrize("width", [8, 32, 64, 100])
def test_parameter_counts_match_the_formulas_and_each_other(width):
    implicit = ImplicitClassifier(width)
    count = parameter_count(implicit)
    assert count == digits.implicit_parameter_count(width)
    for depth in (1, 2):
        hidden = digits.matched_hidden_width(count, depth)
        explicit = ExplicitClassifier(hidden, depth)
        explicit_count = parameter_count(explicit)
        assert explicit_count == digits.explicit_parameter_count(hidden, depth)
        assert abs(explicit_count - count) / count < 0.02
        for other in (hidden - 1, hidden + 1):  # no other width is closer
            if other >= 1:
                assert abs(digits.explicit_parameter_count(other, depth) - count) >= abs(
                    explicit_count - count
                )


def test_a_few_training_steps_reduce_the_loss(data):
    small = _small(data)
    x_train, y_train = small.x_train, small.y_train
    for model in (ImplicitClassifier(16, tol=1e-6), ExplicitClassifier(16)):
        torch.manual_seed(0)
        with torch.no_grad():
            before = float(torch.nn.functional.cross_entropy(model(x_train), y_train))
        history = digits.train(model, small, epochs=3, batch_size=64, lr=1e-2, progress=False)
        with torch.no_grad():
            after = float(torch.nn.functional.cross_entropy(model(x_train), y_train))
        assert after < 0.8 * before, type(model).__name__
        assert len(history.loss) == len(history.val_accuracy) == len(history.test_accuracy) == 3
        if isinstance(model, ImplicitClassifier):
            steps = 3 * 4  # 256 images in batches of 64, 3 epochs
            assert len(history.forward_iterations) == steps
            assert all(history.forward_converged)
            assert max(history.forward_residual) <= 1e-6
            assert min(history.backward_iterations) >= 1


def test_t_step_accuracy_converges_to_the_fixed_point_prediction(data):
    torch.manual_seed(0)
    model = ImplicitClassifier(16, mu=0.9, tol=1e-10, max_iter=200)
    x, y = data.x_test[:200], data.y_test[:200]
    digits.train(model, _small(data, n_test=200), epochs=2, progress=False)
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
    x = data.x_test
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
    loss = torch.nn.functional.cross_entropy(model(data.x_train[:32]), data.y_train[:32])
    loss.backward()
    names = dict(model.named_parameters())
    assert set(names) == {"layer.g.V", "layer.g.U", "layer.g.b", "readout.weight", "readout.bias"}
    for name, parameter in names.items():
        assert parameter.grad is not None, name
        assert bool(torch.isfinite(parameter.grad).all()) and float(parameter.grad.abs().sum()) > 0
    assert model.layer.backward_result is not None and model.layer.backward_result.converged


def test_ift_gradient_agrees_with_unrolled_backprop(data):
    torch.manual_seed(0)
    x, y = data.x_train[:16], data.y_train[:16]
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
    result = digits.contraction_diagnostics(model, data.x_test[:100])
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
    cfg = digits.DigitsConfig(width=8, epochs=2, seeds=1, eval_iterations=(1, 4, 64))
    monkeypatch.setattr(digits, "get_device", lambda: torch.device("cpu"))
    run = digits.run_seed(cfg, seed=3, progress=False)
    # both models are reported at their early-stop epoch, chosen on validation
    for history, epoch, test_accuracy in (
        (run.implicit_history, run.implicit_epoch, run.fixed_point_accuracy),
        (run.explicit_history, run.explicit_epoch, run.explicit_accuracy),
    ):
        assert len(history.val_accuracy) == 2
        assert epoch == digits.early_stop_epoch(history)
        assert test_accuracy == history.test_accuracy[epoch - 1]
    assert len(run.iteration_accuracy) == 3 and len(run.certified) == 3
    assert abs(run.iteration_accuracy[-1] - run.fixed_point_accuracy) <= 0.01
    assert digits.total_seconds(run.implicit_history) > 0
    counts = parameter_count(run.implicit), parameter_count(run.explicit)
    assert abs(counts[0] - counts[1]) / counts[0] < 0.02
