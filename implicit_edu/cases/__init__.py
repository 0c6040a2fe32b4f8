"""The paper's case studies, one subpackage or module per case (Part IV of the book).

* :mod:`implicit_edu.cases.lp`: linear programs solved by explicit and implicit graph networks
  (the paper's Table 1);
* :mod:`implicit_edu.cases.deblur`: image deblurring with implicit plug-and-play operators;
* :mod:`implicit_edu.cases.navier_stokes`: steady Navier–Stokes flows learned by explicit FNOs and
  the implicit FNO-DEQ;
* :mod:`implicit_edu.cases.reasoning`: looped models and reasoning, where more test-time
  iterations solve harder problems (prefix sums, variable chains, Huginn's text L_t).

Shared by all of them: :mod:`implicit_edu.cases.cache`, the on-disk cache of generated data sets
and trained models, keyed by a hash of their configuration, and :mod:`implicit_edu.cases.parallel`,
which trains several small models side by side in worker processes on a CPU.
"""
