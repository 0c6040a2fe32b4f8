"""Case study: image deblurring with implicit plug-and-play operators (chapter "Image deblurring").

Modules: :mod:`.physics` (blur operator, kernels, PSNR), :mod:`.data` (scikit-image photographs
split into training, validation and test images; crops), :mod:`.models` (denoiser, implicit PGD
and HQS, the explicit baseline), :mod:`.config` (the three scales), :mod:`.train` (pretraining
of every width, the choice of λ, training with early stopping on validation, cache, workers),
:mod:`.evaluate` (PSNR and Lipschitz constants against the iterations t, contraction factors,
paired comparisons blocked by image).
"""

from implicit_edu.experiments.deblur.config import (
    PAPER_LIPSCHITZ,
    DeblurConfig,
    config,
    training_steps,
)
from implicit_edu.experiments.deblur.data import (
    TEST_IMAGES,
    TRAIN_IMAGES,
    VALIDATION_IMAGES,
    load_image,
    random_crops,
)
from implicit_edu.experiments.deblur.evaluate import (
    explicit_lipschitz,
    fixed_point_outputs,
    image_blocked_interval,
    lipschitz_against_iterations,
    per_image_means,
    psnr_against_iterations,
    state_jacobian_norms,
)
from implicit_edu.experiments.deblur.models import (
    Denoiser,
    ExplicitDeblur,
    ImplicitHQS,
    ImplicitPGD,
    denoiser_multiply_adds,
)
from implicit_edu.experiments.deblur.physics import (
    NOISE_LEVEL,
    BlurOperator,
    gaussian_kernel,
    motion_kernel,
    psnr,
)
from implicit_edu.experiments.deblur.train import (
    MODEL_NAMES,
    Trained,
    build_denoiser,
    build_model,
    choose_tikhonov,
    make_blur,
    make_data,
    make_deq,
    multiplier_of,
    observe,
    pretrain_denoiser,
    tikhonov_scores,
    train_models,
    training_multiply_adds,
)

__all__ = [
    "training_steps",
    "DeblurConfig",
    "PAPER_LIPSCHITZ",
    "config",
    "TRAIN_IMAGES",
    "VALIDATION_IMAGES",
    "TEST_IMAGES",
    "load_image",
    "random_crops",
    "BlurOperator",
    "motion_kernel",
    "gaussian_kernel",
    "psnr",
    "NOISE_LEVEL",
    "Denoiser",
    "ImplicitPGD",
    "ImplicitHQS",
    "ExplicitDeblur",
    "denoiser_multiply_adds",
    "MODEL_NAMES",
    "Trained",
    "make_blur",
    "make_data",
    "observe",
    "multiplier_of",
    "tikhonov_scores",
    "choose_tikhonov",
    "build_denoiser",
    "build_model",
    "make_deq",
    "pretrain_denoiser",
    "train_models",
    "training_multiply_adds",
    "psnr_against_iterations",
    "state_jacobian_norms",
    "fixed_point_outputs",
    "lipschitz_against_iterations",
    "explicit_lipschitz",
    "per_image_means",
    "image_blocked_interval",
]
