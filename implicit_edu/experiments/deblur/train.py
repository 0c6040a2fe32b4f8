"""Data, pretraining, the choice of λ and training of the deblurring models (chapter "Image
deblurring", sections "The inverse problem" and "Training").

Every function here takes the :class:`~implicit_edu.experiments.deblur.config.DeblurConfig` and is
deterministic given it (and a training seed). The protocol is the same for every model:

1. **Pretraining**: every width of the denoiser H (the one of the implicit models and of explicit
   ×1, and the wider ones of explicit ×4 and ×16) is trained as a Gaussian denoiser with the same
   budget (steps × batch, learning rate, schedule, the same stream of training batches).
2. **Tikhonov λ** of the explicit models' first estimate: the value of ``tikhonov_grid`` with the
   best validation PSNR of the Tikhonov estimate itself (:func:`tikhonov_scores`).
3. **Training on the task**: Adam on the MSE with a cosine schedule over a fixed budget of steps;
   every ``validate_every`` steps (and after the last) the validation loss is measured and the
   weights with the lowest one are kept (early stopping on validation), for pretraining, the
   implicit and the explicit models alike. The implicit models' forward and backward solves are
   recorded per step: iterations, final relative residual and the converged flag.

Trained weights are cached on disk by :func:`implicit_edu.runtime.cache.cached_state`. The
pretraining of one width and the models built on it form one job; jobs run in parallel worker
processes (one torch thread each): :func:`train_models`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.core.deq import DEQ
from implicit_edu.experiments.deblur.config import (
    DATA_SETTINGS,
    DENOISER_SETTINGS,
    MODEL_SETTINGS,
    DeblurConfig,
)
from implicit_edu.experiments.deblur.data import (
    TEST_IMAGES,
    TRAIN_IMAGES,
    VALIDATION_IMAGES,
    random_crops,
)
from implicit_edu.experiments.deblur.models import (
    Denoiser,
    ExplicitDeblur,
    ImplicitHQS,
    ImplicitPGD,
    denoiser_multiply_adds,
)
from implicit_edu.experiments.deblur.physics import BlurOperator, motion_kernel, psnr
from implicit_edu.runtime.cache import cached_arrays, cached_state, keyed
from implicit_edu.runtime.notebook import show_progress
from implicit_edu.runtime.parallel import run_jobs
from implicit_edu.runtime.profiles import fixed_threads, get_device

__all__ = [
    "MODEL_NAMES",
    "Trained",
    "make_blur",
    "make_data",
    "observe",
    "multiplier_of",
    "tikhonov_scores",
    "choose_tikhonov",
    "build_denoiser",
    "pretrain_denoiser",
    "build_model",
    "make_deq",
    "train_models",
    "training_multiply_adds",
]


def _model_names(cfg: DeblurConfig) -> tuple[str, ...]:
    return ("pgd", "hqs") + tuple(f"explicit-x{m}" for m in cfg.explicit_multipliers)


MODEL_NAMES = _model_names(DeblurConfig())


def _check_config(cfg: Any) -> None:
    if not isinstance(cfg, DeblurConfig):
        raise TypeError(
            f"expected a DeblurConfig (from implicit_edu.experiments.deblur.config()), "
            f"got {type(cfg).__name__}"
        )


def multiplier_of(name: str) -> int:
    """The parameter multiplier of model ``name``: 1 for "pgd", "hqs", "explicit-x1"; m for
    "explicit-xm"."""
    if name in ("pgd", "hqs"):
        return 1
    if name.startswith("explicit-x") and name[len("explicit-x") :].isdigit():
        return int(name[len("explicit-x") :])
    raise ValueError(f"unknown model {name!r}; use pgd, hqs or explicit-x<m> (m = 1, 4, 16, ...)")


def make_blur(cfg: DeblurConfig) -> BlurOperator:
    """A = the generated motion blur of the configuration, on crops of its size."""
    _check_config(cfg)
    return BlurOperator(motion_kernel(cfg.kernel_size, cfg.kernel_seed), (cfg.crop, cfg.crop))


def observe(blur: BlurOperator, clean: torch.Tensor, noise: float, generator=None):
    """x = A y + n with n ~ N(0, noise² I), equation (eq-deblur-forward)."""
    n = torch.randn(clean.shape, generator=generator, dtype=clean.dtype).to(clean.device)
    return blur.forward(clean) + noise * n


_THIS = sys.modules[__name__]  # the producer of every cached artefact of the case study


def make_data(cfg: DeblurConfig) -> dict[str, torch.Tensor]:
    """Training, validation and test crops, and the fixed inputs of validation and test (cached).

    Returns ``train``; ``validation`` with its observations ``validation_observed`` (x = Ay + n)
    and its noisy copies ``validation_noisy`` at levels ``validation_sigma`` (the validation set
    of pretraining); ``test`` with ``test_observed``; and ``validation_image``, ``test_image``:
    the index of each crop's photograph in VALIDATION_IMAGES or TEST_IMAGES. Validation and test
    crops are spread evenly over their photographs. The validation crops are drawn after the test
    crops, so adding them left the training and test crops as they were.
    """
    _check_config(cfg)
    # keyed on DATA_SETTINGS and the code of this module and the modules it imports; `build`
    # sees only those settings
    cfg, key = keyed(cfg, DATA_SETTINGS, _THIS)

    def build():
        rng = np.random.default_rng(cfg.seed)
        train = random_crops(TRAIN_IMAGES, cfg.train_crops, cfg.crop, cfg.colour, rng)
        test, test_image = random_crops(
            TEST_IMAGES, cfg.test_crops, cfg.crop, cfg.colour, rng, True, True
        )
        validation, validation_image = random_crops(
            VALIDATION_IMAGES, cfg.validation_crops, cfg.crop, cfg.colour, rng, True, True
        )
        blur = make_blur(cfg)
        generator = torch.Generator().manual_seed(cfg.seed + 1)
        test_observed = observe(blur, torch.from_numpy(test), cfg.noise, generator)
        generator = torch.Generator().manual_seed(cfg.seed + 2)
        validation_observed = observe(blur, torch.from_numpy(validation), cfg.noise, generator)
        count = len(validation)
        sigma = cfg.pretrain_sigma_max * (np.arange(count) + 0.5) / count  # spread over (0, max)
        noise = torch.randn(validation.shape, generator=generator).numpy()
        noisy = validation + sigma[:, None, None, None].astype(np.float32) * noise
        return {
            "train": train,
            "validation": validation,
            "validation_observed": validation_observed.numpy(),
            "validation_noisy": noisy.astype(np.float32),
            "validation_sigma": sigma.astype(np.float32),
            "validation_image": validation_image,
            "test": test,
            "test_observed": test_observed.numpy(),
            "test_image": test_image,
        }

    arrays = cached_arrays("deblur-data", key, build)
    return {key: torch.from_numpy(value) for key, value in arrays.items()}


def tikhonov_scores(cfg: DeblurConfig) -> dict[float, float]:
    """Mean validation PSNR (dB) of the Tikhonov estimate (AᵀA + λI)⁻¹Aᵀx for each λ of the grid.

    The explicit models' first estimate uses the best of these (:func:`choose_tikhonov`): a choice
    on the validation images, made before any model is trained.
    """
    data = make_data(cfg)
    blur = make_blur(cfg)
    observed, clean = data["validation_observed"], data["validation"]
    return {
        float(lam): float(psnr(blur.tikhonov(observed, lam), clean).mean())
        for lam in cfg.tikhonov_grid
    }


def choose_tikhonov(cfg: DeblurConfig) -> float:
    """The λ of ``cfg.tikhonov_grid`` with the best validation PSNR of the Tikhonov estimate."""
    scores = tikhonov_scores(cfg)
    return max(scores, key=scores.get)


def build_denoiser(cfg: DeblurConfig, multiplier: int = 1) -> Denoiser:
    """H with about ``multiplier`` × the parameters of the base denoiser (width × √multiplier)."""
    _check_config(cfg)
    factor = round(multiplier**0.5) if isinstance(multiplier, int) and multiplier >= 1 else 0
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


def _check_seed(seed: Any) -> None:
    if not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _is_best(losses: list[float]) -> bool:
    """Whether the last validation loss is the lowest finite one so far (ties keep the later,
    equally good weights)."""
    last = losses[-1]
    return math.isfinite(last) and last <= min(v for v in losses if math.isfinite(v))


def _no_finite_loss(what: str) -> RuntimeError:
    return RuntimeError(
        f"{what}: no validation loss was finite, so there are no weights to keep (the training "
        "diverged; lower the learning rate or check the data)"
    )


def _is_check(step: int, steps: int, every: int) -> bool:
    """Whether the validation loss is measured after ``step`` (1-based): every ``every`` steps
    and after the last."""
    return step % every == 0 or step == steps


def pretrain_denoiser(
    cfg: DeblurConfig, multiplier: int = 1, seed: int | None = None, progress: bool | None = None
) -> dict[str, Any]:
    """Train H of ``multiplier`` × the base parameters as a Gaussian denoiser (cached).

    Adam on the MSE with a cosine schedule: each step draws noise levels σ uniformly from
    (0, pretrain_sigma_max) per image and asks H(y + σ n, σ) to return y. Every width gets the
    same budget and the same batches (they depend on the seed only). Early stopping: the
    denoising MSE on the fixed noisy validation crops is measured every ``validate_every`` steps
    and after the last, and the weights of the lowest one are kept. Returns ``{"model":
    state_dict, "loss": [...], "val_steps": [...], "val_loss": [...], "best_step": int,
    "seconds": s}``.
    """
    _check_config(cfg)
    seed = cfg.seeds[0] if seed is None else seed
    _check_seed(seed)
    build_denoiser(cfg, multiplier)  # fail now on a bad multiplier

    view, key = keyed(cfg, DENOISER_SETTINGS, _THIS, multiplier=multiplier, seed=seed)

    def build():
        device = get_device()
        # small convolutions: one thread is robust on a busy CPU
        with fixed_threads(1 if device.type == "cpu" else None):
            return _pretrain(view, multiplier, seed, device, progress)

    return cached_state("deblur-denoiser", key, build)


@torch.no_grad()
def _denoising_loss(model: Denoiser, noisy, sigma, clean, device, batch: int = 64) -> float:
    """The denoising MSE of H on fixed noisy images (the validation loss of pretraining)."""
    total = 0.0
    for i in range(0, len(clean), batch):
        out = model(noisy[i : i + batch].to(device), sigma[i : i + batch].to(device))
        total += float(((out - clean[i : i + batch].to(device)) ** 2).sum())
    return total / clean.numel()


def _pretrain(
    cfg: DeblurConfig, multiplier: int, seed: int, device: torch.device, progress: bool | None
) -> dict[str, Any]:
    """The training loop of :func:`pretrain_denoiser`."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = build_denoiser(cfg, multiplier).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.pretrain_lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.pretrain_steps)
    data = make_data(cfg)
    validation = (data["validation_noisy"], data["validation_sigma"], data["validation"])
    losses, val_steps, val_losses = [], [], []
    best_state, best_step, start = None, 0, time.perf_counter()
    batches = _batches(data["train"], cfg.pretrain_batch, cfg.pretrain_steps, seed + 10)
    bar = tqdm(
        batches,
        total=cfg.pretrain_steps,
        desc=f"pretraining H ×{multiplier}",
        disable=not show_progress(progress),
    )
    for step, (clean, generator) in enumerate(bar, start=1):
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
        if _is_check(step, cfg.pretrain_steps, cfg.validate_every):
            val_steps.append(step)
            val_losses.append(_denoising_loss(model, *validation, device))
            if _is_best(val_losses):
                best_state, best_step = _weights(model), step
    if best_state is None:
        raise _no_finite_loss(f"pretraining H ×{multiplier} (seed {seed})")
    return {
        "model": best_state,
        "loss": losses,
        "val_steps": val_steps,
        "val_loss": val_losses,
        "best_step": best_step,
        "seconds": time.perf_counter() - start,
    }


