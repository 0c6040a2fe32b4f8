"""Shared helpers for the exercise checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


def correct(exercise: str) -> bool:
    """Report a passed check; returns True so a check can be used in ``assert``."""
    print(f"✓ {exercise}: correct.")
    return True


def require_callable(answer: Any, what: str) -> Callable:
    assert answer is not None and answer is not ..., f"{what}: replace the `...` with your answer."
    assert callable(answer), f"{what}: expected a function, got {type(answer).__name__}."
    return answer


def require_number(answer: Any, what: str) -> float:
    assert answer is not None and answer is not ..., f"{what}: replace the `...` with your answer."
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected a number, got {answer!r}.") from None
    assert math.isfinite(value), f"{what}: expected a finite number, got {value}."
    return value


def as_tensor(value: Any, what: str) -> torch.Tensor:
    assert value is not None, f"{what}: your function returned None (did you forget `return`?)."
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{what}: could not read {type(value).__name__} as numbers.") from None


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str, rtol: float = 1e-6) -> None:
    assert got.shape == want.shape, (
        f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}."
    )
    if not torch.allclose(got, want, rtol=rtol, atol=rtol):
        worst = int((got - want).abs().argmax())
        raise AssertionError(
            f"{what}: wrong value, e.g. entry {worst}: "
            f"expected {float(want.flatten()[worst]):.6g}, "
            f"got {float(got.flatten()[worst]):.6g}."
        )
