"""Data, pretraining and training of the deblurring models (chapter "Image deblurring").

Every function here takes the :class:`DeblurConfig` and is deterministic given it. Trained
weights are cached on disk by :func:`implicit_edu.cases.cache.cached_state`. Independent models
can be trained in parallel worker processes (one torch thread each): :func:`train_models`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from implicit_edu.cases.cache import cached_arrays, cached_state
from implicit_edu.cases.deblur.config import DeblurConfig
from implicit_edu.cases.deblur.data import TEST_IMAGES, TRAIN_IMAGES, random_crops
from implicit_edu.cases.deblur.models import (
    Denoiser,
    ExplicitDeblur,
    ImplicitHQS,
    ImplicitPGD,
    widen,
)
from implicit_edu.cases.deblur.physics import BlurOperator, motion_kernel
from implicit_edu.cases.parallel import run_jobs
from implicit_edu.deq import DEQ
from implicit_edu.notebook import show_progress
from implicit_edu.profiles import fixed_threads, get_device

__all__ = [
    "MODEL_NAMES",
    "make_blur",
    "make_data",
    "observe",
    "build_denoiser",
    "pretrain_denoiser",
    "build_model",
    "make_deq",
    "train_models",
]


def _model_names(cfg: DeblurConfig) -> tuple[str, ...]:
    return ("pgd", "hqs") + tuple(f"explicit-x{m}" for m in cfg.explicit_multipliers)


MODEL_NAMES = _model_names(DeblurConfig())


def _check_config(cfg: Any) -> None:
    if not isinstance(cfg, DeblurConfig):
        raise TypeError(
            f"expected a DeblurConfig (from implicit_edu.cases.deblur.config()), "
            f"got {type(cfg).__name__}"
        )


def make_blur(cfg: DeblurConfig) -> BlurOperator:
    """A = the generated motion blur of the configuration, on crops of its size."""
    _check_config(cfg)
    return BlurOperator(motion_kernel(cfg.kernel_size, cfg.kernel_seed), (cfg.crop, cfg.crop))


def observe(blur: BlurOperator, clean: torch.Tensor, noise: float, generator=None):
    """x = A y + n with n ~ N(0, noise² I)."""
    n = torch.randn(clean.shape, generator=generator, dtype=clean.dtype).to(clean.device)
    return blur.forward(clean) + noise * n


_DATA_FIELDS = (
    "version",
    "seed",
    "colour",
    "crop",
    "train_crops",
    "test_crops",
    "kernel_size",
    "kernel_seed",
    "noise",
)
_DENOISER_FIELDS = _DATA_FIELDS + (
    "width",
    "scales",
    "blocks",
    "pretrain_steps",
    "pretrain_batch",
    "pretrain_lr",
    "pretrain_sigma_max",
)


def _key(cfg: DeblurConfig, fields: tuple[str, ...]) -> dict[str, Any]:
    """The part of the configuration that determines a cached object (so that changing, say,
    the training steps does not regenerate the data or pretrain the denoiser again)."""
    return {name: getattr(cfg, name) for name in fields}


def make_data(cfg: DeblurConfig) -> dict[str, torch.Tensor]:
    """Training crops, test crops and their fixed noisy blurred observations (cached)."""
    _check_config(cfg)

    def build():
        rng = np.random.default_rng(cfg.seed)
        train = random_crops(TRAIN_IMAGES, cfg.train_crops, cfg.crop, cfg.colour, rng)
        test = random_crops(TEST_IMAGES, cfg.test_crops, cfg.crop, cfg.colour, rng)
        generator = torch.Generator().manual_seed(cfg.seed + 1)
        observed = observe(make_blur(cfg), torch.from_numpy(test), cfg.noise, generator)
        return {"train": train, "test": test, "test_observed": observed.numpy()}

    arrays = cached_arrays("deblur-data", _key(cfg, _DATA_FIELDS), build)
    return {key: torch.from_numpy(value) for key, value in arrays.items()}


def build_denoiser(cfg: DeblurConfig, multiplier: int = 1) -> Denoiser:
    """H with about ``multiplier`` × the parameters of the base denoiser (width × √multiplier)."""
    _check_config(cfg)
    factor = round(multiplier**0.5)
    if not (isinstance(multiplier, int) and multiplier >= 1 and factor**2 == multiplier):
        raise ValueError(f"multiplier must be a square integer (1, 4, 16, ...), got {multiplier!r}")
    return Denoiser(cfg.channels, cfg.width * factor, cfg.scales, cfg.blocks)


def _batches(data: torch.Tensor, batch: int, steps: int, seed: int):
    """``steps`` random mini-batches with random flips (a fresh augmentation per step)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(data), (batch,), generator=generator)
        images = data[index]
        if bool(torch.rand((), generator=generator) < 0.5):
            images = images.flip(-1)
        if bool(torch.rand((), generator=generator) < 0.5):
            images = images.flip(-2)
        yield images, generator


