"""The package's shared argument checks (implicit_edu.core.checks)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from implicit_edu.core.checks import check_positive_integers, is_integer, is_number


def test_integers_and_numbers_of_any_kind_but_not_bools():
    assert is_integer(3) and is_integer(np.int64(3))
    assert not is_integer(3.0) and not is_integer(True) and not is_integer("3")
    assert is_number(0.5) and is_number(2) and is_number(np.float32(0.5))
    assert not is_number(False) and not is_number(None) and not is_number("0.5")


def test_check_positive_integers_names_the_first_bad_argument():
    check_positive_integers(width=1, depth=np.int32(7))
    for bad in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match=rf"depth must be an integer >= 1, got {bad!r}"):
            check_positive_integers(width=3, depth=bad)
    with pytest.raises(ValueError, match="^width must"):
        check_positive_integers(width=0, depth=0)


@pytest.mark.parametrize(
    "call",
    [
        "implicit_edu.core.regular:TanhOperator(width=0, in_features=2)",
        "implicit_edu.core.deq:DEQ(print, max_iter=0)",
        "implicit_edu.runtime.parallel:run_jobs(print, {}, workers=0)",
        "implicit_edu.experiments.lp.models:build('implicit', 0)",
    ],
)
def test_the_layers_report_a_bad_size_the_same_way(call):
    module, expression = call.split(":")
    namespace = vars(importlib.import_module(module))
    with pytest.raises(ValueError, match=r"must be an integer >= 1, got 0"):
        eval(expression, namespace)
