"""The core: what an implicit model is (Part I and Part III of the book).

* :mod:`~implicit_edu.core.solvers`: ``fixed_point`` and ``FixedPointResult``: Picard,
  Krasnoselskii–Mann, Anderson and Broyden (chapter "Fixed-point solvers"), and ``iterate``,
  the t-step iterates ``[y0, g(y0), …]`` every model's iteration runs on;
* :mod:`~implicit_edu.core.deq`: ``DEQ``, an implicit layer with implicit-function-theorem,
  Jacobian-free, phantom or unrolled gradients (chapter "Differentiating through a fixed point");
* :mod:`~implicit_edu.core.regular`: operator families that stay contractions while they train
  (chapter "Keeping the operator regular");
* :mod:`~implicit_edu.core.parameters`: ``parameter_count``, the size every comparison is
  matched on;
* :mod:`~implicit_edu.core.checks`: the argument checks of the whole package (one message for
  one mistake).

This layer imports nothing else from the package.
"""
