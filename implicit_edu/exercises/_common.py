"""Shared helpers for the exercise checks.

A check either prints "✓ … correct" and returns True, or raises :class:`WrongAnswer` with a hint.
The hints name what is wrong with a typical wrong answer; they never print the expected value (a
student could copy it), and a wrong entry of a list or tensor does not reveal the others.
Checks raise explicitly instead of using ``assert``, which ``python -O`` removes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


class WrongAnswer(AssertionError):
    """A check's verdict on a wrong answer; its message is the hint.

    It derives from AssertionError so that code catching failed checks that way (older notebooks,
    ``pytest.raises(AssertionError)``) keeps working.
    """


def correct(exercise: str) -> bool:
    """Report a passed check; returns True so a check can be used in ``assert``."""
    print(f"✓ {exercise}: correct.")
    return True


def require_callable(answer: Any, what: str) -> Callable:
    if answer is None or answer is ...:
        raise WrongAnswer(f"{what}: replace the `...` with your answer.")
    if not callable(answer):
        raise WrongAnswer(f"{what}: expected a function, got {type(answer).__name__}.")
    return answer


def require_number(answer: Any, what: str) -> float:
    if answer is None or answer is ...:
        raise WrongAnswer(f"{what}: replace the `...` with your answer.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise WrongAnswer(f"{what}: expected a number, got {answer!r}.") from None
    if not math.isfinite(value):
        raise WrongAnswer(f"{what}: expected a finite number, got {value}.")
    return value


def as_tensor(value: Any, what: str) -> torch.Tensor:
    if value is None:
        raise WrongAnswer(f"{what}: your function returned None (did you forget `return`?).")
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise WrongAnswer(f"{what}: could not read {type(value).__name__} as numbers.") from None


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str, rtol: float = 1e-6) -> None:
    if got.shape != want.shape:
        raise WrongAnswer(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
    if not torch.allclose(got, want, rtol=rtol, atol=rtol):
        worst = int((got - want).abs().argmax())
        raise WrongAnswer(
            f"{what}: wrong value, e.g. entry {worst} (you have "
            f"{float(got.flatten()[worst]):.6g}); recheck the formula."
        )
