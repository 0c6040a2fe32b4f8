"""Argument checks shared by the whole package: one test and one message for one mistake.

Every constructor and function that takes sizes, counts or iteration limits checks them here, so
that a wrong argument is reported the same way everywhere ("max_iter must be an integer >= 1,
got 0"). ``True`` and ``False`` are not accepted as numbers, although Python counts them as such.
"""

from __future__ import annotations

import numbers

__all__ = ["is_integer", "is_number", "check_positive_integers"]


def is_integer(value: object) -> bool:
    """An integer of any kind (Python, NumPy), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A real number of any kind (int, float, NumPy scalar), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_integers(**values: object) -> None:
    """Raise ValueError naming the first argument that is not an integer >= 1.

    ``check_positive_integers(width=width, max_iter=max_iter)``.
    """
    for name, value in values.items():
        if not (is_integer(value) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
