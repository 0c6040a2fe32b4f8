"""Automatic checks behind the book's exercises, one module per chapter.

Each check takes the reader's answer, raises :class:`~implicit_edu.exercises._common.WrongAnswer`
with a message that says what is wrong (and hints at why), and prints a short confirmation when
the answer is right. The same functions are called by the chapters' solution cells, by the
student copies (``make student``), by the otter-grader assignments (``make assignments``) and by
the test suite, which also feeds them typical wrong answers.

Part I: :mod:`implicit_models`, :mod:`one_over_x`. Part II: :mod:`lipschitz_maps`,
:mod:`regular_operators`, :mod:`sufficiency`, :mod:`necessity`, :mod:`test_time_compute`.
Part III: :mod:`solvers`, :mod:`differentiating`, :mod:`regularity`,
:mod:`first_model`. Part IV: :mod:`deblurring`, :mod:`navier_stokes`,
:mod:`linear_programs`, :mod:`reasoning`.

This is the top layer: checks may use everything below (core, analysis, runtime, experiments).
"""

from implicit_edu.exercises import (
    deblurring,
    differentiating,
    first_model,
    implicit_models,
    linear_programs,
    lipschitz_maps,
    navier_stokes,
    necessity,
    one_over_x,
    regular_operators,
    regularity,
    solvers,
    sufficiency,
    test_time_compute,
)

__all__ = [
    "deblurring",
    "differentiating",
    "first_model",
    "implicit_models",
    "linear_programs",
    "lipschitz_maps",
    "navier_stokes",
    "necessity",
    "one_over_x",
    "regular_operators",
    "regularity",
    "solvers",
    "sufficiency",
    "test_time_compute",
]
