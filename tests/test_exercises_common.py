"""The shared helpers of the exercise checks: a known wrong value gets its hint, a near miss
within the tolerance passes, and no message shows the expected value."""

from __future__ import annotations

import math

import pytest
import torch

from implicit_edu.exercises._common import WrongAnswer, check_close, check_value

WANT = 2.718281828
HINTS = {3.0: "rounded up: keep the decimals.", -WANT: "the sign is wrong."}


def _message(check, *args, **kwargs) -> str:
    with pytest.raises(WrongAnswer) as failure:
        check(*args, **kwargs)
    return str(failure.value)


def _value_message(answer, **kwargs) -> str:
    return _message(check_value, answer, WANT, what="e", known_wrong=HINTS, **kwargs)


def test_check_value_passes_the_expected_value_and_a_near_miss(capsys):
    assert check_value(WANT, WANT, what="e")
    assert check_value(WANT * (1 + 1e-10), WANT, what="e")
    assert check_value(WANT * (1 + 1e-7), WANT, what="e", rtol=1e-6)
    assert check_value(1e-13, 0.0, what="zero", atol=1e-12)
    assert capsys.readouterr().out == ""  # only a whole check reports success
    assert check_value(
        torch.tensor(WANT, dtype=torch.float64), WANT, what="e", exercise="the number e"
    )
    assert capsys.readouterr().out == "✓ the number e: correct.\n"


def test_check_value_gives_the_hint_of_a_known_wrong_value():
    assert _value_message(3.0) == "rounded up: keep the decimals."
    assert _value_message(-WANT * (1 + 1e-12)) == "the sign is wrong."  # within the tolerance
    assert _value_message(3.0, prefix="e = 3: ") == "e = 3: rounded up: keep the decimals."
    pairs = [(None, "skipped"), (3.0, "first"), (3.0, "second")]
    assert _message(check_value, 3.0, WANT, what="e", known_wrong=pairs) == "first"


def test_check_value_otherwise_and_exact_comparison():
    assert _value_message(2.5, otherwise="look again.") == "look again."
    assert _value_message(2.5, otherwise="look again.", prefix="e: ") == "e: look again."
    assert _value_message(2.5) == "e = 2.5 is not right."
    with pytest.raises(WrongAnswer):  # rtol=0 compares whole numbers exactly
        check_value(7 + 1e-12, 7, what="t", rtol=0)
    assert check_value(7.0, 7, what="t", rtol=0)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (None, "replace the `...`"),
        (..., "replace the `...`"),
        (float("nan"), "expected a finite number, got nan"),
        (float("inf"), "expected a finite number, got inf"),
        ("2.7", None),  # a string that reads as a number is a number
        ("e", "expected a number, got 'e'"),
        ([1.0, 2.0], "expected a number"),
    ],
)
def test_check_value_names_an_unreadable_answer(answer, says):
    if says is None:
        with pytest.raises(WrongAnswer, match="is not right"):
            check_value(answer, WANT, what="e")
        return
    message = _message(check_value, answer, WANT, what="e", known_wrong=HINTS)
    assert message.startswith("e: ") and says in message


def _spellings(value: float) -> set[str]:
    return {f"{value:{spec}}" for spec in (".6g", ".4g", ".4f", ".3f", "g")} | {str(value)}


@pytest.mark.parametrize("answer", [0.0, 1.0, 2.5, 3.0, 1e9, float("nan"), None, ..., "x"])
def test_check_value_never_prints_the_expected_value(answer):
    message = _value_message(answer)
    assert not any(spelling in message for spelling in _spellings(WANT))


VECTOR = torch.tensor([1.25, -2.5, 3.75], dtype=torch.float64)


def _close_message(answer, **kwargs) -> str:
    return _message(check_close, answer, VECTOR, what="f(x)", **kwargs)


def test_check_close_passes_the_expected_value_a_near_miss_and_a_list(capsys):
    assert check_close(VECTOR.clone(), VECTOR, what="f(x)")
    assert check_close(VECTOR * (1 + 1e-8), VECTOR, what="f(x)")
    assert check_close([1.25, -2.5, 3.75], VECTOR.tolist(), what="f(x)", rtol=0, atol=0)
    assert capsys.readouterr().out == ""
    assert check_close(VECTOR, VECTOR, what="f(x)", exercise="f")
    assert capsys.readouterr().out == "✓ f: correct.\n"


def test_check_close_gives_the_hint_of_a_known_wrong_value():
    known = [(None, "skipped"), (-VECTOR, "the sign."), ([1.0, 2.0], "other shape: skipped")]
    assert _close_message(-VECTOR * (1 + 1e-9), known_wrong=known) == "the sign."
    assert _close_message(-VECTOR, known_wrong=known, prefix="f: ") == "f: the sign."
    assert _close_message(2 * VECTOR, known_wrong=known, otherwise="no.") == "no."


def test_check_close_names_one_wrong_entry_and_reveals_no_other():
    got = VECTOR.clone()
    got[1] = 9.0
    message = _close_message(got)
    assert "entry 1" in message and "9" in message
    for want in VECTOR.tolist():
        assert not any(spelling in message for spelling in _spellings(want))


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (None, "returned None"),
        (..., "replace the `...`"),
        ("abc", "could not read str as numbers"),
        ([1.0, 2.0], "expected shape (3,), got (2,)"),
        ([1.25, math.nan, 3.75], "entry 1 is nan, not a finite number"),
        ([1.25, -2.5, -math.inf], "entry 2 is -inf, not a finite number"),
    ],
)
def test_check_close_names_an_unreadable_answer(answer, says):
    message = _close_message(answer)
    assert message.startswith("f(x): ") and says in message
    for want in VECTOR.tolist():
        assert not any(spelling in message for spelling in _spellings(want))
