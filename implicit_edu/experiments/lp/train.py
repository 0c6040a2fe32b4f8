"""Training the explicit and implicit GNNs, several at a time, and measuring their errors.

Full-batch Adam on the mean squared error of normalised targets, with a cosine learning rate and
gradients clipped to norm ``clip``. The implicit model is trained unrolled through a fixed number
of iterations (a plain loop, not ``implicit_edu.DEQ``: the paper's operator has no contraction
constraint and is run for a fixed K): ``unroll_first`` iterations for the first
``switch_fraction`` of the epochs, then ``unroll_second`` with the learning rate multiplied by
``second_phase_lr``, as the paper does (3 iterations at 1e-2, then 6 at a smaller rate).

Every ``validate_every`` epochs (and after the last) the model's mean error on the validation set
is measured, with the implicit model run for the ``eval_iterations`` it is tested with; the
weights of the best validation error are the ones kept (early stopping on validation, the same
rule for both kinds of model). The test set is never looked at during training.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

from implicit_edu.experiments.lp.config import MODEL_SETTINGS, LPConfig
from implicit_edu.experiments.lp.data import generate, relative_error
from implicit_edu.experiments.lp.models import build, feature_scales, graph_batch
from implicit_edu.runtime.cache import cached_state, keyed
from implicit_edu.runtime.parallel import run_jobs
from implicit_edu.runtime.profiles import fixed_threads, get_device

KINDS = ("explicit", "implicit")


def dataset(cfg: LPConfig) -> tuple[dict, dict, dict]:
    """The training, validation and test sets of the configuration (one seeded stream, split).

    The stream is cut as train, test, validation: the validation instances come last, so adding
    them left the training and test sets as they were.
    """
    total = cfg.num_train + cfg.num_test + cfg.num_val
    arrays = generate(total, cfg.data_seed, cfg.m, cfg.n, cfg.nnz)
    cuts = {"train": (0, cfg.num_train), "test": (cfg.num_train, cfg.num_train + cfg.num_test),
            "val": (cfg.num_train + cfg.num_test, total)}  # fmt: skip
    split = {
        name: {k: v[lo:hi] for k, v in arrays.items() if k != "attempts"}
        for name, (lo, hi) in cuts.items()
    }
    return split["train"], split["val"], split["test"]


def train_one(
    cfg: LPConfig, kind: str, d: int, seed: int, train: dict, val: dict, threads=None
) -> dict:
    """Train one model, early-stopped on ``val``.

    Returns ``{"model": state_dict, "loss": [...], "val_epochs": [...], "val_error": [...],
    "best_epoch": int, "seconds": float}``; ``model`` holds the weights of the best validation
    error, measured after epochs ``val_epochs``.
    """
    device = get_device()
    # small dense products: one thread is fastest on a CPU (measured on 2 cores)
    with fixed_threads((threads or 1) if device.type == "cpu" else None):
        return _train(cfg, kind, d, seed, train, val, device)


def _train(cfg: LPConfig, kind: str, d: int, seed: int, train: dict, val: dict, device) -> dict:
    torch.manual_seed(seed)
    model = build(kind, d, feature_scales(train)).to(device)
    graph = graph_batch(train, device=device)
    val_graph = graph_batch(val, device=device)
    val_iterations = cfg.eval_iterations if kind == "implicit" else None
    target = torch.as_tensor(train["x"], dtype=torch.float32, device=device) / model.target_scale
    epochs = cfg.epochs_explicit if kind == "explicit" else cfg.epochs_implicit
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # the epoch of the second phase (deeper unroll, smaller rate); the explicit model has one phase
    switch = math.ceil(cfg.switch_fraction * epochs) if kind == "implicit" else math.inf

    def factor(epoch: int) -> float:  # cosine decay, and a smaller rate for the deeper unroll
        second = cfg.second_phase_lr if epoch >= switch else 1.0
        return second * 0.5 * (1 + math.cos(math.pi * epoch / epochs))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    losses, val_epochs, val_errors, start = [], [], [], time.perf_counter()
    best_state, best_epoch = None, 0
    for epoch in range(epochs):
        iterations = None  # the explicit model makes one pass
        if kind == "implicit":
            iterations = cfg.unroll_first if epoch < switch else cfg.unroll_second
        optimizer.zero_grad()
        loss = torch.mean((model(graph, iterations) - target) ** 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if (epoch + 1) % cfg.validate_every == 0 or epoch + 1 == epochs:
            val_epochs.append(epoch + 1)
            val_errors.append(_mean_error(model, val_graph, val["x"], val_iterations))
            if val_errors[-1] == min(val_errors):  # ties keep the later, equally good weights
                best_epoch = epoch + 1
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"model": best_state, "loss": losses, "val_epochs": val_epochs,
            "val_error": val_errors, "best_epoch": best_epoch,
            "seconds": time.perf_counter() - start}  # fmt: skip


@torch.no_grad()
def _mean_error(model, graph, target: np.ndarray, iterations: int | None) -> float:
    """The mean of the paper's error over a data set (the model left in training mode)."""
    prediction = model.predict(graph, iterations).double().cpu().numpy()
    return float(relative_error(prediction, target).mean())


