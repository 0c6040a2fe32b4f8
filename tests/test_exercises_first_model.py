"""The checks of the chapter "A first trained implicit model" accept the reference answers and
reject typical wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from implicit_edu.exercises import first_model as check
from implicit_edu.experiments.digits import ImplicitClassifier

# --- the parameter count of the implicit classifier -------------------------------------------


def test_implicit_count_accepts_the_reference():
    assert check.check_implicit_count(lambda n: n * n + 64 * n + n + 10 * n + 10)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda n: 2 * n * n + 75 * n + 10, "count V only"),  # V and W both
        (lambda n: n * n + 74 * n + 10, "bias b"),
        (lambda n: n * n + 75 * n, "bias c"),
        (lambda n: n * n + 65 * n, "read-out"),
        (lambda n: 75 * n + 10, "is trained"),
        (lambda n: n * n + 64 * n, "is not right"),
        (..., "replace the `...`"),
        (lambda n: "many", "expected a number"),
    ],
)
def test_implicit_count_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_implicit_count(wrong)


# --- the matched width of a one-hidden-layer MLP ----------------------------------------------


def test_matched_width_accepts_the_reference():
    assert check.matched_one_layer_width(8906) == 119
    assert check.check_matched_width(119)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [(118, "rounds"), (120, "not the closest"), (64, "not the closest"), (118.6, "whole")],
)
def test_matched_width_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_matched_width(wrong)


# --- the prediction at t = 0 ------------------------------------------------------------------


@pytest.fixture
def model_and_labels():
    torch.manual_seed(0)
    model = ImplicitClassifier(8)
    with torch.no_grad():
        model.readout.bias.copy_(torch.arange(10.0) % 7)  # class 6 has the largest bias
    labels = torch.cat([torch.full((30,), 2), torch.arange(10).repeat(5), torch.full((7,), 6)])
    x = torch.rand(len(labels), 64)
    return model, x, labels


def test_prediction_at_zero_accepts_the_reference(model_and_labels):
    model, x, labels = model_and_labels
    share = float((labels == 6).double().mean())
    assert check.check_prediction_at_zero(model, x, labels, 6, share)


@pytest.mark.parametrize(
    ("cls", "acc", "match"),
    [
        (2, 0.1, "most frequent"),
        (9, 0.1, "same class"),
        (6, 0.1, "only approximately"),
        (6, 0.5, "share of test images"),
        (6, 12.0, "fraction"),
        (..., 0.1, "replace"),
    ],
)
def test_prediction_at_zero_rejects(model_and_labels, cls, acc, match):
    model, x, labels = model_and_labels
    with pytest.raises(AssertionError, match=match):
        check.check_prediction_at_zero(model, x, labels, cls, acc)


# --- the a-priori number of iterations --------------------------------------------------------


def test_guaranteed_steps_accepts_the_reference():
    want = math.ceil(math.log(1e-3 / 8) / math.log(0.9))
    assert check.guaranteed_steps(0.9, 64, 1e-3) == want == 86
    assert check.check_guaranteed_steps(want)


@pytest.mark.parametrize(
    ("wrong", "match"), [(66, "how large"), (85, "one short"), (100, "least"), (85.3, "whole")]
)
def test_guaranteed_steps_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_guaranteed_steps(wrong)