def build_model(
    cfg: DeblurConfig, name: str, denoiser_state=None, lam: float | None = None
) -> nn.Module:
    """The model ``name`` ("pgd", "hqs", "explicit-x1", "explicit-x4", ...), untrained.

    With ``denoiser_state`` (the weights of a pretrained H of the model's width) the denoiser
    starts from them. The explicit models' first estimate uses the Tikhonov ``lam``; by default
    the one chosen on the validation images (:func:`choose_tikhonov`).
    """
    _check_config(cfg)
    multiplier = multiplier_of(name)
    if name.startswith("explicit") and multiplier not in cfg.explicit_multipliers:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(_model_names(cfg))}")
    return _build_model(cfg, name, denoiser_state, lam)


def _build_model(cfg: DeblurConfig, name: str, denoiser_state, lam: float | None) -> nn.Module:
    """:func:`build_model` without the check of ``name`` against ``explicit_multipliers`` (a
    setting that training does not depend on)."""
    multiplier = multiplier_of(name)
    blur = make_blur(cfg)
    denoiser = build_denoiser(cfg, multiplier)
    if denoiser_state is not None:
        denoiser.load_state_dict(denoiser_state)
    if name == "pgd":
        return ImplicitPGD(denoiser, blur, cfg.gamma_init, cfg.sigma_init)
    if name == "hqs":
        return ImplicitHQS(denoiser, blur, cfg.beta_init, cfg.sigma_init)
    lam = choose_tikhonov(cfg) if lam is None else lam
    return ExplicitDeblur(denoiser, blur, lam, cfg.sigma_init)


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


