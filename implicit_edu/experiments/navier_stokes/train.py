"""Training the three models of the Navier–Stokes case study under one protocol.

Every model gets the same budget: ``TrainConfig.steps`` Adam steps on mini-batches of
``batch`` training flows, the relative L2 loss ‖ŷ − ω‖ / ‖ω‖ of the paper, a cosine learning
rate and gradients clipped to norm 1. Two choices are made on the validation split only, the same
way for every kind of model:

* the learning rate, from ``TrainConfig.learning_rates``, by a pilot run of ``pilot_fraction`` of
  the budget per rate (seed 0); the rate with the lower validation error is used for every seed;
* the early stop: the validation error is measured every ``validate_every`` steps and the weights
  with the lowest one are kept.

The FNO-DEQ is trained as Marwah et al. (2023) and the paper do: for the first
``warmup_fraction`` of the steps by backpropagation through ``unrolled_iterations`` plain
iterations from z₀ = 0, then with Anderson's method forwards (at most ``forward_max_iter``
evaluations of G) and phantom gradients backwards (``phantom_steps`` damped steps with
τ = ``phantom_tau``, :class:`~implicit_edu.core.deq.DEQ`).
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch

from implicit_edu.experiments.navier_stokes.config import KINDS, MODEL_SETTINGS, NavierStokesConfig
from implicit_edu.experiments.navier_stokes.data import splits
from implicit_edu.experiments.navier_stokes.models import ExplicitFNO, ImplicitFNO
from implicit_edu.runtime.cache import cached_state, keyed
from implicit_edu.runtime.parallel import run_jobs
from implicit_edu.runtime.profiles import fixed_threads, get_device

__all__ = [
    "build",
    "relative_errors",
    "predict",
    "train_one",
    "cached_model",
    "train_all",
    "load",
]


def build(kind: str, cfg: NavierStokesConfig, scales: tuple[float, float] = (1.0, 1.0)):
    """A fresh model of one kind ("implicit", "explicit", "explicit_large")."""
    m = cfg.model
    input_scale, output_scale = scales
    common = {"modes": m.modes, "input_scale": input_scale, "output_scale": output_scale}
    if kind == "implicit":
        t = cfg.train
        return ImplicitFNO(
            width=m.width,
            layers=m.block_layers,
            max_iter=t.forward_max_iter,
            tol=t.forward_tol,
            phantom_steps=t.phantom_steps,
            phantom_tau=t.phantom_tau,
            **common,
        )
    if kind == "explicit":
        return ExplicitFNO(width=m.explicit_width, layers=m.explicit_layers, **common)
    if kind == "explicit_large":
        return ExplicitFNO(width=m.large_width, layers=m.explicit_layers, **common)
    raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")


def relative_errors(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖ŷ − ω‖ / ‖ω‖ of each sample (the paper's relative L2 error): shape (B,)."""
    difference = torch.linalg.vector_norm((prediction - target).flatten(1), dim=1)
    return difference / torch.linalg.vector_norm(target.flatten(1), dim=1)


