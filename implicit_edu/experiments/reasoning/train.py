"""Training the four models of the looped-models case study (chapter "Looped models and
reasoning").

**Prefix sums.** Both convolutional nets are trained by AdamW on the same 16-bit strings, with
the same learning rate, batches, warm-up and cosine decay, and about the same processor time (the
feed-forward twin, cheaper per step, gets twice the epochs). The looped net uses the *progressive
loss* of Bansal et al. (2022): from the state after n ~ U{0, …, T − 1} iterations computed without
gradient, run k ~ U{1, …, T − n} more iterations with gradient and compare their output with the
target. The net never learns what iteration it is at, only to improve whatever state it is given,
which is what lets it keep going past T. The feed-forward twin (T untied cores) is trained on its
output.

**Variable chains.** Both transformers are trained by AdamW with warm-up and cosine decay on
batches of prompts, with a cross-entropy loss on the value of every statement (dense supervision),
and about the same processor time (the explicit one, cheaper per step, gets twice the steps). The
looped one runs r iterations, r drawn afresh at every step as in Huginn
(:func:`sample_iterations`), and backpropagates through the last ``grad_steps`` of them only.

**Splits and early stopping.** Training, validation and test data come from different seeds. The
validation split has the training length (or hop range); every model is validated at its
training depth (T iterations; r = ``max_r``), and the weights with the best validation accuracy
are kept (ties go to the lower validation loss). Test data are used only in
:mod:`~implicit_edu.experiments.reasoning.evaluate`.

Every trained model is cached on disk (:func:`implicit_edu.runtime.cache.cached_state`), keyed on
the settings of its kind (``MODEL_SETTINGS`` of the configuration module), its seed, and a hash of
the code that trains it (:func:`implicit_edu.runtime.cache.keyed`).
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
from torch.nn import functional as F

from implicit_edu.experiments.reasoning.config import KINDS, MODEL_SETTINGS, ReasoningConfig
from implicit_edu.experiments.reasoning.data import chain_data, prefix_sum_data, vocabulary_size
from implicit_edu.experiments.reasoning.models import (
    ExplicitTransformer,
    FeedForwardConvNet,
    LoopedTransformer,
    RecurrentConvNet,
    matched_transformer_width,
    matched_width,
    parameter_count,
)
from implicit_edu.runtime.cache import cached_state, keyed
from implicit_edu.runtime.parallel import run_jobs
from implicit_edu.runtime.profiles import fixed_threads, get_device

__all__ = [
    "prefix_splits",
    "chain_splits",
    "chain_tests",
    "build",
    "sample_iterations",
    "progressive_loss",
    "whole_string_accuracy",
    "train_one",
    "cached_model",
    "train_all",
    "load",
]


def prefix_splits(cfg: ReasoningConfig, test: bool = True) -> dict:
    """``{"train": (x, y), "val": (x, y), "test": {bits: (x, y)}}`` from separate seeds (without
    ``"test"`` when ``test`` is false: training needs no test strings)."""
    d = cfg.prefix_data
    out = {
        "train": prefix_sum_data(d.num_train, d.train_bits, d.seed),
        "val": prefix_sum_data(d.num_val, d.train_bits, d.seed + 1),
    }
    if test:
        out["test"] = {
            bits: prefix_sum_data(num, bits, d.seed + 2 + j)
            for j, (bits, num) in enumerate(zip(d.test_bits, d.num_test, strict=True))
        }
    return out


def chain_splits(cfg: ReasoningConfig, test: bool = True) -> dict:
    """``{"train": data, "val": data, "test": {hops: data}}`` of
    :func:`~implicit_edu.experiments.reasoning.data.chain_data`.

    Training and validation prompts have ``statements`` statements and hops drawn from
    ``train_hops``; test prompts have ``test_statements`` statements and one hop count each.
    """
    d = cfg.chain_data

    def make(num, hops, statements, seed):
        return chain_data(num, hops, statements, seed, d.names, d.max_distractor)

    out = {
        "train": make(d.num_train, d.train_hops, d.statements, d.seed),
        "val": make(d.num_val, d.train_hops, d.statements, d.seed + 1),
    }
    if test:
        out["test"] = chain_tests(cfg)
    return out


def chain_tests(cfg: ReasoningConfig) -> dict:
    """The test split alone, ``{hops: data}``: ``test_statements`` statements per prompt, one
    hop count per entry (the evaluation needs no training prompts)."""
    d = cfg.chain_data
    return {
        h: chain_data(d.num_test, h, d.test_statements, d.seed + 2 + j, d.names, d.max_distractor)
        for j, h in enumerate(d.test_hops)
    }


def build(kind: str, cfg: ReasoningConfig):
    """A fresh model of one kind (see :data:`~implicit_edu.experiments.reasoning.config.KINDS`)."""
    cm, tm = cfg.conv_model, cfg.transformer_model
    if kind == "recurrent_conv":
        return RecurrentConvNet(cm.width, cm.blocks)
    if kind == "feedforward_conv":
        target = parameter_count(RecurrentConvNet(cm.width, cm.blocks))
        depth = cfg.conv_train.iterations
        return FeedForwardConvNet(matched_width(target, depth, cm.blocks), depth, cm.blocks)
    common = {
        "vocab": vocabulary_size(cfg.chain_data.names),
        "heads": tm.heads,
        "prelude": tm.prelude,
        "core_blocks": tm.core_blocks,
        "coda": tm.coda,
        "init_std": tm.init_std,
        "input_attention": tm.input_attention,
        "local_ends": tm.local_ends,
    }
    if kind == "looped_transformer":
        return LoopedTransformer(width=tm.width, **common)
    if kind == "explicit_transformer":
        target = parameter_count(LoopedTransformer(width=tm.width, **common))
        common["depth"] = tm.explicit_depth
        return ExplicitTransformer(width=matched_transformer_width(target, **common), **common)
    raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")


def sample_iterations(
    mean: float, sigma: float, cap: int, generator: torch.Generator | None = None
) -> int:
    """Huginn's random depth: r = 1 + Poisson(λ), λ log-normal with mean ``mean − 1`` and shape
    ``sigma``, capped at ``cap``. Its mean is ``mean`` before the cap; its tail is long."""
    mu = math.log(max(mean - 1.0, 1e-6)) - sigma**2 / 2
    rate = torch.exp(mu + sigma * torch.randn((), generator=generator))
    r = 1 + int(torch.poisson(rate.reshape(1), generator=generator))
    return min(r, cap)


def progressive_loss(
    model: RecurrentConvNet,
    x: torch.Tensor,
    y: torch.Tensor,
    iterations: int,
    alpha: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(1 − α) · CE(ŷ_T, y) + α · CE(ŷ_{n+k}, y) of Bansal et al. (2022), T = ``iterations``.

    ŷ_{n+k} continues from the state after n ~ U{0, …, T − 1} iterations, computed without
    gradient and detached, for k ~ U{1, …, T − n} iterations with gradient.
    """
    loss = torch.zeros((), device=x.device)
    if alpha < 1:
        logits, _ = model.run(x, iterations)
        loss = loss + (1 - alpha) * F.cross_entropy(logits, y)
    if alpha > 0:
        n = int(torch.randint(0, iterations, (), generator=generator))
        k = int(torch.randint(1, iterations - n + 1, (), generator=generator))
        state = None
        if n > 0:
            with torch.no_grad():
                _, state = model.run(x, n)
        logits, _ = model.run(x, k, state)
        loss = loss + alpha * F.cross_entropy(logits, y)
    return loss


