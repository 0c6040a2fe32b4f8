"""Linear programs solved by explicit and implicit graph networks (the paper's Table 1).

* :mod:`~implicit_edu.experiments.lp.config`: :class:`.LPConfig`, the three scales;
* :mod:`~implicit_edu.experiments.lp.data`: :class:`.LPInstance`, :func:`.solve` (minimum-norm
  optimal
  solution), :func:`~implicit_edu.experiments.lp.data.generate` (the paper's random LPs, cached),
  :func:`~implicit_edu.experiments.lp.data.relative_error`;
* :mod:`~implicit_edu.experiments.lp.models`: the bipartite graph, :class:`.ExplicitGNN`,
  :class:`.ImplicitGNN`;
* :mod:`~implicit_edu.experiments.lp.train`: training (several models side by side) and evaluation;
* :mod:`~implicit_edu.experiments.lp.lipschitz`: the empirical Lipschitz constants L_t, and the
  trained operator's contraction factors along its iterates
  (:func:`~implicit_edu.experiments.lp.lipschitz.state_jacobian_norms`).
"""

from implicit_edu.experiments.lp.config import (
    PAPER_ITERATION_ERROR,
    LPConfig,
    config,
    training_steps,
)
from implicit_edu.experiments.lp.data import (
    LPInstance,
    generate,
    instances,
    random_instance,
    relative_error,
    solve,
)
from implicit_edu.experiments.lp.lipschitz import (
    MODES,
    lipschitz_curves,
    perturb,
    perturbation_sets,
    state_jacobian_norms,
)
from implicit_edu.experiments.lp.models import (
    ExplicitGNN,
    ImplicitGNN,
    LPGraph,
    build,
    feature_scales,
    graph_batch,
)
from implicit_edu.experiments.lp.train import (
    KINDS,
    cached_model,
    dataset,
    errors,
    errors_by_iterations,
    jobs,
    load,
    summary,
    train_all,
    train_one,
)

__all__ = [
    "training_steps",
    "KINDS",
    "MODES",
    "PAPER_ITERATION_ERROR",
    "ExplicitGNN",
    "ImplicitGNN",
    "LPConfig",
    "LPGraph",
    "LPInstance",
    "build",
    "cached_model",
    "config",
    "dataset",
    "errors",
    "errors_by_iterations",
    "feature_scales",
    "generate",
    "graph_batch",
    "instances",
    "jobs",
    "lipschitz_curves",
    "load",
    "perturb",
    "perturbation_sets",
    "state_jacobian_norms",
    "random_instance",
    "relative_error",
    "solve",
    "summary",
    "train_all",
    "train_one",
]