@torch.no_grad()
def _deblurring_loss(layer: nn.Module, observed, clean, device, batch: int = 64) -> float:
    """The MSE of a model's output (a DEQ's fixed point, or an explicit model's one pass) on
    fixed observations: the validation loss of the task."""
    total = 0.0
    for i in range(0, len(clean), batch):
        out = layer(observed[i : i + batch].to(device))
        total += float(((out - clean[i : i + batch].to(device)) ** 2).sum())
    return total / clean.numel()


def _train_steps(cfg: DeblurConfig, name: str, seed: int, denoiser_state, lam: float) -> dict:
    """Train model ``name`` on the deblurring task: Adam on the MSE, cosine schedule over the
    model's budget of steps, early-stopped on the validation loss (the rule of the module)."""
    torch.manual_seed(seed + 100)
    device = get_device()
    model = _build_model(cfg, name, denoiser_state, lam).to(device)
    implicit = name in ("pgd", "hqs")
    forward = make_deq(cfg, model) if implicit else model
    steps = cfg.implicit_steps if implicit else cfg.explicit_steps
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    data = make_data(cfg)
    validation = (data["validation_observed"], data["validation"])
    history: dict[str, list] = {"loss": [], "val_steps": [], "val_loss": []}
    if implicit:
        for part in ("forward", "backward"):
            for what in ("iterations", "residual", "converged"):
                history[f"{part}_{what}"] = []
    best_state, best_step, start = None, 0, time.perf_counter()
    batches = _batches(data["train"], cfg.batch, steps, seed + 20)
    for step, (clean, generator) in enumerate(batches, start=1):
        x = observe(model.blur, clean, cfg.noise, generator).to(device)
        loss = nn.functional.mse_loss(forward(x), clean.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history["loss"].append(loss.item())
        if implicit:
            for part in ("forward", "backward"):
                result = getattr(forward, f"{part}_result")
                history[f"{part}_iterations"].append(result.iterations)
                history[f"{part}_residual"].append(float(result.sample_residuals.max()))
                history[f"{part}_converged"].append(bool(result.converged))
        if _is_check(step, steps, cfg.validate_every):
            history["val_steps"].append(step)
            history["val_loss"].append(_deblurring_loss(forward, *validation, device))
            if _is_best(history["val_loss"]):
                best_state, best_step = _weights(model), step
    if best_state is None:
        raise _no_finite_loss(f"training {name} (seed {seed})")
    return {
        "model": best_state,
        "history": history,
        "best_step": best_step,
        "lam": lam if not implicit else None,
        "seconds": time.perf_counter() - start,
    }


def _cached_model(cfg: DeblurConfig, name: str, seed: int, denoiser_state, lam: float) -> dict:
    """The trained model ``name`` of ``seed``: from the cache, or trained now.

    Keyed on ``MODEL_SETTINGS`` of its kind (which contain those of its pretrained denoiser), its
    name, seed and λ, and the code of this module and the modules it imports.
    """
    explicit = name.startswith("explicit")
    fields = MODEL_SETTINGS["explicit" if explicit else name]
    lam = lam if explicit else None
    view, key = keyed(cfg, fields, _THIS, model=name, seed=seed, lam=lam)
    return cached_state(
        "deblur-model", key, lambda: _train_steps(view, name, seed, denoiser_state, lam)
    )


def _train_family(
    cfg: DeblurConfig, multiplier: int, seed: int, names: tuple[str, ...], lam: float, threads
) -> dict[str, Any]:
    """One job: pretrain H of one width for one seed, then train the models built on it (module
    level: it runs in worker processes)."""
    with fixed_threads(threads):
        denoiser = pretrain_denoiser(cfg, multiplier, seed, progress=False)
        models = {name: _cached_model(cfg, name, seed, denoiser["model"], lam) for name in names}
    return {"denoiser": denoiser, "models": models}


@dataclasses.dataclass
class Trained:
    """What :func:`train_models` returns.

    ``models[name, seed]`` and ``denoisers[multiplier, seed]`` are the results of training and
    pretraining (weights of the best validation loss, loss histories, ``best_step``, seconds);
    ``tikhonov`` maps each λ of the grid to its validation PSNR, and ``lam`` is the one chosen.
    """

    models: dict[tuple[str, int], dict]
    denoisers: dict[tuple[int, int], dict]
    tikhonov: dict[float, float]
    lam: float

    def seeds(self, name: str) -> list[int]:
        """The seeds for which model ``name`` was trained, in order."""
        return [seed for (other, seed) in self.models if other == name]


def train_models(
    cfg: DeblurConfig,
    names=None,
    workers: int = 1,
    progress: bool | None = None,
    seeds=None,
) -> Trained:
    """Pretrain, choose λ and train (or load from the cache) the models ``names`` (default: all
    of the configuration) for their seeds (``cfg.seeds_for``; or ``seeds`` if given).

    The jobs (one per width and seed: its pretraining, then its models) run in ``workers``
    processes ("spawn", one torch thread each), the longest first; if the pool cannot start (or
    fails) they run one after the other in this process.
    """
    _check_config(cfg)
    names = tuple(names or _model_names(cfg))
    for name in names:
        build_model(cfg, name, lam=1.0)  # fail now on an unknown name
    check_positive_integers(workers=workers)
    if seeds is not None:
        for seed in seeds:
            _check_seed(seed)
    scores = tikhonov_scores(cfg)
    lam = max(scores, key=scores.get)
    threads = 1 if get_device().type == "cpu" else None  # small convolutions: one thread each
    families: dict[tuple[int, int], list[str]] = {}
    for name in names:
        multiplier = multiplier_of(name)
        for seed in cfg.seeds_for(multiplier) if seeds is None else tuple(seeds):
            families.setdefault((multiplier, seed), []).append(name)
    order = sorted(families, key=lambda key: (-key[0], key[1]))  # the widest (slowest) first
    jobs = {key: (cfg, key[0], key[1], tuple(families[key]), lam, threads) for key in order}
    results = run_jobs(_train_family, jobs, workers, progress, desc="denoisers")
    models = {
        (name, seed): results[(multiplier_of(name), seed)]["models"][name]
        for name in names
        for seed in (cfg.seeds_for(multiplier_of(name)) if seeds is None else tuple(seeds))
    }
    denoisers = {key: results[key]["denoiser"] for key in order}
    return Trained(models=models, denoisers=denoisers, tikhonov=scores, lam=lam)


def training_multiply_adds(cfg: DeblurConfig) -> float:
    """An upper bound on the multiply-adds of all pretraining and training of the configuration.

    Counted from the denoisers' convolutions
    (:func:`~implicit_edu.experiments.deblur.models.denoiser_multiply_adds`): a training step
    costs 3 evaluations of H per image (forward and backward), a DEQ step ``forward_max_iter``
    evaluations, 2 per backward iteration and 3 for the final step, every solve at its iteration
    limit; validation adds one pass (or one forward solve) over the validation crops per check.
    FFTs and optimiser updates are left out. Used to size the profiles, not to time them.
    """
    _check_config(cfg)
    checks = lambda steps: math.ceil(steps / cfg.validate_every)  # noqa: E731
    total = 0.0
    for multiplier in cfg.explicit_multipliers:
        h = denoiser_multiply_adds(build_denoiser(cfg, multiplier), cfg.crop)
        pretrain = cfg.pretrain_steps * cfg.pretrain_batch * 3 * h
        pretrain += checks(cfg.pretrain_steps) * cfg.validation_crops * h
        explicit = cfg.explicit_steps * cfg.batch * 3 * h
        explicit += checks(cfg.explicit_steps) * cfg.validation_crops * h
        total += len(cfg.seeds_for(multiplier)) * (pretrain + explicit)
    h = denoiser_multiply_adds(build_denoiser(cfg), cfg.crop)
    step = cfg.batch * (cfg.forward_max_iter + 2 * cfg.backward_max_iter + 3) * h
    validation = checks(cfg.implicit_steps) * cfg.validation_crops * cfg.forward_max_iter * h
    total += 2 * len(cfg.seeds) * (cfg.implicit_steps * step + validation)
    return float(total)
