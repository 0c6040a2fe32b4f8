"""The book's runtime: what running a chapter needs, in the book, in Jupyter or in Colab.

* :mod:`~implicit_edu.runtime.profiles`: the ``smoke`` / ``cpu`` / ``gpu`` scale profiles, devices,
  seeds and thread counts (the preface's conventions);
* :mod:`~implicit_edu.runtime.notebook`: glued numbers, tables and progress lines in a chapter;
* :mod:`~implicit_edu.runtime.plotting`: the house style of the figures;
* :mod:`~implicit_edu.runtime.paper`: the paper's reported numbers, for side-by-side tables;
* :mod:`~implicit_edu.runtime.cache`: the on-disk cache of generated data and trained models;
* :mod:`~implicit_edu.runtime.parallel`: several small models trained side by side in worker
  processes;
* :mod:`~implicit_edu.runtime.stats`: paired differences and their t-quantile intervals;
* :mod:`~implicit_edu.runtime.gpu_steps`: the ``gpu`` profile's training steps timed on a GPU, and
  the run times they imply (Part IV).

This layer imports nothing from the layers above it (experiments, exercises).
"""
