"""The one configuration object of the linear-programs case study, with its three scales.

The paper's set-up (Liu et al. 2025, after Chen et al., ICLR 2023): 2500 training and 1000 test
LPs with m = 10 constraints and n = 50 variables, embedding sizes 4, 8, 16, 32, full-batch
training of the implicit model unrolled for 3 iterations and then for 6, evaluation with 8.
The ``gpu`` scale is that set-up; ``cpu`` is sized to fit a chapter in 10 minutes on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from implicit_edu.runtime.paper import LP_ITERATION_ERROR
from implicit_edu.runtime.profiles import current_profile, pick

#: The paper's test error of the implicit GNN over its iterations (implicit_edu.runtime.paper).
PAPER_ITERATION_ERROR = LP_ITERATION_ERROR


@dataclass(frozen=True)
class LPConfig:
    """Everything that determines the data, the trained models and the measurements.

    Each trained model is cached on disk, keyed on the settings its kind depends on
    (``MODEL_SETTINGS`` below) and on the code that trains it (:mod:`implicit_edu.runtime.cache`).
    """

    # data: the paper's distribution
    m: int = 10
    n: int = 50
    nnz: int = 100
    num_train: int = 2500
    num_test: int = 1000
    num_val: int = 500  # validation instances (drawn after the test set): early stop and d
    data_seed: int = 0
    # models
    embeddings: tuple[int, ...] = (4, 8, 16, 32)
    seeds: tuple[int, ...] = (0, 1, 2)
    seeds_largest: int = 3  # seeds for the largest embedding (it is the slowest to train)
    # training: full-batch Adam with a cosine learning rate
    epochs_explicit: int = 2000
    epochs_implicit: int = 2000
    lr: float = 1e-2  # the paper's first-phase rate; a cosine schedule takes it to 0
    unroll_first: int = 3  # iterations of the implicit model in the first part of training
    unroll_second: int = 6  # ... and afterwards
    switch_fraction: float = 0.4  # share of the epochs trained with unroll_first
    second_phase_lr: float = 0.1  # learning-rate factor once the unroll is deeper
    clip: float = 1.0  # gradient-norm clipping
    validate_every: int = 10  # epochs between validation errors; the best one is kept
    eval_iterations: int = 8  # the paper's K at test time (Table 1)
    max_iterations: int = 16  # test error against K = 1..max_iterations
    # the Lipschitz measurement L_t
    lipschitz_instances: int = 1000
    lipschitz_steps: int = 10  # t = 0 .. lipschitz_steps - 1
    lipschitz_eps: float = 1e-4
    workers: int = 2  # processes that train models side by side (one torch thread each)

    def seeds_for(self, embedding: int) -> tuple[int, ...]:
        """The training seeds of one embedding size (fewer for the largest, as configured)."""
        if embedding == max(self.embeddings):
            return self.seeds[: self.seeds_largest]
        return self.seeds


#: The settings of the data set (the paper's random LPs, one seeded stream cut into splits).
DATA_SETTINGS = ("m", "n", "nnz", "num_train", "num_test", "num_val", "data_seed")

#: The settings a trained model of each kind depends on. They are the key of its cache entry, and
#: all that its training may read (:func:`implicit_edu.runtime.cache.keyed`). The other settings
#: (``embeddings``, ``seeds``, ``seeds_largest``, ``max_iterations``, ``lipschitz_*``,
#: ``workers``) choose which models are trained or how they are measured: changing them retrains
#: nothing. ``eval_iterations`` is a training setting of the implicit model: its validation error,
#: which picks the weights that are kept, is measured after that many iterations.
MODEL_SETTINGS = {
    "explicit": DATA_SETTINGS + ("epochs_explicit", "lr", "clip", "validate_every"),
    "implicit": DATA_SETTINGS
    + ("epochs_implicit", "lr", "clip", "validate_every", "eval_iterations")
    + ("unroll_first", "unroll_second", "switch_fraction", "second_phase_lr"),
}


def config(profile: str | None = None) -> LPConfig:
    """The configuration of a profile (``smoke``, ``cpu`` or ``gpu``; default: the current one)."""
    profile = profile or current_profile()

    def p(**kw):
        return pick(profile=profile, **kw)

    return LPConfig(
        num_train=p(smoke=60, cpu=600, gpu=2500),
        num_test=p(smoke=40, cpu=400, gpu=1000),
        num_val=p(smoke=20, cpu=200, gpu=500),
        validate_every=p(smoke=5, cpu=10, gpu=50),
        embeddings=p(smoke=(4, 8), cpu=(4, 8, 16, 32), gpu=(4, 8, 16, 32)),
        seeds=p(smoke=(0,), cpu=(0, 1, 2), gpu=(0, 1, 2)),
        seeds_largest=p(smoke=1, cpu=2, gpu=3),
        epochs_explicit=p(smoke=30, cpu=300, gpu=1500),
        epochs_implicit=p(smoke=30, cpu=300, gpu=1500),
        lipschitz_instances=p(smoke=10, cpu=200, gpu=1000),
        workers=p(smoke=1, cpu=2, gpu=1),
        # a few hundred epochs: the cosine alone; thousands: also drop the rate at the switch
        second_phase_lr=p(smoke=1.0, cpu=1.0, gpu=0.1),
    )


def training_steps(cfg: LPConfig) -> dict[str, int]:
    """The optimiser steps a configuration trains, per model, over every seed: one full-batch step
    per epoch (``train.train_one``), early stopping ignored. The implicit model's steps are counted
    at the deeper unroll of its second phase. Keys as in :mod:`implicit_edu.runtime.gpu_steps`:
    ``explicit-d{d}``, ``implicit-d{d}``."""
    steps: dict[str, int] = {}
    for d in cfg.embeddings:
        steps[f"explicit-d{d}"] = len(cfg.seeds_for(d)) * cfg.epochs_explicit
        steps[f"implicit-d{d}"] = len(cfg.seeds_for(d)) * cfg.epochs_implicit
    return steps
