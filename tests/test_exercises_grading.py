"""The exercise checks as graded work: their own exception, never `assert`, no leaked answers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_exercises import _tanh_layer_depths  # the tests folder is on sys.path (rootdir)

import implicit_edu.exercises as exercises
from implicit_edu.exercises import _common, implicit_models, regularity, solvers
from implicit_edu.exercises._common import WrongAnswer

MODULES = sorted(Path(exercises.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_no_check_relies_on_assert(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert asserts == [], f"{path.name}: `assert` on lines {asserts} (python -O removes it)"
    raised = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") == "AssertionError"
    ]
    assert raised == [], f"{path.name}: raise WrongAnswer, not AssertionError (lines {raised})"


def test_a_wrong_answer_fails_under_python_O():
    code = (
        "import torch\n"
        "from implicit_edu.exercises import implicit_models as check\n"
        "check.check_contraction_bound(lambda W: W.abs().max())\n"
    )
    result = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "WrongAnswer" in result.stderr and "is not right" in result.stderr


def test_wrong_answer_is_an_assertion_error_so_old_notebooks_still_catch_it():
    assert issubclass(WrongAnswer, AssertionError)


def _message(check, answer) -> str:
    with pytest.raises(WrongAnswer) as failure:
        check(answer)
    return str(failure.value)


def _spellings(value: float) -> set[str]:
    return {f"{value:{spec}}" for spec in (".6g", ".4g", ".4f", "g")} | {str(value)}


def test_numeric_checks_never_print_the_expected_value():
    distances, z_star, W, bound, measured, norms = _tanh_layer_depths()
    for answers, want in (
        ((bound + 7, measured, max(norms)), bound),
        ((bound, measured + 5, max(norms)), measured),
        ((bound, measured, 0.5), max(norms)),
    ):
        with pytest.raises(WrongAnswer) as failure:
            implicit_models.check_equilibrium_depth(distances, z_star, W, *answers)
        assert not any(s in str(failure.value) for s in _spellings(want))

    message = _message(implicit_models.check_contraction_bound, lambda W: W.abs().max())
    g = torch.Generator().manual_seed(3)
    first = float(torch.linalg.matrix_norm(torch.randn(4, 4, generator=g, dtype=torch.float64), 2))
    assert not any(s in message for s in _spellings(first))

    message = _message(regularity.check_averaged_factor, lambda eps, lip_h: 0.123)
    assert "expected" not in message

    message = _message(solvers.check_picard_rate, lambda A: 0.0)
    assert "expected" not in message


def test_a_wrong_entry_does_not_reveal_the_others():
    want = torch.tensor([1.5, 2.5, 3.5], dtype=torch.float64)
    got = torch.tensor([1.5, 9.0, 3.5], dtype=torch.float64)
    with pytest.raises(WrongAnswer) as failure:
        _common.check_close(got, want, what="f(x)")
    message = str(failure.value)
    assert "entry 1" in message and "9" in message
    assert "2.5" not in message and "1.5" not in message and "3.5" not in message
