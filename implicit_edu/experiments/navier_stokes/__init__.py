"""Case study: steady Navier–Stokes with Fourier neural operators (chapter "Steady Navier–Stokes").

Modules: :mod:`.physics` (the steady vorticity equation, its residual and our pseudo-spectral
solver), :mod:`.data` (random forcings, the data set, the finer-grid test set), :mod:`.models`
(the explicit FNO and the implicit FNO-DEQ), :mod:`.config` (the three scales), :mod:`.train`
(the common training protocol, learning rates and early stops chosen on validation),
:mod:`.evaluate` (errors and L_t against the iterations t, contraction, the true map's ratios).
"""

from implicit_edu.experiments.navier_stokes.config import (
    KINDS,
    PAPER,
    DataConfig,
    EvalConfig,
    ModelConfig,
    NavierStokesConfig,
    TrainConfig,
    config,
    training_steps,
)
from implicit_edu.experiments.navier_stokes.data import (
    band_modes,
    fine_grid_test,
    generate,
    random_forcing,
    splits,
    upsample,
)
from implicit_edu.experiments.navier_stokes.models import (
    ExplicitFNO,
    FNOBlock,
    FourierLayer,
    ImplicitFNO,
    SpectralConv,
)
from implicit_edu.experiments.navier_stokes.physics import (
    SpectralGrid,
    SteadyResult,
    advection,
    cfl_step,
    kolmogorov_forcing,
    solve_steady,
    steady_residual,
    stokes_solution,
    time_step,
    velocity,
)
from implicit_edu.experiments.navier_stokes.train import (
    build,
    cached_model,
    load,
    predict,
    relative_errors,
    train_all,
    train_one,
)

__all__ = [
    "training_steps",
    "KINDS",
    "PAPER",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "NavierStokesConfig",
    "TrainConfig",
    "config",
    "band_modes",
    "fine_grid_test",
    "generate",
    "random_forcing",
    "splits",
    "upsample",
    "ExplicitFNO",
    "FNOBlock",
    "FourierLayer",
    "ImplicitFNO",
    "SpectralConv",
    "SpectralGrid",
    "SteadyResult",
    "advection",
    "cfl_step",
    "kolmogorov_forcing",
    "solve_steady",
    "steady_residual",
    "stokes_solution",
    "time_step",
    "velocity",
    "build",
    "cached_model",
    "load",
    "predict",
    "relative_errors",
    "train_all",
    "train_one",
]
