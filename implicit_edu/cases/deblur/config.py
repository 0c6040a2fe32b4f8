"""The one configuration object of the deblurring case study, with its three scales."""

from __future__ import annotations

from dataclasses import dataclass

from implicit_edu.paper import DEBLUR_LIPSCHITZ
from implicit_edu.profiles import current_profile, pick

__all__ = ["DeblurConfig", "config", "PAPER_LIPSCHITZ"]


@dataclass(frozen=True)
class DeblurConfig:
    """Every setting that determines the data, the models and their training.

    The cache (``implicit_edu.cases.cache``) is keyed by a hash of this object: change a field
    (or bump ``version`` when the code changes what is computed) and everything is recomputed.
    """

    version: int = 3
    profile: str = "cpu"
    seed: int = 0
    # data and physics
    colour: bool = False
    crop: int = 48
    train_crops: int = 4096
    test_crops: int = 128
    kernel_size: int = 9
    kernel_seed: int = 3
    noise: float = 0.03
    # the denoiser H (DRUNet-style U-Net)
    width: int = 12
    scales: int = 3
    blocks: int = 1
    # pretraining H as a denoiser, σ drawn uniformly from (0, pretrain_sigma_max)
    pretrain_steps: int = 1000
    pretrain_batch: int = 16
    pretrain_lr: float = 2e-3
    pretrain_sigma_max: float = 0.15
    # training the deblurring models (Adam, MSE)
    batch: int = 8
    lr: float = 5e-4
    implicit_steps: int = 200
    explicit_steps: int = 400
    explicit_multipliers: tuple[int, ...] = (1, 4, 16)  # parameters ×; width × √multiplier
    gamma_init: float = 0.9  # PGD step, as a fraction of 1/‖A‖²
    beta_init: float = 0.5  # HQS penalty β
    sigma_init: float = 0.03  # denoiser noise level σ
    tikhonov: float = 0.02  # λ of the explicit model's first estimate
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

    @property
    def channels(self) -> int:
        return 3 if self.colour else 1


def config(profile: str | None = None) -> DeblurConfig:
    """The configuration of ``profile`` (default: the active profile)."""
    profile = profile or current_profile()

    def p(**values):
        return pick(**values, profile=profile)

    return DeblurConfig(
        profile=profile,
        colour=p(smoke=False, cpu=False, gpu=True),
        crop=p(smoke=16, cpu=48, gpu=128),
        train_crops=p(smoke=64, cpu=4096, gpu=8192),
        test_crops=p(smoke=8, cpu=128, gpu=256),
        width=p(smoke=4, cpu=12, gpu=32),
        scales=p(smoke=2, cpu=3, gpu=4),
        blocks=p(smoke=1, cpu=1, gpu=1),
        pretrain_steps=p(smoke=10, cpu=1000, gpu=2000),
        pretrain_batch=p(smoke=4, cpu=16, gpu=16),
        implicit_steps=p(smoke=3, cpu=200, gpu=600),
        explicit_steps=p(smoke=6, cpu=400, gpu=1200),
        batch=p(smoke=2, cpu=8, gpu=4),
        lr=p(smoke=5e-4, cpu=5e-4, gpu=1e-4),
        forward_max_iter=p(smoke=6, cpu=20, gpu=30),
        backward_max_iter=p(smoke=5, cpu=15, gpu=20),
        eval_iterations=p(smoke=5, cpu=30, gpu=60),
        lipschitz_images=p(smoke=1, cpu=4, gpu=4),
        lipschitz_iterations=p(smoke=4, cpu=30, gpu=50),
    )


#: The paper's empirical Lipschitz constants of the deblurring operators (implicit_edu.paper).
PAPER_LIPSCHITZ = DEBLUR_LIPSCHITZ
