"""Shared helpers for the exercise checks.

A check either prints "✓ … correct" and returns True, or raises :class:`WrongAnswer` with a hint.
The hints name what is wrong with a typical wrong answer; they never print the expected value (a
student could copy it), and a wrong entry of a list or tensor does not reveal the others.
Checks raise explicitly instead of using ``assert``, which ``python -O`` removes.

Most checks say one thing in one way: per case, :func:`check_value` (a number) or
:func:`check_close` (a vector, matrix or list) compares the answer with the expected value, then
with the known wrong values of typical mistakes, each with its hint, and otherwise raises a
general hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

#: Known wrong values with their hints, as ``(wrong value, message)`` pairs or a dict
#: ``{wrong value: message}``. A wrong value ``None`` is skipped (a mistake that does not apply
#: to this case); the first pair whose value the answer matches gives the hint.
KnownWrong = Mapping[Any, str] | Iterable[tuple[Any, str]]


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
    if value is ...:
        raise WrongAnswer(f"{what}: replace the `...` with your answer.")
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise WrongAnswer(f"{what}: could not read {type(value).__name__} as numbers.") from None


def _pairs(known_wrong: KnownWrong) -> Iterable[tuple[Any, str]]:
    return known_wrong.items() if isinstance(known_wrong, Mapping) else known_wrong


def check_value(
    answer: Any,
    expected: float,
    *,
    what: str = "answer",
    otherwise: str | None = None,
    known_wrong: KnownWrong = (),
    prefix: str = "",
    rtol: float = 1e-9,
    atol: float = 0.0,
    exercise: str | None = None,
) -> bool:
    """Pass a number close to ``expected``; else raise the hint of the mistake it matches.

    ``answer`` is read by ``require_number``, whose messages name it ``what`` (when it is
    ``...``, None, not a number, NaN or infinite); a check whose messages quote the answer reads
    it first. It passes when ``math.isclose(answer, expected, rel_tol=rtol, abs_tol=atol)``
    (``rtol=0``: whole numbers compare exactly). Otherwise the message of the first
    :data:`KnownWrong` value it matches within the same tolerance is raised, or else
    ``otherwise``, each after ``prefix`` (without ``otherwise``: "``what`` = answer is not
    right."). The messages are the caller's: they must not contain the expected value.

    Returns True; given ``exercise``, it also prints the confirmation (:func:`correct`).
    """
    got = require_number(answer, what)
    if not math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        for wrong, hint in _pairs(known_wrong):
            if wrong is not None and math.isclose(got, wrong, rel_tol=rtol, abs_tol=atol):
                raise WrongAnswer(prefix + hint)
        raise WrongAnswer(
            prefix + otherwise if otherwise is not None else f"{what} = {got:.6g} is not right."
        )
    return correct(exercise) if exercise else True


def check_close(
    answer: Any,
    expected: Any,
    *,
    what: str,
    otherwise: str | None = None,
    known_wrong: KnownWrong = (),
    prefix: str = "",
    rtol: float = 1e-6,
    atol: float = 1e-6,
    exercise: str | None = None,
) -> bool:
    """:func:`check_value` for a vector, matrix or list of numbers, compared entrywise.

    ``answer`` is read by ``as_tensor``; it must have the shape of ``expected`` and finite
    entries, and passes when ``torch.allclose(answer, expected, rtol=rtol, atol=atol)``. Otherwise
    the hint of the first known wrong value it matches is raised, or else ``otherwise``, by
    default the answer's own entry farthest from the expected one, which reveals no other entry.
    """
    got = as_tensor(answer, what)
    want = torch.as_tensor(expected, dtype=torch.float64)
    if got.shape != want.shape:
        raise WrongAnswer(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")
    finite = torch.isfinite(got).flatten()
    if not bool(finite.all()):
        entry = int((~finite).nonzero()[0])
        value = float(got.flatten()[entry])
        raise WrongAnswer(f"{what}: entry {entry} is {value}, not a finite number.")
    if torch.allclose(got, want, rtol=rtol, atol=atol):
        return correct(exercise) if exercise else True
    for wrong, hint in _pairs(known_wrong):
        if wrong is None:
            continue
        wrong = torch.as_tensor(wrong, dtype=torch.float64)
        if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=rtol, atol=atol):
            raise WrongAnswer(prefix + hint)
    if otherwise is not None:
        raise WrongAnswer(prefix + otherwise)
    worst = int((got - want).abs().argmax())
    raise WrongAnswer(
        f"{what}: wrong value, e.g. entry {worst} (you have "
        f"{float(got.flatten()[worst]):.6g}); recheck the formula."
    )