@torch.no_grad()
def predict(model, forcing: torch.Tensor, iterations: int | None = None, chunk: int | None = None):
    """Predictions for many forcings in chunks (float32 on the model's device, float64 back).

    For the FNO-DEQ, ``iterations`` is the Anderson budget (default: the model's own), whose
    solver holds every iterate: the default ``chunk`` is 64 flows on grids up to 64², fewer on
    finer ones (16 on 128²), so that a chunk fits a 16 GB GPU.
    """
    if chunk is None:
        chunk = max(1, min(64, 64 * 64**2 // forcing.shape[-1] ** 2))
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, forcing.shape[0], chunk):
        phi = forcing[start : start + chunk].to(device=device, dtype=torch.float32)
        if isinstance(model, ImplicitFNO) and iterations is not None:
            outputs.append(model.anderson_iterates(phi, iterations)[-1])
        else:
            outputs.append(model(phi))
    return torch.cat(outputs).double().cpu()


def _validation_error(model, data: dict, cfg: NavierStokesConfig) -> float:
    model.eval()
    iterations = cfg.train.validation_iterations if isinstance(model, ImplicitFNO) else None
    error = relative_errors(predict(model, data["forcing"], iterations), data["omega"])
    model.train()
    return float(error.mean())


def _train(cfg: NavierStokesConfig, kind: str, seed: int, lr: float, steps: int, data: dict):
    t = cfg.train
    device = get_device()
    train, val = data["train"], data["val"]
    scales = (
        float(train["forcing"].pow(2).mean().sqrt()),
        float(train["omega"].pow(2).mean().sqrt()),
    )
    torch.manual_seed(seed)
    model = build(kind, cfg, scales).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=t.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    forcing = train["forcing"].to(device=device, dtype=torch.float32)
    omega = train["omega"].to(device=device, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    warmup = math.ceil(t.warmup_fraction * steps) if kind == "implicit" else 0
    history = {"step": [], "train_loss": [], "val_error": []}
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    losses: list[float] = []
    start = time.perf_counter()
    order = torch.randperm(forcing.shape[0], generator=generator)
    position = 0
    for step in range(1, steps + 1):
        if position + t.batch > order.numel():
            order, position = torch.randperm(forcing.shape[0], generator=generator), 0
        index = order[position : position + t.batch]
        position += t.batch
        phi, target = forcing[index], omega[index]
        if kind == "implicit" and step <= warmup:
            state = model.states(phi, t.unrolled_iterations)[-1]
            prediction = model.read(state)
        elif kind == "implicit":
            prediction = model(phi)
            state = model.deq.forward_result.y
        else:
            prediction = model(phi)
        loss = relative_errors(prediction, target).mean()
        if kind == "implicit" and t.jacobian_weight > 0:
            loss = loss + t.jacobian_weight * model.jacobian_penalty(phi, state)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % t.validate_every == 0 or step == steps:
            error = _validation_error(model, val, cfg)
            history["step"].append(step)
            history["train_loss"].append(sum(losses) / len(losses))
            history["val_error"].append(error)
            losses = []
            if error < best[0]:
                best = (error, step, copy.deepcopy(model.state_dict()))
    return {
        "model": {k: v.cpu() for k, v in best[2].items()},
        "history": history,
        "best_val": best[0],
        "best_step": best[1],
        "lr": lr,
        "seconds": time.perf_counter() - start,
    }


def train_one(cfg: NavierStokesConfig, kind: str, seed: int, lr: float, steps: int) -> dict:
    """Train one model (one CPU thread on a CPU: small models train fastest that way)."""
    device = get_device()
    with fixed_threads(1 if device.type == "cpu" else None):
        return _train(cfg, kind, seed, lr, steps, splits(cfg.data))


def cached_model(cfg: NavierStokesConfig, kind: str, seed: int, lr: float, steps: int) -> dict:
    """A trained model from the on-disk cache, or trained now (module level: runs in workers).

    Keyed on the settings of its kind (``MODEL_SETTINGS`` of the configuration module), its seed,
    learning rate and number of steps, and the code of this module and of those it imports.
    """
    if kind not in MODEL_SETTINGS:
        raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")
    this = sys.modules[__name__]
    view, key = keyed(cfg, MODEL_SETTINGS[kind], this, kind=kind, seed=seed, lr=lr, steps=steps)
    return cached_state("navier-stokes-model", key, lambda: train_one(view, kind, seed, lr, steps))


def train_all(cfg: NavierStokesConfig, progress: bool | None = None) -> dict:
    """Choose each kind's learning rate on validation, then train every kind and seed.

    Returns ``{"pilots": {(kind, lr): result}, "chosen_lr": {kind: lr},
    "models": {(kind, seed): result}}``; each result holds the best weights, the training and
    validation history, the early-stopping step and the training time.
    """
    splits(cfg.data)  # generate (or load) the data once, before the workers need it
    pilot_steps = max(1, round(cfg.train.pilot_fraction * cfg.train.steps))
    pilot_jobs = {
        (kind, lr): (cfg, kind, cfg.seeds[0], lr, pilot_steps)
        for kind in KINDS
        for lr in cfg.train.learning_rates
    }
    pilots = run_jobs(cached_model, pilot_jobs, cfg.workers, progress, desc="pilots")
    chosen = {
        kind: min(cfg.train.learning_rates, key=lambda lr: pilots[(kind, lr)]["best_val"])
        for kind in KINDS
    }
    jobs = {
        (kind, seed): (cfg, kind, seed, chosen[kind], cfg.train.steps)
        for kind in KINDS
        for seed in cfg.seeds
    }
    trained = run_jobs(cached_model, jobs, cfg.workers, progress, desc="models")
    return {"pilots": pilots, "chosen_lr": chosen, "models": trained}


def load(kind: str, cfg: NavierStokesConfig, result: dict):
    """A trained model rebuilt from its result, in evaluation mode, on the device."""
    model = build(kind, cfg)
    model.load_state_dict(result["model"])
    return model.to(get_device()).eval()