def cached_model(
    cfg: LPConfig, kind: str, d: int, seed: int, train: dict, val: dict, threads=None
) -> dict:
    """A trained model from the on-disk cache, or trained now (module level: runs in workers).

    Keyed on the settings of its kind (``MODEL_SETTINGS`` of the configuration module), its
    embedding size and seed, and the code of this module and of those it imports. ``train`` and
    ``val`` must be the splits of :func:`dataset` of ``cfg``: they are keyed by its data settings.
    """
    if kind not in MODEL_SETTINGS:
        raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")
    view, key = keyed(cfg, MODEL_SETTINGS[kind], sys.modules[__name__], kind=kind, d=d, seed=seed)
    return cached_state(
        "lp-model", key, lambda: train_one(view, kind, d, seed, train, val, threads)
    )


def load(kind: str, d: int, state: dict, cfg: LPConfig | None = None):
    """A model rebuilt from a state dict, in evaluation mode (float32, on the device)."""
    model = build(kind, d)
    if kind == "implicit" and cfg is not None:
        model.iterations = cfg.eval_iterations
    model.load_state_dict(state)
    return model.to(get_device()).eval()


def jobs(cfg: LPConfig) -> list[tuple[str, int, int]]:
    """(kind, d, seed) for every model of the configuration, longest to train first."""
    todo = [(k, d, s) for d in cfg.embeddings for s in cfg.seeds_for(d) for k in KINDS]
    return sorted(todo, key=lambda job: (-job[1], job[0] == "explicit", job[2]))


def train_all(cfg: LPConfig, train: dict, val: dict, progress: bool | None = None) -> dict:
    """Train (or load) every model, early-stopped on ``val``: ``{(kind, d, seed): result}``
    with the fields of :func:`train_one`.

    With ``cfg.workers`` > 1 on a CPU, the models train side by side in worker processes
    ("spawn", one torch thread each); if the pool cannot start or breaks, the remaining models
    are trained one after the other in this process.
    """
    todo = {job: (cfg, *job, train, val, 1) for job in jobs(cfg)}
    results = run_jobs(cached_model, todo, cfg.workers, progress)
    return {job: results[job] for job in sorted(results)}


@torch.no_grad()
def errors(model, arrays: dict, iterations: int | None = None) -> np.ndarray:
    """The paper's error ‖ŷ − y*‖ / (‖y*‖ + 1) of every instance."""
    graph = graph_batch(arrays, device=get_device())
    prediction = model.predict(graph, iterations).double().cpu().numpy()
    return relative_error(prediction, arrays["x"])


@torch.no_grad()
def errors_by_iterations(model, arrays: dict, max_iterations: int) -> np.ndarray:
    """Errors of the implicit model after K = 0, 1, …, max_iterations steps: (K + 1, instances)."""
    graph = graph_batch(arrays, device=get_device())
    steps = model.trajectory(graph, max_iterations)
    return np.stack(
        [
            relative_error((y * model.target_scale).double().cpu().numpy(), arrays["x"])
            for y in steps
        ]
    )


def summary(cfg: LPConfig, models: dict, train: dict, val: dict, test: dict) -> dict:
    """Per (kind, d): parameter counts, the seeds, the early-stopping epochs, and train,
    validation and test errors per seed (and per test instance)."""
    from implicit_edu.core.parameters import parameter_count

    table: dict = {}
    for (kind, d, seed), result in models.items():
        model = load(kind, d, result["model"], cfg)
        iterations = cfg.eval_iterations if kind == "implicit" else None
        row = table.setdefault((kind, d), {"params": parameter_count(model)})
        for field in ("seeds", "best_epoch", "train", "val", "test", "per_test"):
            row.setdefault(field, [])
        row["seeds"].append(seed)
        row["best_epoch"].append(result["best_epoch"])
        row["train"].append(float(errors(model, train, iterations).mean()))
        row["val"].append(float(errors(model, val, iterations).mean()))
        per_test = errors(model, test, iterations)
        row["test"].append(float(per_test.mean()))
        row["per_test"].append(per_test)
    return table


__all__ = [
    "KINDS",
    "dataset",
    "train_one",
    "cached_model",
    "load",
    "jobs",
    "train_all",
    "errors",
    "errors_by_iterations",
    "summary",
]
