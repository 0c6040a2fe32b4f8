"""The checks of the chapter "Linear programs" accept the reference answers and reject typical
wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from implicit_edu.exercises import linear_programs as check

# --- the error metric --------------------------------------------------------------------------


def _reference_error(y_hat, y_star):
    return np.linalg.norm(y_hat - y_star, axis=-1) / (np.linalg.norm(y_star, axis=-1) + 1)


def test_relative_error_accepts_the_reference():
    assert check.check_relative_error(_reference_error)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda a, b: np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1), "add 1"),
        (lambda a, b: np.linalg.norm(a - b, axis=-1) / (np.linalg.norm(a, axis=-1) + 1), "label"),
        (
            lambda a, b: np.linalg.norm(a - b, axis=-1) ** 2 / (np.linalg.norm(b, axis=-1) + 1),
            "square",
        ),
        (lambda a, b: np.linalg.norm(a - b) / (np.linalg.norm(b) + 1), "one value per instance"),
        (lambda a, b: np.abs(a - b).sum(axis=-1) / (np.linalg.norm(b, axis=-1) + 1), "not right"),
        (..., "replace the `...`"),
    ],
)
def test_relative_error_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_relative_error(wrong)


# --- the parameter count ----------------------------------------------------------------------


def test_explicit_count_accepts_the_reference():
    assert check.check_explicit_count(lambda d: 28 * d * d + 32 * d + 1)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda d: 22 * d * d + 27 * d + 1, "four half-convolutions"),
        (lambda d: 28 * d * d + 12 * d + 1, "bias"),
        (lambda d: 24 * d * d + 28 * d + 1, "own"),
        (lambda d: 28 * d * d, "is not right"),
        (lambda d: "many", "expected a number"),
    ],
)
def test_explicit_count_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_explicit_count(wrong)


# --- the jump of the solution map -------------------------------------------------------------


def test_jump_accepts_the_reference():
    assert check.check_jump(1.0, [0.75, 0.75])


@pytest.mark.parametrize(
    ("s", "x", "match"),
    [
        (2.0, [0.75, 0.75], "single vertex"),
        (0.0, [1.0, 0.0], "positive s"),
        (1.0, [1.0, 0.5], "smallest norm"),
        (1.0, [0.5, 1.0], "smallest norm"),
        (1.0, [0.7, 0.8], "closest to the origin"),
        (1.0, [0.75], "two entries"),
        (..., [0.75, 0.75], "replace the `...`"),
    ],
)
def test_jump_rejects(s, x, match):
    with pytest.raises(AssertionError, match=match):
        check.check_jump(s, x)
