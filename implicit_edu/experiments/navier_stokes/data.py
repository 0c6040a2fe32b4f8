"""Data for the Navier–Stokes case study: random forcings and their steady vorticities.

No data set is downloaded: every pair (φ, ω) is computed here. A forcing is a Gaussian random
field whose Fourier modes are nonzero only in the band k_min ≤ ‖k‖ ≤ k_max, scaled to a given
root-mean-square value; its steady vorticity comes from
:func:`implicit_edu.experiments.navier_stokes.physics.solve_steady`. Forcings whose flow reaches no
steady state within the solver's budget are dropped and counted. The arrays are cached on disk,
keyed by the data configuration and the code that computes them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.experiments.navier_stokes.config import DATA_SETTINGS, FINE_SETTINGS, DataConfig
from implicit_edu.experiments.navier_stokes.physics import SpectralGrid, solve_steady
from implicit_edu.runtime.cache import cached_arrays, keyed
from implicit_edu.runtime.profiles import fixed_threads, get_device

__all__ = ["random_forcing", "generate", "splits", "fine_grid_test", "band_modes", "upsample"]

SPLITS = ("train", "val", "test")


def random_forcing(
    num: int, n: int, *, k_min: float, k_max: float, rms: float, seed: int
) -> torch.Tensor:
    """``num`` band-limited random forcings on an n × n grid, float64, shape (num, n, n).

    Each retained mode gets an independent standard complex Gaussian coefficient; the field is
    then scaled to the root-mean-square value ``rms``. The same seed gives the same forcings.
    """
    check_positive_integers(num=num)
    if not 0 < k_min <= k_max < n / 3:
        raise ValueError(
            f"need 0 < k_min ≤ k_max < n/3 (so the band survives dealiasing), got "
            f"k_min={k_min}, k_max={k_max}, n={n}"
        )
    generator = torch.Generator().manual_seed(seed)
    grid = SpectralGrid(n)
    shape = (num, n, n // 2 + 1, 2)
    spectrum = torch.view_as_complex(torch.randn(shape, generator=generator, dtype=torch.float64))
    radius = grid.k2.sqrt()
    band = ((radius >= k_min) & (radius <= k_max)).to(torch.float64)
    field = grid.ifft(spectrum * band)
    return field * (rms / field.flatten(1).pow(2).mean(dim=1).sqrt())[:, None, None]


def _solve_in_chunks(forcing: torch.Tensor, cfg: DataConfig, chunk: int = 256):
    """Steady states of many forcings, a chunk at a time, on the GPU where there is one.

    On a CPU the batched FFTs of a chunk are large enough for all cores (up to 4 threads; the
    chapters otherwise run on one thread, which suits their small models). The thread count is
    fixed by the machine, not by the build's share of it (``tools/build_book.py`` gives chapters
    side by side one thread each): the FFTs' results depend on it in their last bits, and the
    FNO-DEQ is sensitive to such bits (in a build that also generated the data on one thread,
    the share of test flows its forward solve converges on fell from 97 % below the chapter's
    95 %).
    """
    device = get_device()
    threads = min(4, os.cpu_count() or 1) if device.type == "cpu" else None
    omegas, converged, residuals = [], [], []
    with fixed_threads(threads):
        for start in range(0, forcing.shape[0], chunk):
            part = forcing[start : start + chunk].to(device)
            result = solve_steady(part, cfg.nu, cfg.drag, tol=cfg.tol)
            omegas.append(result.omega.cpu())
            converged.append(result.converged.cpu())
            residuals.append(result.residual.cpu())
    return torch.cat(omegas), torch.cat(converged), torch.cat(residuals)


def _build(cfg: DataConfig) -> dict[str, np.ndarray]:
    wanted = cfg.num_train + cfg.num_val + cfg.num_test
    # draw a margin for the samples that reach no steady state, then keep the first `wanted`
    attempts = int(np.ceil(wanted / cfg.expected_yield))
    forcing = random_forcing(
        attempts, cfg.grid, k_min=cfg.k_min, k_max=cfg.k_max, rms=cfg.rms, seed=cfg.seed
    )
    omega, converged, residual = _solve_in_chunks(forcing, cfg)
    keep = torch.nonzero(converged).flatten()
    if keep.numel() < wanted:
        raise RuntimeError(
            f"only {keep.numel()} of {attempts} forcings reached a steady state, fewer than the "
            f"{wanted} needed: lower the forcing's rms or raise DataConfig.expected_yield's margin"
        )
    used = int(keep[wanted - 1]) + 1  # forcings looked at until `wanted` had converged
    keep = keep[:wanted]
    return {
        "forcing": forcing[keep].numpy(),
        "omega": omega[keep].numpy(),
        "residual": residual[keep].numpy(),
        "attempted": np.array(used),
        "dropped": np.array(used - wanted),
    }


def generate(cfg: DataConfig) -> dict[str, np.ndarray]:
    """All samples of the configuration (cached): forcing, omega (S, N, N), residual (S,),
    and the counts ``attempted`` and ``dropped`` (forcings with no steady state)."""
    view, key = keyed(cfg, DATA_SETTINGS, sys.modules[__name__])
    return cached_arrays("navier-stokes-data", key, lambda: _build(view))


def splits(cfg: DataConfig) -> dict[str, dict[str, torch.Tensor]]:
    """``{"train" | "val" | "test": {"forcing", "omega"}}`` as float64 tensors."""
    arrays = generate(cfg)
    bounds = np.cumsum([0, cfg.num_train, cfg.num_val, cfg.num_test])
    return {
        name: {
            key: torch.as_tensor(arrays[key][bounds[i] : bounds[i + 1]])
            for key in ("forcing", "omega")
        }
        for i, name in enumerate(SPLITS)
    }


def upsample(field: torch.Tensor, n: int) -> torch.Tensor:
    """A field (B, N, N) on a finer n × n grid by Fourier interpolation (zero-padding)."""
    small = field.shape[-1]
    if n < small:
        raise ValueError(f"upsample goes to a finer grid: n = {n} < {small}")
    spectrum = torch.fft.rfft2(field)
    padded = spectrum.new_zeros(*field.shape[:-2], n, n // 2 + 1)
    half = small // 2
    padded[..., :half, :half] = spectrum[..., :half, :half]
    padded[..., -half:, :half] = spectrum[..., -half:, :half]
    return torch.fft.irfft2(padded, s=(n, n)) * (n / small) ** 2


def _build_fine(cfg: DataConfig) -> dict[str, np.ndarray]:
    test = splits(cfg)["test"]
    forcing = upsample(test["forcing"][: cfg.num_fine], cfg.fine_grid)
    start = upsample(test["omega"][: cfg.num_fine], cfg.fine_grid)
    with fixed_threads(min(4, os.cpu_count() or 1)):
        result = solve_steady(forcing, cfg.nu, cfg.drag, tol=cfg.tol, omega0=start, march_steps=0)
    return {
        "forcing": forcing.numpy(),
        "omega": result.omega.numpy(),
        "converged": result.converged.numpy(),
        "residual": result.residual.numpy(),
    }


def fine_grid_test(cfg: DataConfig) -> dict[str, torch.Tensor]:
    """The first ``num_fine`` test forcings on the ``fine_grid`` grid, solved there (cached).

    The forcings are band-limited, so they are exactly the same functions on the finer grid;
    the solve starts from the coarse solution, interpolated.
    """
    view, key = keyed(cfg, FINE_SETTINGS, sys.modules[__name__])
    arrays = cached_arrays("navier-stokes-fine", key, lambda: _build_fine(view))
    return {key: torch.as_tensor(value) for key, value in arrays.items()}


def band_modes(n: int, k_min: float, k_max: float) -> torch.Tensor:
    """Unit-norm Fourier modes cos(k·x) and sin(k·x) of the forcing band, one per wave vector
    k = (k_x, k_y) with k_x > 0 or (k_x = 0, k_y > 0): shape (K, n, n), float64."""
    y = 2 * np.pi * torch.arange(n, dtype=torch.float64) / n
    Y, X = torch.meshgrid(y, y, indexing="ij")
    modes = []
    top = int(np.floor(k_max))
    for kx in range(0, top + 1):
        for ky in range(-top, top + 1):
            if not k_min <= np.hypot(kx, ky) <= k_max or (kx == 0 and ky <= 0):
                continue
            for wave in (torch.cos(kx * X + ky * Y), torch.sin(kx * X + ky * Y)):
                modes.append(wave / wave.norm())
    return torch.stack(modes)