def whole_string_accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per string, 1.0 when every bit is right: logits (B, 2, L), targets (B, L) → (B,)."""
    return (logits.argmax(1) == y).all(dim=1).float()


def _schedule(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def _conv_validation(model, kind: str, x, y, iterations: int, chunk: int = 500):
    model.eval()
    accuracy, loss = 0.0, 0.0
    for start in range(0, x.shape[0], chunk):
        xs, ys = x[start : start + chunk], y[start : start + chunk]
        logits = model(xs, iterations) if kind == "recurrent_conv" else model(xs)
        accuracy += float(whole_string_accuracy(logits, ys).sum())
        loss += float(F.cross_entropy(logits, ys, reduction="sum")) / ys.shape[1]
    model.train()
    return accuracy / x.shape[0], loss / x.shape[0]


def _train_conv(cfg: ReasoningConfig, kind: str, seed: int) -> dict:
    t = cfg.conv_train
    device = get_device()
    splits = prefix_splits(cfg, test=False)
    x, y = (v.to(device) for v in splits["train"])
    xv, yv = (v.to(device) for v in splits["val"])
    torch.manual_seed(seed)
    model = build(kind, cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    epochs = t.epochs if kind == "recurrent_conv" else t.feedforward_epochs
    per_epoch = math.ceil(x.shape[0] / t.batch)
    schedule = _schedule(optimizer, t.warmup_epochs * per_epoch, epochs * per_epoch)
    generator = torch.Generator().manual_seed(seed)
    history = {"epoch": [], "train_loss": [], "val_accuracy": [], "val_loss": []}
    best = (-math.inf, math.inf, 0, copy.deepcopy(model.state_dict()))
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(x.shape[0], generator=generator).to(device)
        losses = []
        for i in range(per_epoch):
            index = order[i * t.batch : (i + 1) * t.batch]
            if kind == "recurrent_conv":
                loss = progressive_loss(model, x[index], y[index], t.iterations, t.alpha, generator)
            else:
                loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        if epoch % t.validate_every == 0 or epoch == epochs:
            accuracy, val_loss = _conv_validation(model, kind, xv, yv, t.iterations)
            history["epoch"].append(epoch)
            history["train_loss"].append(sum(losses) / len(losses))
            history["val_accuracy"].append(accuracy)
            history["val_loss"].append(val_loss)
            if (accuracy, -val_loss) > (best[0], -best[1]):
                best = (accuracy, val_loss, epoch, copy.deepcopy(model.state_dict()))
    return {
        "model": {k: v.cpu() for k, v in best[3].items()},
        "history": history,
        "best_val": best[0],
        "best_epoch": best[2],
        "parameters": parameter_count(model),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


@torch.no_grad()
def _transformer_validation(model, kind: str, data: dict, r: int, seed: int, chunk: int = 500):
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    query, statements, loss = 0.0, 0.0, 0.0
    num = data["tokens"].shape[0]
    for start in range(0, num, chunk):
        tokens = data["tokens"][start : start + chunk].to(device)
        targets = data["targets"][start : start + chunk].to(device)
        if kind == "looped_transformer":
            logits = model(tokens, r, generator=generator)
        else:
            logits = model(tokens, generator=generator)
        right = logits.argmax(-1) == targets
        query += float(right[:, -1].sum())
        statements += float(right.all(dim=1).sum())
        loss += float(F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum"))
    model.train()
    return query / num, statements / num, loss / data["targets"].numel()


def _train_transformer(cfg: ReasoningConfig, kind: str, seed: int) -> dict:
    t = cfg.transformer_train
    device = get_device()
    splits = chain_splits(cfg, test=False)
    tokens = splits["train"]["tokens"].to(device)
    targets = splits["train"]["targets"].to(device)
    torch.manual_seed(seed)
    model = build(kind, cfg).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=t.lr, betas=(0.9, t.beta2), weight_decay=t.weight_decay
    )
    steps = t.steps if kind == "looped_transformer" else t.explicit_steps
    schedule = _schedule(optimizer, t.warmup, steps)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list] = {"step": [], "train_loss": [], "val_accuracy": [], "val_all": []}
    history.update(val_loss=[], r=[])
    best_score, best_step = (-math.inf,), 0
    best_state = copy.deepcopy(model.state_dict())
    losses: list[float] = []
    order, position = torch.randperm(tokens.shape[0], generator=generator), 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(1, steps + 1):
        if position + t.batch > order.numel():
            order, position = torch.randperm(tokens.shape[0], generator=generator), 0
        index = order[position : position + t.batch].to(device)
        position += t.batch
        if kind == "looped_transformer":
            r = sample_iterations(t.mean_r, t.sigma, t.max_r, generator)
            history["r"].append(r)
            logits = model(tokens[index], r, generator=generator, grad_steps=t.grad_steps)
        else:
            logits = model(tokens[index], generator=generator)
        loss = F.cross_entropy(logits.flatten(0, 1), targets[index].flatten())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % t.validate_every == 0 or step == steps:
            query, whole, val_loss = _transformer_validation(model, kind, splits["val"], t.max_r, 0)
            history["step"].append(step)
            history["train_loss"].append(sum(losses) / len(losses))
            history["val_accuracy"].append(query)
            history["val_all"].append(whole)
            history["val_loss"].append(val_loss)
            losses = []
            if (query, whole, -val_loss) > best_score:
                best_score, best_step = (query, whole, -val_loss), step
                best_state = copy.deepcopy(model.state_dict())
    return {
        "model": {k: v.cpu() for k, v in best_state.items()},
        "history": history,
        "best_val": best_score[0],
        "best_step": best_step,
        "parameters": parameter_count(model),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


def train_one(cfg: ReasoningConfig, kind: str, seed: int) -> dict:
    """Train one model (one CPU thread on a CPU: small models train fastest that way)."""
    device = get_device()
    with fixed_threads(1 if device.type == "cpu" else None):
        if kind in ("recurrent_conv", "feedforward_conv"):
            return _train_conv(cfg, kind, seed)
        if kind in ("looped_transformer", "explicit_transformer"):
            return _train_transformer(cfg, kind, seed)
    raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")


def cached_model(cfg: ReasoningConfig, kind: str, seed: int) -> dict:
    """A trained model from the on-disk cache, or trained now (module level: runs in workers).

    Keyed on the settings of its kind (``MODEL_SETTINGS`` of the configuration module), its seed,
    and the code of this module and of those it imports.
    """
    if kind not in MODEL_SETTINGS:
        raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")
    view, key = keyed(cfg, MODEL_SETTINGS[kind], sys.modules[__name__], kind=kind, seed=seed)
    return cached_state("reasoning-model", key, lambda: train_one(view, kind, seed))


def train_all(cfg: ReasoningConfig, progress: bool | None = None) -> dict:
    """Every kind and seed, side by side in ``cfg.workers`` processes: ``{(kind, seed): result}``.

    Each result holds the best weights, the training and validation history, the early-stopping
    epoch or step, the parameter count, the training time in seconds (``seconds``, wall clock)
    and the processor time (``cpu_seconds``: on a CPU, the wall time the one-thread job would take
    on a core of its own).
    """
    order = ("looped_transformer", "recurrent_conv", "explicit_transformer", "feedforward_conv")
    jobs = {(kind, seed): (cfg, kind, seed) for seed in cfg.seeds for kind in order}
    done = run_jobs(cached_model, jobs, cfg.workers, progress, desc="models")
    return {(kind, seed): done[(kind, seed)] for kind in KINDS for seed in cfg.seeds}


def load(kind: str, cfg: ReasoningConfig, result: dict):
    """A trained model rebuilt from its result, in evaluation mode, on the device."""
    model = build(kind, cfg)
    model.load_state_dict(result["model"])
    return model.to(get_device()).eval()