def pretrain_denoiser(cfg: DeblurConfig, progress: bool | None = None) -> dict[str, Any]:
    """Train H as a Gaussian denoiser on the training crops (cached): Adam on the MSE.

    Each step draws noise levels σ uniformly from (0, pretrain_sigma_max) per image and asks
    H(y + σ n, σ) to return y. Returns ``{"model": state_dict, "loss": [...], "seconds": s}``.
    """
    _check_config(cfg)

    def build():
        torch.manual_seed(cfg.seed)
        device = get_device()
        # small convolutions: one thread is robust on a busy CPU
        with fixed_threads(1 if device.type == "cpu" else None):
            return _pretrain(cfg, device, progress)

    return cached_state("deblur-denoiser", _key(cfg, _DENOISER_FIELDS), build)


def _pretrain(cfg: DeblurConfig, device: torch.device, progress: bool | None) -> dict[str, Any]:
    """The training loop of :func:`pretrain_denoiser`."""
    from tqdm.auto import tqdm

    model = build_denoiser(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.pretrain_lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.pretrain_steps)
    train = make_data(cfg)["train"]
    losses, start = [], time.perf_counter()
    batches = _batches(train, cfg.pretrain_batch, cfg.pretrain_steps, cfg.seed + 10)
    bar = tqdm(
        batches,
        total=cfg.pretrain_steps,
        desc="pretraining H",
        disable=not show_progress(progress),
    )
    for clean, generator in bar:
        clean = clean.to(device)
        sigma = cfg.pretrain_sigma_max * torch.rand(len(clean), generator=generator)
        noise = torch.randn(clean.shape, generator=generator)
        noisy = clean + (sigma.view(-1, 1, 1, 1) * noise).to(device)
        loss = nn.functional.mse_loss(model(noisy, sigma.to(device)), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return {
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        "loss": losses,
        "seconds": time.perf_counter() - start,
    }


def build_model(cfg: DeblurConfig, name: str, denoiser_state=None) -> nn.Module:
    """The model ``name`` ("pgd", "hqs", "explicit-x1", "explicit-x4", ...), untrained.

    With ``denoiser_state`` (the pretrained H's weights) every denoiser starts from them: the
    implicit models and explicit ×1 load them, the wider explicit models are initialised by
    :func:`~implicit_edu.cases.deblur.models.widen` to compute exactly the pretrained H, with
    extra channels that training can use.
    """
    _check_config(cfg)
    blur = make_blur(cfg)
    if name in ("pgd", "hqs"):
        denoiser = build_denoiser(cfg)
        if denoiser_state is not None:
            denoiser.load_state_dict(denoiser_state)
        if name == "pgd":
            return ImplicitPGD(denoiser, blur, cfg.gamma_init, cfg.sigma_init)
        return ImplicitHQS(denoiser, blur, cfg.beta_init, cfg.sigma_init)
    if name.startswith("explicit-x") and name[len("explicit-x") :].isdigit():
        multiplier = int(name[len("explicit-x") :])
        denoiser = build_denoiser(cfg, multiplier)
        if denoiser_state is not None:
            narrow = build_denoiser(cfg)
            narrow.load_state_dict(denoiser_state)
            widen(narrow, denoiser)
        return ExplicitDeblur(denoiser, blur, cfg.tikhonov, cfg.sigma_init)
    raise ValueError(f"unknown model {name!r}; use one of {', '.join(_model_names(cfg))}")


def make_deq(cfg: DeblurConfig, operator: nn.Module, backward: str = "ift") -> DEQ:
    """The DEQ layer of an implicit operator: Anderson forwards, implicit backward."""
    return DEQ(
        operator,
        solver="anderson",
        backward=backward,
        tol=cfg.forward_tol,
        max_iter=cfg.forward_max_iter,
        backward_tol=cfg.backward_tol,
        backward_max_iter=cfg.backward_max_iter,
        solver_options={"m": 5},
        warn_on_nonconvergence=False,
    )


def _train_one(cfg: DeblurConfig, name: str, denoiser_state, threads: int | None) -> dict:
    """Train model ``name`` end to end on the deblurring task; returns its state and history."""
    with fixed_threads(threads):
        return _train_steps(cfg, name, denoiser_state)


def _train_steps(cfg: DeblurConfig, name: str, denoiser_state) -> dict:
    """The training loop of :func:`_train_one`: Adam on the MSE, cosine learning-rate schedule."""
    torch.manual_seed(cfg.seed + 100)
    device = get_device()
    model = build_model(cfg, name, denoiser_state).to(device)
    implicit = name in ("pgd", "hqs")
    forward = make_deq(cfg, model) if implicit else model
    steps = cfg.implicit_steps if implicit else cfg.explicit_steps
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    train, blur = make_data(cfg)["train"], model.blur
    history: dict[str, list] = {"loss": [], "forward_iterations": [], "backward_iterations": []}
    start = time.perf_counter()
    for clean, generator in _batches(train, cfg.batch, steps, cfg.seed + 20):
        x = observe(blur, clean, cfg.noise, generator).to(device)
        loss = nn.functional.mse_loss(forward(x), clean.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history["loss"].append(loss.item())
        if implicit:
            history["forward_iterations"].append(forward.forward_result.iterations)
            history["backward_iterations"].append(forward.backward_result.iterations)
    return {
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        "history": history,
        "seconds": time.perf_counter() - start,
    }


def _cached_model(cfg: DeblurConfig, name: str, denoiser_state, threads: int | None) -> dict:
    """The trained model ``name``: from the cache, or trained (module level: runs in workers)."""
    key = {"config": dataclasses.asdict(cfg), "model": name}
    return cached_state("deblur-model", key, lambda: _train_one(cfg, name, denoiser_state, threads))


def train_models(
    cfg: DeblurConfig, names=None, workers: int = 1, progress: bool | None = None
) -> dict[str, dict]:
    """Train (or load from the cache) the models ``names`` (default: all of the configuration).

    With ``workers`` > 1 the models are trained at the same time in worker processes ("spawn",
    one torch thread each); if the pool cannot start (or fails) they are trained one after the
    other in this process. Returns ``{name: {"model", "history", "seconds"}}``.
    """
    _check_config(cfg)
    names = tuple(names or _model_names(cfg))
    for name in names:
        build_model(cfg, name)  # fail now on an unknown name
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    denoiser_state = pretrain_denoiser(cfg, progress)["model"]
    threads = 1 if get_device().type == "cpu" else None  # small convolutions: one thread each
    todo = {name: (cfg, name, denoiser_state, threads) for name in names}
    return run_jobs(_cached_model, todo, workers, show_progress(progress))
