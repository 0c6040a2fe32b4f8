"""implicit_edu: the package behind the open textbook "Implicit Models, Executable".

An implicit model computes its output as the fixed point ``y* = G(y*, x)`` of one small, regular
operator ``G``. Every figure and number in the book is computed by this package when the book is
built. It is built in five layers; each imports only from the layers below it (a contract that the
test suite checks with import-linter, see ``pyproject.toml``):

1. :mod:`implicit_edu.core`: what an implicit model *is*. ``fixed_point`` and its solvers
   (:mod:`~implicit_edu.core.solvers`), the ``DEQ`` layer and its gradients
   (:mod:`~implicit_edu.core.deq`), operator families that stay contractions while they train
   (:mod:`~implicit_edu.core.regular`), parameter counting
   (:mod:`~implicit_edu.core.parameters`), and the argument checks every layer shares
   (:mod:`~implicit_edu.core.checks`).
2. :mod:`implicit_edu.analysis`: what can be *proved and measured* about one: the theorems of
   Part II (:mod:`~implicit_edu.analysis.theory`), Lipschitz estimates and the trace L_t
   (:mod:`~implicit_edu.analysis.lipschitz`), certified upper bounds
   (:mod:`~implicit_edu.analysis.certificates`).
3. :mod:`implicit_edu.runtime`: what *running the book* needs: scale profiles and seeds
   (:mod:`~implicit_edu.runtime.profiles`), notebook helpers
   (:mod:`~implicit_edu.runtime.notebook`), the figures' style
   (:mod:`~implicit_edu.runtime.plotting`), the paper's numbers
   (:mod:`~implicit_edu.runtime.paper`), the on-disk cache (:mod:`~implicit_edu.runtime.cache`),
   worker processes (:mod:`~implicit_edu.runtime.parallel`), paired statistics
   (:mod:`~implicit_edu.runtime.stats`) and the ``gpu`` profile's steps timed on a GPU
   (:mod:`~implicit_edu.runtime.gpu_steps`).
4. :mod:`implicit_edu.experiments`: the chapters' experiments, one module or subpackage each:
   the 1/x operator (``toy``), the solver benchmark (``bench``), the memory of a training step
   (``memory``), the first trained model (``digits``), the regularity experiments
   (``regularity``), and the four case studies of Part IV (``deblur``, ``navier_stokes``, ``lp``,
   ``reasoning``).
5. :mod:`implicit_edu.exercises`: the automatic checks behind the exercises, one module per
   chapter.

Where a new piece goes: a new solver in ``core/solvers.py``; a new estimator or bound in
``analysis``; a new case study as a subpackage of ``experiments`` (``config``, ``data``,
``models``, ``train``, ``evaluate``), its chapter in ``book/part4`` and its checks in
``exercises``.

The names a chapter needs most are importable from the top: ``fixed_point``, ``iterate``, ``DEQ``,
the profile helpers.
"""

from implicit_edu.core.deq import DEQ, DEQConvergenceWarning
from implicit_edu.core.regular import TanhOperator
from implicit_edu.core.solvers import FixedPointResult, fixed_point, iterate
from implicit_edu.runtime.profiles import (
    PROFILES,
    current_profile,
    get_device,
    pick,
    seed_everything,
)

__all__ = [
    "DEQ",
    "DEQConvergenceWarning",
    "PROFILES",
    "TanhOperator",
    "FixedPointResult",
    "current_profile",
    "fixed_point",
    "get_device",
    "iterate",
    "pick",
    "seed_everything",
]
__version__ = "0.1.0"
