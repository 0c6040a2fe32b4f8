"""The one configuration object of the deblurring case study, with its three scales.

The paper trains a DRUNet of 32.6 M parameters on colour crops of 128² and compares it with explicit
networks of 4, 16 and 32 times its size. The ``gpu`` scale keeps the protocol (colour, a
four-scale DRUNet-style denoiser, explicit baselines of 4 and 16 times its parameters, each width
pretrained with the same budget, three seeds of every model) and is sized by
:func:`~implicit_edu.experiments.deblur.train.training_multiply_adds` with the aim of fitting 30
minutes of one Colab GPU (an operation count, not a measured time):
crops of 64² and a base width of 16, since pretraining the ×16 denoiser three times dominates the
cost. ``cpu`` is sized so that the chapter runs in about 6 minutes on 2 cores from an empty cache
(greyscale crops of 32², base width 8, three seeds of the models of the same size, one of the wider
explicit models).
"""

from __future__ import annotations

from dataclasses import dataclass

from implicit_edu.runtime.paper import DEBLUR_LIPSCHITZ
from implicit_edu.runtime.profiles import current_profile, pick

__all__ = [
    "training_steps",
    "DeblurConfig",
    "config",
    "PAPER_LIPSCHITZ",
    "DATA_SETTINGS",
    "DENOISER_SETTINGS",
    "MODEL_SETTINGS",
]


