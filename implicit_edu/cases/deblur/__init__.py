"""Case study: image deblurring with implicit plug-and-play operators (chapter "Image deblurring").

Modules: :mod:`.physics` (blur operator, kernels, PSNR), :mod:`.data` (scikit-image photographs,
crops), :mod:`.models` (denoiser, implicit PGD and HQS, the explicit baseline), :mod:`.config`
(the three scales), :mod:`.train` (pretraining, training, cache, workers), :mod:`.evaluate`
(PSNR and Lipschitz constants against the iterations t).
"""

from implicit_edu.cases.deblur.config import PAPER_LIPSCHITZ, DeblurConfig, config
from implicit_edu.cases.deblur.data import TEST_IMAGES, TRAIN_IMAGES, load_image, random_crops
from implicit_edu.cases.deblur.evaluate import (
    explicit_lipschitz,
    fixed_point_outputs,
    iterates,
    lipschitz_against_iterations,
    psnr_against_iterations,
    state_jacobian_norms,
)
from implicit_edu.cases.deblur.models import (
    Denoiser,
    ExplicitDeblur,
    ImplicitHQS,
    ImplicitPGD,
    parameter_count,
    widen,
)
from implicit_edu.cases.deblur.physics import (
    NOISE_LEVEL,
    BlurOperator,
    gaussian_kernel,
    motion_kernel,
    psnr,
)
from implicit_edu.cases.deblur.train import (
    MODEL_NAMES,
    build_denoiser,
    build_model,
    make_blur,
    make_data,
    make_deq,
    observe,
    pretrain_denoiser,
    train_models,
)

__all__ = [
    "DeblurConfig",
    "PAPER_LIPSCHITZ",
    "config",
    "TRAIN_IMAGES",
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
    "parameter_count",
    "widen",
    "MODEL_NAMES",
    "make_blur",
    "make_data",
    "observe",
    "build_denoiser",
    "build_model",
    "make_deq",
    "pretrain_denoiser",
    "train_models",
    "iterates",
    "psnr_against_iterations",
    "state_jacobian_norms",
    "fixed_point_outputs",
    "lipschitz_against_iterations",
    "explicit_lipschitz",
]
