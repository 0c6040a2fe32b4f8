"""Measurements on the trained looped models (chapter "Looped models and reasoning").

* :func:`conv_accuracy_table`: whole-string accuracy of the recurrent prefix-sum net against the
  number of iterations, for every test length (strings up to 16× longer than in training);
  :func:`feedforward_accuracy`: the same for its feed-forward twin, whose depth is fixed;
* :func:`bit_flip_ratios`: the prefix-sum analogue of the paper's text L_t, the mean number of
  output bits that change when one input bit flips, against the number of iterations, beside the
  true map's and the bound that the receptive field allows;
* :func:`answers`, :func:`transformer_accuracy`, :func:`explicit_accuracy`: the looped
  transformer's answers and accuracy against r, past the largest r seen in training, for every
  number of hops; the explicit transformer's; :func:`chance` the accuracy of guessing a root
  digit of the prompt;
* :func:`text_lipschitz`: the paper's text L_t = mean over input pairs of
  Lev(out(x), out(x')) / Lev(x, x'), Lev the word-level edit distance, on prompts that differ in
  one or two words (:func:`~implicit_edu.experiments.reasoning.data.perturb_roots`), against r;
  beside it the same ratio of the true answers;
* :func:`state_changes`: the relative change ‖s_t − s_{t−1}‖ / ‖s_t‖ of the core's state: does
  the iteration settle at a fixed point?
* :func:`contraction_along_path`: ‖∂R/∂s (s_t, ·)‖₂ at the iterates s_t (power iteration,
  :func:`implicit_edu.analysis.lipschitz.spectral_norm`): is the learned core a contraction there?
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from implicit_edu.analysis.lipschitz import spectral_norm
from implicit_edu.core.solvers import iterate
from implicit_edu.experiments.reasoning.data import (
    answer_text,
    chain_data,
    perturb_roots,
    prefix_sum_data,
    prompt_text,
    word_levenshtein,
)
from implicit_edu.experiments.reasoning.models import (
    ExplicitTransformer,
    FeedForwardConvNet,
    LoopedTransformer,
    RecurrentConvNet,
)
from implicit_edu.experiments.reasoning.train import whole_string_accuracy

__all__ = [
    "conv_accuracy_table",
    "feedforward_accuracy",
    "receptive_radius",
    "bit_flip_ratios",
    "answers",
    "transformer_accuracy",
    "explicit_answers",
    "explicit_accuracy",
    "chance",
    "text_lipschitz",
    "state_changes",
    "contraction_along_path",
]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_iterations(iterations: Sequence[int]) -> list[int]:
    values = [int(r) for r in iterations]
    if not values or min(values) < 1:
        raise ValueError(f"iterations must be integers ≥ 1, got {iterations!r}")
    return values


@torch.no_grad()
def conv_accuracy_table(
    model: RecurrentConvNet,
    tests: dict[int, tuple[torch.Tensor, torch.Tensor]],
    iterations: Sequence[int],
    chunk: int = 250,
) -> np.ndarray:
    """Whole-string accuracy, shape (len(tests), len(iterations)): row j is the test length
    ``list(tests)[j]``, column i the accuracy of ŷ_r with r = ``iterations[i]``."""
    rs = _check_iterations(iterations)
    table = np.zeros((len(tests), len(rs)))
    for j, (x, y) in enumerate(tests.values()):
        right = np.zeros(len(rs))
        for start in range(0, x.shape[0], chunk):
            xs = x[start : start + chunk].to(_device(model))
            ys = y[start : start + chunk].to(_device(model))
            signal = model.signal(xs)
            state, done = model.projection(signal), 0
            for i, r in sorted(enumerate(rs), key=lambda item: item[1]):
                # continue the same iteration up to r
                state = iterate(lambda s, signal=signal: model.core(s, signal), state, r - done)[-1]
                done = r
                right[i] += float(whole_string_accuracy(model.readout(state), ys).sum())
        table[j] = right / x.shape[0]
    return table


@torch.no_grad()
def feedforward_accuracy(
    model: FeedForwardConvNet, tests: dict[int, tuple[torch.Tensor, torch.Tensor]]
) -> np.ndarray:
    """Whole-string accuracy of a fixed-depth net on every test length: shape (len(tests),)."""
    out = []
    for x, y in tests.values():
        x, y = x.to(_device(model)), y.to(_device(model))
        out.append(float(whole_string_accuracy(model(x), y).mean()))
    return np.array(out)


def receptive_radius(model: RecurrentConvNet, r: int) -> int:
    """How far apart an input bit and an output bit of ŷ_r can be and still interact.

    Every convolution of the net has kernel 3 (radius 1): P has one, each iteration of the core
    five ([s, x] → w, then two residual blocks of two), C three. So ŷ_r at position i depends on
    x at positions within 5r + 4 of i only (the chapter's locality proposition).
    """
    convs = [m for m in model.core.modules() if isinstance(m, torch.nn.Conv1d)]
    per_iteration = sum((m.kernel_size[0] - 1) // 2 * m.dilation[0] for m in convs)
    ends = [m for part in (model.projection, model.head) for m in part.modules()
            if isinstance(m, torch.nn.Conv1d)]  # fmt: skip
    return per_iteration * r + sum((m.kernel_size[0] - 1) // 2 * m.dilation[0] for m in ends)


@torch.no_grad()
def bit_flip_ratios(
    model: RecurrentConvNet, bits: int, iterations: Sequence[int], num: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """L_r of the prefix-sum net: the mean over pairs (x, x') that differ in one bit of the
    number of output bits in which ŷ_r(x) and ŷ_r(x') differ (Hamming distances; the input pair
    is at distance 1).

    ``num`` random strings of ``bits`` bits; for each, one position j, uniform, is flipped. The
    true prefix sums differ in the bits j, …, L (L − j + 1 of them), and by locality ŷ_r can
    differ only within :func:`receptive_radius` ρ_r of j. Returns ``{"r": (R,), "lt": (R,),
    "true": float, "bound": (R,)}``, with ``bound`` the mean over the pairs of the number of
    positions within ρ_r of j.
    """
    rs = _check_iterations(iterations)
    x, y = prefix_sum_data(num, bits, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    flip = torch.randint(0, bits, (num,), generator=generator)
    x_flipped = x.clone()
    x_flipped[torch.arange(num), flip] ^= 1
    y_flipped = torch.cumsum(x_flipped, dim=1) % 2
    true = float((y != y_flipped).sum(1).float().mean())
    both = torch.cat([x, x_flipped]).to(_device(model))
    signal = model.signal(both)
    state, done = model.projection(signal), 0
    lt = np.zeros(len(rs))
    bound = np.zeros(len(rs))
    for i, r in sorted(enumerate(rs), key=lambda item: item[1]):
        state = iterate(lambda s: model.core(s, signal), state, r - done)[-1]
        done = r
        predicted = model.readout(state).argmax(1).cpu()
        lt[i] = float((predicted[:num] != predicted[num:]).sum(1).float().mean())
        radius = receptive_radius(model, r)
        window = torch.clamp(flip + radius, max=bits - 1) - torch.clamp(flip - radius, min=0) + 1
        bound[i] = float(window.float().mean())
    return {"r": np.array(rs), "lt": lt, "true": true, "bound": bound}


@torch.no_grad()
def answers(
    model: LoopedTransformer,
    tokens: torch.Tensor,
    iterations: Sequence[int],
    seed: int = 0,
    chunk: int = 500,
) -> torch.Tensor:
    """The predicted digit of every statement after r iterations, for each r in ``iterations``:
    shape (len(iterations), B, n + 1). The random start is drawn from a generator seeded with
    ``seed`` (per chunk), so equal prompts get equal starts."""
    rs = _check_iterations(iterations)
    out = torch.zeros(len(rs), *tokens.shape[:2], dtype=torch.int64)
    for start in range(0, tokens.shape[0], chunk):
        batch = tokens[start : start + chunk].to(_device(model))
        generator = torch.Generator().manual_seed(seed)
        e = model.embed(batch)
        state = model.initial_state(e, generator)
        done = 0
        for i, r in sorted(enumerate(rs), key=lambda item: item[1]):
            state = iterate(lambda s, e=e: model.core(s, e), state, r - done)[-1]
            done = r
            out[i, start : start + chunk] = model.readout(state).argmax(-1).cpu()
    return out


def transformer_accuracy(
    model: LoopedTransformer, tests: dict[int, dict], iterations: Sequence[int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Accuracy against r for every hop count: ``{"answer": (len(tests), len(iterations)),
    "all": …}``, the share of prompts whose answer (the query) or whose every statement is
    right."""
    answer = np.zeros((len(tests), len(iterations)))
    whole = np.zeros_like(answer)
    for j, data in enumerate(tests.values()):
        predicted = answers(model, data["tokens"], iterations, seed)
        right = predicted == data["targets"][None]
        answer[j] = right[:, :, -1].float().mean(1).numpy()
        whole[j] = right.all(dim=2).float().mean(1).numpy()
    return {"answer": answer, "all": whole}


@torch.no_grad()
def explicit_answers(
    model: ExplicitTransformer, tokens: torch.Tensor, seed: int = 0
) -> torch.Tensor:
    """The explicit transformer's predicted digit of every statement: shape (B, n + 1), on the CPU
    whatever the model's device. Its random start is drawn from a generator seeded with ``seed``,
    as in :func:`answers`."""
    generator = torch.Generator().manual_seed(seed)
    return model(tokens.to(_device(model)), generator=generator).argmax(-1).cpu()


@torch.no_grad()
def explicit_accuracy(
    model: ExplicitTransformer, tests: dict[int, dict], seed: int = 0
) -> dict[str, np.ndarray]:
    """The explicit transformer's accuracy per hop count: ``{"answer": (H,), "all": (H,)}``."""
    answer, whole = [], []
    for data in tests.values():
        right = explicit_answers(model, data["tokens"], seed) == data["targets"]
        answer.append(float(right[:, -1].float().mean()))
        whole.append(float(right.all(dim=1).float().mean()))
    return {"answer": np.array(answer), "all": np.array(whole)}


def chance(tests: dict[int, dict]) -> np.ndarray:
    """Per hop count, the accuracy of answering with a random root digit of the prompt."""
    return np.array([float(data["chance"].mean()) for data in tests.values()])


def text_lipschitz(
    model: LoopedTransformer,
    iterations: Sequence[int],
    hops: int,
    statements: int,
    num: int,
    seed: int = 0,
    names: int = 52,
    max_distractor: int = 8,
) -> dict[str, np.ndarray]:
    """The paper's text L_t for the looped transformer, against r.

    ``num`` prompts with ``hops`` hops are drawn; half are paired with the prompt whose queried
    chain's root digit is changed (one word), half with the prompt where another chain's root
    changes too (two words). For each r, L_r is the mean over pairs of
    Lev(out_r(x), out_r(x')) / Lev(x, x'), out_r the words of the model's answers (one digit per
    statement, :func:`~implicit_edu.experiments.reasoning.data.answer_text`) and Lev the word-level
    edit distance of the texts. Both prompts of a pair start from the same random state.

    Returns ``{"r": (R,), "lt": (R,), "per_pair": (R, num), "true": float}``; ``true`` is the same
    ratio for the true answers, the value a perfect model reaches.
    """
    rs = _check_iterations(iterations)
    base = chain_data(num, hops, statements, seed, names, max_distractor)
    half = num // 2
    first = {k: v[:half] for k, v in base.items()}
    second = {k: v[half:] for k, v in base.items()}
    changed = [perturb_roots(first, 1, seed, names), perturb_roots(second, 2, seed + 1, names)]
    other = {k: torch.cat([changed[0][k], changed[1][k]]) for k in ("tokens", "targets")}
    inputs = [
        word_levenshtein(prompt_text(a, names), prompt_text(b, names))
        for a, b in zip(base["tokens"], other["tokens"], strict=True)
    ]
    true = [
        word_levenshtein(answer_text(a), answer_text(b)) / d
        for a, b, d in zip(base["targets"], other["targets"], inputs, strict=True)
    ]
    out_x = answers(model, base["tokens"], rs, seed)
    out_y = answers(model, other["tokens"], rs, seed)
    per_pair = np.array(
        [
            [
                word_levenshtein(answer_text(a), answer_text(b)) / d
                for a, b, d in zip(out_x[i], out_y[i], inputs, strict=True)
            ]
            for i in range(len(rs))
        ]
    )
    return {"r": np.array(rs), "lt": per_pair.mean(1), "per_pair": per_pair, "true": np.mean(true)}


def _core_and_states(model, x: torch.Tensor, steps: int, seed: int):
    """The core as a map of the state alone, s ↦ R(s, ·), and the states s_0, …, s_steps."""
    x = x.to(_device(model))
    if isinstance(model, RecurrentConvNet):
        signal = model.signal(x)
        with torch.no_grad():
            start = model.projection(signal)

        def core(s: torch.Tensor) -> torch.Tensor:
            return model.core(s, signal)
    elif isinstance(model, LoopedTransformer):
        with torch.no_grad():
            e = model.embed(x)
            start = model.initial_state(e, torch.Generator().manual_seed(seed))

        def core(s: torch.Tensor) -> torch.Tensor:
            return model.core(s, e)
    else:
        raise TypeError(f"expected a looped model, got {type(model).__name__}")
    with torch.no_grad():
        states = iterate(core, start, steps)
    return core, states


def state_changes(model, x: torch.Tensor, steps: int, seed: int = 0) -> np.ndarray:
    """‖s_t − s_{t−1}‖ / ‖s_t‖ per sample for t = 1 … steps: shape (steps, B).

    ``x`` is a batch of bit strings
    (:class:`~implicit_edu.experiments.reasoning.models.RecurrentConvNet`) or of prompts
    (:class:`~implicit_edu.experiments.reasoning.models.LoopedTransformer`). A change that falls to
    zero means the iteration has reached a fixed point s* = R(s*, ·).
    """
    _, states = _core_and_states(model, x, steps, seed)
    out = []
    for before, after in zip(states[:-1], states[1:], strict=True):
        change = torch.linalg.vector_norm((after - before).flatten(1), dim=1)
        out.append((change / torch.linalg.vector_norm(after.flatten(1), dim=1)).cpu())
    return torch.stack(out).numpy()


def contraction_along_path(
    model, x: torch.Tensor, at: Sequence[int], iters: int = 30, seed: int = 0
) -> np.ndarray:
    """‖∂R/∂s (s_t, ·)‖₂ per sample at each t in ``at`` (s_0 the start): shape (len(at), B).

    A value below 1 along the whole path would make the core a contraction there (Part II); the
    cores trained here are not constrained to be one, so this is measured, not assumed.
    """
    at = [int(t) for t in at]
    if not at or min(at) < 0:
        raise ValueError(f"at must list iterations t ≥ 0, got {at!r}")
    core, states = _core_and_states(model, x, max(at), seed)
    norms = [spectral_norm(core, states[t], iters=iters, seed=seed).cpu() for t in at]
    return torch.stack(norms).numpy()
