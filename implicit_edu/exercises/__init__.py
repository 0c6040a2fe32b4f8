"""Automatic checks behind the book's exercises, one module per chapter.

Each check takes the reader's answer, raises :class:`~implicit_edu.exercises._common.WrongAnswer`
with a message that says what is wrong (and hints at why), and prints a short confirmation when
the answer is right. The same functions are called by the chapters' solution cells, by the
student copies (``make student``), by the otter-grader assignments (``make assignments``) and by
the test suite, which also feeds them typical wrong answers.

One module per chapter, in the book's order:

* Part I:
  :mod:`~implicit_edu.exercises.implicit_models`,
  :mod:`~implicit_edu.exercises.one_over_x`;
* Part II:
  :mod:`~implicit_edu.exercises.lipschitz_maps`,
  :mod:`~implicit_edu.exercises.regular_operators`,
  :mod:`~implicit_edu.exercises.sufficiency`,
  :mod:`~implicit_edu.exercises.necessity`,
  :mod:`~implicit_edu.exercises.test_time_compute`;
* Part III:
  :mod:`~implicit_edu.exercises.solvers`,
  :mod:`~implicit_edu.exercises.differentiating`,
  :mod:`~implicit_edu.exercises.regularity`,
  :mod:`~implicit_edu.exercises.first_model`;
* Part IV:
  :mod:`~implicit_edu.exercises.deblurring`,
  :mod:`~implicit_edu.exercises.navier_stokes`,
  :mod:`~implicit_edu.exercises.linear_programs`,
  :mod:`~implicit_edu.exercises.reasoning`.

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