@dataclass(frozen=True)
class DeblurConfig:
    """Every setting that determines the data, the models and their training.

    The cache (:mod:`implicit_edu.runtime.cache`) keys each artefact on the settings it depends on
    (:data:`DATA_SETTINGS`, :data:`DENOISER_SETTINGS`, :data:`MODEL_SETTINGS`) and on the code
    that makes it. Hyperparameters are of two kinds: those fixed beforehand and identical for
    every model (learning rates, batch sizes, step budgets, the initial γ, β, σ) and those chosen
    on the validation images (the Tikhonov λ of the explicit models, from ``tikhonov_grid``, and
    every early stop).
    """

    profile: str = "cpu"
    seed: int = 0  # the data: crops, their noise and the test observations
    # data and physics
    colour: bool = False
    crop: int = 48
    train_crops: int = 4096
    validation_crops: int = 64
    test_crops: int = 128
    kernel_size: int = 9
    kernel_seed: int = 3
    noise: float = 0.03
    # training seeds: each seed pretrains its own denoisers and trains its own models
    seeds: tuple[int, ...] = (0, 1, 2)
    seeds_wide: int = 3  # how many of the seeds the wider explicit models (×4, ×16) are run for
    # the denoiser H (DRUNet-style U-Net)
    width: int = 12
    scales: int = 3
    blocks: int = 1
    # pretraining every width of H as a denoiser, σ drawn uniformly from (0, pretrain_sigma_max)
    pretrain_steps: int = 1000
    pretrain_batch: int = 16
    pretrain_lr: float = 2e-3
    pretrain_sigma_max: float = 0.15
    # training the deblurring models (Adam, MSE, cosine schedule), early-stopped on validation
    batch: int = 8
    lr: float = 5e-4
    implicit_steps: int = 200
    explicit_steps: int = 400
    validate_every: int = 25  # steps between validation losses (also for pretraining)
    explicit_multipliers: tuple[int, ...] = (1, 4, 16)  # parameters ×; width × √multiplier
    gamma_init: float = 0.9  # PGD step, as a fraction of 1/‖A‖²
    beta_init: float = 0.5  # HQS penalty β
    sigma_init: float = 0.03  # denoiser noise level σ
    tikhonov_grid: tuple[float, ...] = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
    # DEQ solves (Anderson forwards, implicit differentiation backwards)
    forward_max_iter: int = 20
    forward_tol: float = 1e-3
    backward_max_iter: int = 15
    backward_tol: float = 1e-3
    # evaluation
    eval_iterations: int = 30
    lipschitz_images: int = 4
    lipschitz_iterations: int = 30
    lipschitz_eps: float = 0.01
    ranks: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)

    def __post_init__(self) -> None:
        factor = 2 ** (self.scales - 1)
        if self.crop % factor:
            raise ValueError(f"crop {self.crop} must be divisible by 2^(scales − 1) = {factor}")
        if any(not 0 <= r <= 1 for r in self.ranks):
            raise ValueError(f"frequency ranks must lie in [0, 1], got {self.ranks}")
        if self.explicit_multipliers[0] != 1:
            raise ValueError("the first explicit model must be the equal-size one (multiplier 1)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        if not 1 <= self.seeds_wide <= len(self.seeds):
            raise ValueError(f"seeds_wide must lie in 1..{len(self.seeds)}, got {self.seeds_wide}")
        if not self.tikhonov_grid or any(not lam > 0 for lam in self.tikhonov_grid):
            raise ValueError(f"tikhonov_grid must hold positive values, got {self.tikhonov_grid}")
        if not (isinstance(self.validate_every, int) and self.validate_every >= 1):
            raise ValueError(
                f"validate_every must be a positive integer, got {self.validate_every}"
            )

    @property
    def channels(self) -> int:
        return 3 if self.colour else 1

    def seeds_for(self, multiplier: int) -> tuple[int, ...]:
        """The training seeds of the models whose denoiser has ``multiplier`` × the parameters."""
        return self.seeds if multiplier == 1 else self.seeds[: self.seeds_wide]


#: The settings of the data set, made by :func:`~implicit_edu.experiments.deblur.train.make_data`
#: (the crops, the blur, the noise, and the noisy validation crops of pretraining).
DATA_SETTINGS = (
    "seed",
    "colour",
    "crop",
    "train_crops",
    "validation_crops",
    "test_crops",  # the validation crops are drawn after the test crops
    "kernel_size",
    "kernel_seed",
    "noise",
    "pretrain_sigma_max",
)

#: The settings of a pretrained denoiser (besides its width multiplier and seed).
DENOISER_SETTINGS = DATA_SETTINGS + (
    "width",
    "scales",
    "blocks",
    "pretrain_steps",
    "pretrain_batch",
    "pretrain_lr",
    "validate_every",
)

_TASK = ("batch", "lr", "sigma_init")
_SOLVES = ("implicit_steps", "forward_max_iter", "forward_tol", "backward_max_iter", "backward_tol")

#: The settings a trained model depends on, "explicit" standing for every explicit-x<m>. They are
#: the key of its cache entry beside its name, seed and Tikhonov λ, and all its training may read
#: (:func:`implicit_edu.runtime.cache.keyed`). The other settings (``profile``, ``seeds``,
#: ``seeds_wide``, ``explicit_multipliers``, ``tikhonov_grid``, ``eval_iterations``,
#: ``lipschitz_*``, ``ranks``) choose which models are trained, λ (which is in the key by its
#: value) or how the models are measured: changing them retrains nothing.
MODEL_SETTINGS = {
    "pgd": DENOISER_SETTINGS + _TASK + _SOLVES + ("gamma_init",),
    "hqs": DENOISER_SETTINGS + _TASK + _SOLVES + ("beta_init",),
    "explicit": DENOISER_SETTINGS + _TASK + ("explicit_steps",),
}


def config(profile: str | None = None) -> DeblurConfig:
    """The configuration of ``profile`` (default: the active profile)."""
    profile = profile or current_profile()

    def p(**values):
        return pick(**values, profile=profile)

    return DeblurConfig(
        profile=profile,
        colour=p(smoke=False, cpu=False, gpu=True),
        crop=p(smoke=16, cpu=32, gpu=64),
        train_crops=p(smoke=64, cpu=4096, gpu=8192),
        validation_crops=p(smoke=6, cpu=64, gpu=128),
        test_crops=p(smoke=9, cpu=128, gpu=256),
        seeds=p(smoke=(0,), cpu=(0, 1, 2), gpu=(0, 1, 2)),
        seeds_wide=p(smoke=1, cpu=1, gpu=3),
        width=p(smoke=4, cpu=8, gpu=16),
        scales=p(smoke=2, cpu=3, gpu=4),
        blocks=p(smoke=1, cpu=1, gpu=1),
        pretrain_steps=p(smoke=10, cpu=500, gpu=2000),
        pretrain_batch=p(smoke=4, cpu=16, gpu=16),
        implicit_steps=p(smoke=4, cpu=200, gpu=600),
        explicit_steps=p(smoke=8, cpu=400, gpu=1200),
        validate_every=p(smoke=2, cpu=25, gpu=50),
        batch=p(smoke=2, cpu=8, gpu=8),
        lr=p(smoke=5e-4, cpu=5e-4, gpu=5e-4),
        forward_max_iter=p(smoke=6, cpu=20, gpu=30),
        backward_max_iter=p(smoke=5, cpu=15, gpu=20),
        eval_iterations=p(smoke=5, cpu=30, gpu=60),
        lipschitz_images=p(smoke=1, cpu=4, gpu=4),
        lipschitz_iterations=p(smoke=4, cpu=30, gpu=50),
    )


#: The paper's empirical Lipschitz constants of the deblurring operators
#: (implicit_edu.runtime.paper).
PAPER_LIPSCHITZ = DEBLUR_LIPSCHITZ


def training_steps(cfg: DeblurConfig) -> dict[str, int]:
    """The optimiser steps a configuration trains, per model, over every seed (early stopping
    ignored): each denoiser width's pretraining (``pretrain-x{m}``), its explicit model
    (``explicit-x{m}``) and the two implicit models (``pgd``, ``hqs``, on the ×1 denoiser), as
    ``train.train_models`` runs them: one job per width and seed. The keys are those of
    :mod:`implicit_edu.runtime.gpu_steps`."""
    steps: dict[str, int] = {}
    for m in cfg.explicit_multipliers:
        seeds = len(cfg.seeds_for(m))
        steps[f"pretrain-x{m}"] = seeds * cfg.pretrain_steps
        steps[f"explicit-x{m}"] = seeds * cfg.explicit_steps
    for name in ("pgd", "hqs"):
        steps[name] = len(cfg.seeds_for(1)) * cfg.implicit_steps
    return steps
