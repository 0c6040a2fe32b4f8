"""The chapters' experiments: one module, or one subpackage, per chapter that trains or measures.

Parts I–III:

* :mod:`~implicit_edu.experiments.toy`: the 1/x operator (chapter "The 1/x operator");
* :mod:`~implicit_edu.experiments.bench`: solver benchmark problems and a fair timing harness
  (chapter "Fixed-point solvers");
* :mod:`~implicit_edu.experiments.memory`: memory and time of one DEQ training step (chapter
  "Differentiating through a fixed point");
* :mod:`~implicit_edu.experiments.regularity`: the 2 × 2 failure experiment and the sweeps of
  chapter "Keeping the operator regular";
* :mod:`~implicit_edu.experiments.digits`: the first trained implicit model (chapter "A first
  trained implicit model").

Part IV, the paper's case studies, each a subpackage laid out the same way (``config``: the three
scales; ``data``; ``models``; ``train``: training and the cache; ``evaluate``):

* :mod:`~implicit_edu.experiments.deblur`: image deblurring with implicit plug-and-play operators;
* :mod:`~implicit_edu.experiments.navier_stokes`: steady Navier–Stokes flows learned by explicit
  FNOs and the implicit FNO-DEQ;
* :mod:`~implicit_edu.experiments.lp`: linear programs solved by explicit and implicit graph
  networks (the paper's Table 1);
* :mod:`~implicit_edu.experiments.reasoning`: looped models and reasoning, where more test-time
  iterations solve harder problems (prefix sums, variable chains, Huginn's text L_t).

A new case study goes here as a subpackage of the same shape. Experiments use the layers below
(core, analysis, runtime) and never the exercises.
"""
