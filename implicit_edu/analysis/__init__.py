"""Analysis: what can be proved and measured about an implicit model (Part II of the book).

* :mod:`~implicit_edu.analysis.theory`: the sufficiency construction, numerical regularity checks
  and the bounds of chapters "Regular implicit operators", "Sufficiency" and "Necessity";
* :mod:`~implicit_edu.analysis.lipschitz`: empirical Lipschitz constants, the trace L_t and
  spectral norms (chapter "Expressive power grows with test-time compute");
* :mod:`~implicit_edu.analysis.certificates`: certified upper bounds on Lipschitz constants
  (chapter "Certified Lipschitz bounds").

This layer imports only from :mod:`implicit_edu.core`.
"""
