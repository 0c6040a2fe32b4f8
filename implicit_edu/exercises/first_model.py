"""Checks for the exercises of the chapter "A first trained implicit model" (Part III)."""

from __future__ import annotations

import math

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_value,
    correct,
    require_callable,
    require_number,
)


def _implicit_count(width: int) -> int:
    """Parameters of the implicit classifier, counted from the module itself."""
    from implicit_edu.core.parameters import parameter_count
    from implicit_edu.experiments.digits import ImplicitClassifier

    return parameter_count(ImplicitClassifier(width))


def check_implicit_count(count) -> bool:
    """Exercise: ``count(n)``, the parameters of the implicit classifier of state size n."""
    count = require_callable(count, "implicit_count(n)")
    for n in (7, 32, 64, 100, 1):
        got = require_number(count(n), f"implicit_count({n})")
        want = _implicit_count(n)
        check_value(
            got,
            want,
            rtol=0,
            prefix=f"implicit_count({n}) = {got:g} is not right: ",
            known_wrong={
                want + n * n: "W = μV/||V||₂ is computed from V: count V only, not W as well.",
                want - n: "the injection Q(x) = Ux + b has a bias b of size n.",
                want - 10: "the read-out Rz + c has a bias c of size 10.",
                want - 10 * n - 10: "the read-out R z + c (n → 10) has parameters too.",
                want - n * n: "the operator's matrix V (n × n) is trained.",
            },
            otherwise="count V (n × n), U (n × 64), b (n), R (10 × n) and c (10).",
        )
    return correct("the parameter count of the implicit classifier")


def matched_one_layer_width(count: int) -> int:
    """The width h of an MLP 64 → h → 10 whose count 75 h + 10 is closest to ``count``."""
    low = (count - 10) // 75
    return min((low, low + 1), key=lambda h: abs(75 * h + 10 - count))


def check_matched_width(h) -> bool:
    """Exercise: the width h of a one-hidden-layer MLP 64 → h → 10 matching the n = 64 model."""
    value = require_number(h, "h")
    if value != int(value):
        raise WrongAnswer(f"h must be a whole number of units, got {value}.")
    count = _implicit_count(64)
    want = matched_one_layer_width(count)
    exact = (count - 10) / 75
    return check_value(
        value,
        want,
        rtol=0,
        known_wrong={
            math.floor(exact): f"h = {int(value)} rounds {exact:.2f} down, but the other "
            f"neighbour gives a count closer to {count}: compare |75 h + 10 − {count}| for both "
            "neighbours."
        },
        otherwise=f"h = {int(value)} gives {75 * int(value) + 10} parameters, not the closest to "
        f"{count}: an MLP 64 → h → 10 has 64 h + h weights and biases in, 10 h + 10 out.",
        exercise="the matched width",
    )


def check_prediction_at_zero(model, x, labels, predicted_class, accuracy) -> bool:
    """Exercise: the class predicted after t = 0 iterations, and the test accuracy there."""
    cls = require_number(predicted_class, "predicted_class")
    acc = require_number(accuracy, "accuracy")
    with torch.no_grad():
        want_class = int(model.readout.bias.argmax())
        frequency = float((labels == want_class).double().mean())
    if not (0 <= acc <= 1):
        raise WrongAnswer(f"accuracy must be a fraction in [0, 1], got {acc}.")
    del x  # the prediction at t = 0 does not depend on the image
    check_value(
        cls,
        want_class,
        rtol=0,
        prefix=f"class {cls:g} ",
        known_wrong={
            int(labels.bincount().argmax()): "is the most frequent test class, but the model "
            "does not know the test labels: at z_0 = 0 the logits are R·0 + c."
        },
        otherwise="is not what the model predicts at t = 0: with z_0 = 0 every image gets the "
        "logits R·0 + c = c, so every image gets the same class. Which one?",
    )
    return check_value(
        acc,
        frequency,
        atol=1e-9,
        known_wrong=[
            (
                None if math.isclose(frequency, 0.1) else 0.1,
                "0.1 is only approximately right: the accuracy is the share of test images whose "
                f"label is class {want_class}, which is not exactly a tenth.",
            )
        ],
        otherwise=f"accuracy {acc} is wrong: every image is predicted as class {want_class}, so "
        "the accuracy is the share of test images with that label.",
        exercise="the prediction at t = 0",
    )


def guaranteed_steps(mu: float, width: int, accuracy: float) -> int:
    """The least t with μ^t √n <= accuracy: then ||z_t − z*|| <= accuracy from z_0 = 0."""
    return math.ceil(math.log(accuracy / math.sqrt(width)) / math.log(mu))


def check_guaranteed_steps(t) -> bool:
    """Exercise: the least t guaranteeing ||z_t − z*|| <= 1e-3 for every image (μ = 0.9, n = 64)."""
    value = require_number(t, "t")
    if value != int(value):
        raise WrongAnswer(f"t must be a whole number of iterations, got {value}.")
    want = guaranteed_steps(0.9, 64, 1e-3)
    return check_value(
        value,
        want,
        rtol=0,
        prefix=f"t = {int(value)} ",
        known_wrong=[
            (
                math.ceil(math.log(1e-3) / math.log(0.9)),
                "makes μ^t <= 1e-3, but the bound is μ^t ||z*||: how large can ||z*|| be when "
                "every entry of z* = tanh(...) lies in (−1, 1)?",
            ),
            (want - 1, "is one short: round the bound up, not down."),
        ],
        otherwise="is not the least such t: from z_0 = 0, ||z_t − z*|| <= μ^t ||z*|| and "
        "||z*|| <= √n.",
        exercise="the guaranteed number of iterations",
    )
