"""implicit_edu: the package behind the open textbook "Implicit Models, Executable".

An implicit model computes its output as the fixed point ``y* = G(y*, x)`` of one small, regular
operator ``G``. Every figure and number in the book is computed by this package when the book is
built. The modules follow the chapters:

* :mod:`implicit_edu.solvers`: ``fixed_point`` and ``FixedPointResult`` (Picard, Krasnoselskii–Mann,
  Anderson, Broyden);
* :mod:`implicit_edu.deq`: ``DEQ``, an implicit layer with implicit-function-theorem, Jacobian-free,
  phantom or unrolled gradients;
* :mod:`implicit_edu.regular`: operator families that stay contractions (spectral, averaged,
  monotone);
* :mod:`implicit_edu.toy`: the 1/x operator of chapter 2;
* :mod:`implicit_edu.theory`: the sufficiency construction and numerical regularity checks;
* :mod:`implicit_edu.lipschitz`: empirical Lipschitz constants, the trace L_t, spectral norms;
* :mod:`implicit_edu.profiles`: the ``smoke``/``cpu``/``gpu`` scale profiles, devices, seeds;
* :mod:`implicit_edu.plotting`: the house style of the figures;
* :mod:`implicit_edu.exercises`: the automatic checks behind the exercises;
* :mod:`implicit_edu.paper`: the paper's reported numbers, for side-by-side tables.
"""

from implicit_edu.deq import DEQ, DEQConvergenceWarning, TanhOperator
from implicit_edu.profiles import PROFILES, current_profile, get_device, pick, seed_everything
from implicit_edu.solvers import FixedPointResult, fixed_point

__all__ = [
    "DEQ",
    "DEQConvergenceWarning",
    "PROFILES",
    "TanhOperator",
    "FixedPointResult",
    "current_profile",
    "fixed_point",
    "get_device",
    "pick",
    "seed_everything",
]
__version__ = "0.1.0"
