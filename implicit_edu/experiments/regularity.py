"""The experiments of the chapter "Keeping the operator regular" (``book/part3/regularity.md``).

The chapter proves that three parametrisations keep an implicit layer regular (its propositions
``prop-reg-spectral``, ``prop-reg-averaged`` and ``prop-reg-monotone``; the operators themselves
live in :mod:`implicit_edu.core.regular`) and runs two experiments, both in this module:

* Section "When training breaks the contraction", the 2 × 2 design. The implicit layer
  ``g(y, x) = tanh(W y + U x + b)`` with a state ``y ∈ ℝ¹⁶`` fits ``1/x`` on ``[0.05, 1]`` through
  the read-out ``ŷ = 20 (cᵀ y + c₀)`` (:class:`TanhRegressor`). ``W`` is unconstrained or
  spectrally normalised to ``‖W‖₂ = 0.9``, and the layer is trained through ``N = 10`` unrolled
  Picard steps or through its fixed point (implicit differentiation): the four cells of
  :data:`DESIGN`. :func:`run_design` trains every cell for every seed; :func:`test_time_run`
  iterates each trained operator far past its training depth and measures the error, the
  relative step and the local factor ``‖∂g/∂y‖₂`` at ``y_N``. :func:`failure_summary`,
  :func:`design_lines`, :func:`design_summary`, :func:`gradient_note` and
  :func:`design_table_parts` (or :func:`design_table`) turn the runs into the numbers and the
  table of the section.
* Section "The trade-off: a bound on μ against speed and accuracy". The learned sufficiency
  construction ``g(y, x) = (1 − ε(x)) y + p(x)`` (equation ``eq-reg-averaged`` with ``h = 0``) is
  trained under each bound ``μ_max`` of :data:`BOUNDS`, with a constant step ``ε = 1 − μ_max`` or
  an adaptive step ``ε(x) ∈ (1 − μ_max, 1)`` (:func:`make_model`, :func:`train_and_measure`,
  :func:`run_sweep`), on ``1/x`` and on the two-dimensional :func:`bump`. :func:`error_floor` is
  the accuracy floor ``e_min(K)`` of proposition ``prop-reg-floor`` ("An accuracy floor for a
  capped slope"); :func:`summarise`, :func:`sweep_table_parts` (or :func:`markdown_table`),
  :func:`sweep_glue` and :func:`trend` are the bookkeeping of the section's tables and prose.

Every function draws its random numbers in the same order as the chapter always did (each model
is seeded with :func:`~implicit_edu.runtime.profiles.seed_everything`), so the book's numbers do
not depend on where the code lives. The chapter runs in ``float64``
(``torch.set_default_dtype(torch.float64)``); the models take the default dtype.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from implicit_edu.analysis.lipschitz import spectral_norm
from implicit_edu.core.deq import DEQ
from implicit_edu.core.regular import (
    AdaptiveStep,
    AveragedOperator,
    LipschitzMLP,
    TanhOperator,
)
from implicit_edu.experiments import toy
from implicit_edu.runtime.notebook import markdown_table as pipe_table
from implicit_edu.runtime.profiles import seed_everything
from implicit_edu.runtime.stats import paired_interval

__all__ = [
    "BOUNDS",
    "DELTA",
    "DESIGN",
    "LIP_A",
    "LIP_P",
    "LR",
    "OUTPUT_SCALE",
    "SETTLED",
    "STATE_WIDTH",
    "TOLERANCE",
    "UNROLL",
    "WIDTH",
    "TanhRegressor",
    "banach_iterations",
    "bound_tag",
    "bump",
    "design_lines",
    "design_summary",
    "design_table",
    "design_table_parts",
    "error_floor",
    "failure_summary",
    "gradient_note",
    "make_model",
    "markdown_table",
    "relative_errors",
    "run_design",
    "run_sweep",
    "summarise",
    "sweep_glue",
    "sweep_table_parts",
    "test_budget",
    "test_time_run",
    "train_and_measure",
    "trend",
]

# --- when training breaks the contraction: the 2 × 2 design -------------------------------------

UNROLL = 10
"""N, the unrolled Picard steps that the unrolled cells train through (from ``y_0 = 0``)."""
OUTPUT_SCALE = 20.0
"""The read-out's factor, the largest target value ``1/0.05``, so that ``c`` starts at scale 1."""
STATE_WIDTH = 16
"""The size of the state y of :class:`TanhRegressor`."""
SETTLED = 1e-6
"""A run whose last relative step ``‖y_{t+1} − y_t‖ / ‖y_{t+1}‖`` exceeds this is still moving."""
DESIGN: dict[tuple[str, str], float | None] = {
    ("unconstrained", "unrolled"): None,
    ("unconstrained", "ift"): None,
    ("normalised", "unrolled"): 0.9,
    ("normalised", "ift"): 0.9,
}
"""The four cells ``(constraint, backward) → μ`` (``None``: ``W`` is free)."""


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_count(name: str, value: object, least: int) -> None:
    if not (_is_int(value) and value >= least):
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed, e.g. seeds=[0]")
    for seed in seeds:
        _check_count("every seed", seed, 0)
    return seeds


class TanhRegressor(nn.Module):
    """``ŷ(x) = 20 (cᵀ y + c₀)``, y from the implicit layer ``g(y, x) = tanh(W y + U x + b)``.

    Args:
        mu: ``‖W‖₂`` for a spectrally normalised W (proposition ``prop-reg-spectral``), or
            ``None`` for a free W.
        backward: ``"unrolled"`` (backpropagate through :data:`UNROLL` Picard steps from
            ``y_0 = 0``) or ``"ift"`` (through the fixed point, by implicit differentiation).
        seed: seeds the operator's generator and, through ``seed_everything``, the read-out.
        unroll: the unrolled steps N of the ``"unrolled"`` backward.

    An unconstrained operator need not have a fixed point, so its solves may fail silently; only
    the normalised operator trained through its fixed point warns when a solve does not converge.
    """

    def __init__(self, mu: float | None, backward: str, seed: int, *, unroll: int = UNROLL):
        super().__init__()
        if backward not in ("unrolled", "ift"):
            raise ValueError(
                f"backward must be 'unrolled' or 'ift' (the two columns of the design), "
                f"got {backward!r}"
            )
        _check_count("unroll", unroll, 1)
        seed_everything(seed)
        self.unroll = unroll
        self.g = TanhOperator(STATE_WIDTH, 1, mu=mu, generator=torch.Generator().manual_seed(seed))
        self.layer = DEQ(
            self.g,
            solver="anderson",
            backward=backward,
            tol=1e-8,
            max_iter=200,
            unrolled_steps=unroll,
            warn_on_nonconvergence=mu is not None and backward != "unrolled",
        )
        self.readout = nn.Linear(STATE_WIDTH, 1)

    def read(self, y: torch.Tensor) -> torch.Tensor:
        """The read-out ``20 (cᵀ y + c₀)`` of states y of shape (B, 16): shape (B,)."""
        return OUTPUT_SCALE * self.readout(y)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``ŷ(x)`` for x of shape (B,), as ``toy.fit_inverse`` passes it."""
        if x.dim() != 1:
            raise ValueError(f"x must have shape (B,), a batch of scalars, got {tuple(x.shape)}")
        return self.read(self.layer(x[:, None]))


def test_time_run(model: TanhRegressor, x: torch.Tensor, steps: int) -> dict[str, Any]:
    """Picard iterates ``y_0 = 0, …, y_steps`` of a trained :class:`TanhRegressor`'s operator.

    Returns a dict with ``errors`` (mean relative error of the read-out of each ``y_t`` against
    ``1/x``, ``steps + 1`` numbers), ``moves`` (largest relative step
    ``‖y_{t+1} − y_t‖ / ‖y_{t+1}‖`` over x, ``steps`` numbers), ``jac_at_n`` (the largest
    ``‖∂g/∂y (y_N, x)‖₂`` over x, at the iterate the model was trained on), ``norm_W``
    (``‖W‖₂``) and ``unroll`` (N).
    """
    unroll = model.unroll
    if not (_is_int(steps) and steps >= unroll):
        raise ValueError(
            f"steps must be an integer >= the training depth N = {unroll} (the factor is "
            f"measured at y_N), got {steps!r}"
        )
    if x.dim() != 1:
        raise ValueError(f"x must have shape (B,), a batch of scalars, got {tuple(x.shape)}")
    xs = x[:, None]
    with torch.no_grad():
        ys = [model.g.initial_state(xs)]
        for _ in range(steps):
            ys.append(model.g(ys[-1], xs))
        errors = [float(toy.relative_error(model.read(y), x).mean()) for y in ys]
        moves = [
            float(((ys[t + 1] - ys[t]).norm(dim=1) / ys[t + 1].norm(dim=1)).max())
            for t in range(steps)
        ]
    jac_at_n = spectral_norm(lambda y: model.g(y, xs), ys[unroll])
    return {
        "errors": errors,
        "moves": moves,
        "jac_at_n": float(jac_at_n.max()),
        "norm_W": model.g.contraction_bound(),
        "unroll": unroll,
    }


def run_design(
    seeds: Sequence[int],
    *,
    train_x: torch.Tensor,
    test_x: torch.Tensor,
    steps: int,
    test_iterations: int,
    lr: float = 1e-2,
    design: dict[tuple[str, str], float | None] = DESIGN,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Train every cell of the design for every seed on ``1/x``; ``{cell: [run per seed]}``.

    Each model is fitted by :func:`~implicit_edu.experiments.toy.fit_inverse` (Adam, ``steps``
    steps, cosine schedule) on ``train_x`` and measured by :func:`test_time_run` on ``test_x``
    with ``test_iterations`` Picard steps. The seeds are the outer loop, the cells the inner one.
    """
    seeds = _check_seeds(seeds)
    _check_count("steps", steps, 1)
    if not design:
        raise ValueError("design is empty: give at least one cell (constraint, backward) -> mu")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {cell: [] for cell in design}
    for seed in seeds:
        for (constraint, backward), mu in design.items():
            model = TanhRegressor(mu, backward, seed)
            toy.fit_inverse(model, train_x, steps, lr=lr)
            runs[constraint, backward].append(test_time_run(model, test_x, test_iterations))
    return runs


def _cell(runs: dict[tuple[str, str], list[dict[str, Any]]], cell: tuple[str, str]) -> list:
    if cell not in runs or not runs[cell]:
        raise ValueError(f"the runs have no cell {cell!r}: pass the result of run_design")
    return runs[cell]


def _moving(run: dict[str, Any]) -> bool:
    return run["moves"][-1] > SETTLED


def failure_summary(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, float]:
    """The numbers of the section's first paragraph, by glue name (``fail_*``, ``norm_*``).

    The unconstrained operator trained through unrolled steps against the normalised one trained
    through its fixed point: ``‖W‖₂`` and the factor at ``y_N`` (range over seeds), the mean error
    at ``t = N`` and at the end, how many seeds got at least twice worse after ``t = N`` and how
    many were still moving.
    """
    free = _cell(runs, ("unconstrained", "unrolled"))
    normed = _cell(runs, ("normalised", "ift"))
    unroll = free[0]["unroll"]
    error_at_n = [r["errors"][unroll] for r in free]
    error_late = [r["errors"][-1] for r in free]
    return {
        "fail_seeds": len(free),
        "fail_norm_w_min": min(r["norm_W"] for r in free),
        "fail_norm_w_max": max(r["norm_W"] for r in free),
        "fail_jac_min": min(r["jac_at_n"] for r in free),
        "fail_jac_max": max(r["jac_at_n"] for r in free),
        "fail_err_n": sum(error_at_n) / len(error_at_n),
        "fail_err_late": sum(error_late) / len(error_late),
        "fail_unsettled": sum(_moving(r) for r in free),
        "fail_worse": sum(
            late > 2 * at_n for late, at_n in zip(error_late, error_at_n, strict=True)
        ),
        "fail_t_late": len(free[0]["errors"]) - 1,
        "norm_err_late": sum(r["errors"][-1] for r in normed) / len(normed),
        "norm_move_late": max(r["moves"][-1] for r in normed),
        "norm_jac_max": max(r["jac_at_n"] for r in normed),
    }


def design_lines(
    runs: dict[tuple[str, str], list[dict[str, Any]]], seeds: Sequence[int]
) -> list[str]:
    """One line per cell and seed: ‖W‖₂, the factor at ``y_N``, the errors, the last step."""
    lines = []
    for (constraint, backward), cell_runs in runs.items():
        for seed, r in zip(seeds, cell_runs, strict=True):
            unroll, late = r["unroll"], len(r["errors"]) - 1
            lines.append(
                f"{constraint:13s} {backward:8s} seed {seed}: ‖W‖₂ = {r['norm_W']:.3f}, max "
                f"‖∂g/∂y‖ at y_N = {r['jac_at_n']:.3f}, error at t = N: {r['errors'][unroll]:.4f}, "
                f"at t = {late}: {r['errors'][-1]:.4f}, "
                f"last relative step {r['moves'][-1]:.1e}"
            )
    return lines


def design_summary(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, float]:
    """Per cell, by glue name: mean error at ``t = N`` and at the end, seeds still moving, the
    largest factor at ``y_N``; and how many unconstrained fixed-point-trained seeds contract."""
    out: dict[str, float] = {}
    for cell, cell_runs in runs.items():
        key = "_".join(cell)
        unroll = cell_runs[0]["unroll"]
        out[f"design_err_n_{key}"] = sum(r["errors"][unroll] for r in cell_runs) / len(cell_runs)
        out[f"design_err_late_{key}"] = sum(r["errors"][-1] for r in cell_runs) / len(cell_runs)
        out[f"design_unsettled_{key}"] = sum(_moving(r) for r in cell_runs)
        out[f"design_jac_{key}"] = max(r["jac_at_n"] for r in cell_runs)
    mixed_free = _cell(runs, ("unconstrained", "ift"))
    out["mixed_free_contracting"] = sum(r["jac_at_n"] < 1 for r in mixed_free)
    return out


def gradient_note(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """A sentence on unrolled minus fixed-point error of the normalised operator, paired by seed.

    With several seeds it reports the 95 % t-interval of
    :func:`~implicit_edu.runtime.stats.paired_interval` and whether it contains zero; with one
    seed it says that there is no interval.
    """
    differences = [
        u["errors"][-1] - i["errors"][-1]
        for u, i in zip(
            _cell(runs, ("normalised", "unrolled")), _cell(runs, ("normalised", "ift")), strict=True
        )
    ]
    gap, half, n = paired_interval(differences)
    if n == 1:
        return (
            f"With one seed the difference, {gap:+.4f}, has no interval (the cpu and gpu "
            "profiles run several)."
        )
    head = (
        f"Paired by seed, unrolled minus fixed-point error at the end is {gap:+.4f} "
        f"± {half:.4f} (95 % t-interval, {n} seeds): "
    )
    if abs(gap) <= half:
        return head + (
            "it contains zero, so on a settled operator these seeds cannot tell the two gradients "
            "apart; the constraint decides whether the output settles, and here the gradient makes "
            "no measurable difference to how good it is."
        )
    return head + (
        f"the fixed-point gradient gives the {'lower' if gap > 0 else 'higher'} error; "
        "the constraint decides whether the output settles, the gradient how good it is."
    )


def design_table_parts(
    runs: dict[tuple[str, str], list[dict[str, Any]]],
) -> tuple[list[str], list[list[str]], list[str | None]]:
    """The design as a table's header, rows and column alignments: one row per cell, means and
    counts over the seeds. Show it with
    ``captioned_table(header, rows, align=align, caption=...)``
    (:func:`implicit_edu.runtime.notebook.captioned_table`)."""
    if not runs:
        raise ValueError("runs is empty: pass the result of run_design")
    first = next(iter(runs.values()))
    if not first:
        raise ValueError("the runs have a cell without seeds: pass the result of run_design")
    late = len(first[0]["errors"]) - 1
    header = [
        "$W$",
        "training",
        "mean error at $t = N$",
        f"mean error at $t = {late}$",
        "seeds still moving",
        "largest factor at $y_N$",
    ]
    rows = []
    for (constraint, backward), cell_runs in runs.items():
        unroll = cell_runs[0]["unroll"]
        rows.append(
            [
                constraint,
                "unrolled" if backward == "unrolled" else "fixed point (ift)",
                f"{sum(r['errors'][unroll] for r in cell_runs) / len(cell_runs):.3f}",
                f"{sum(r['errors'][-1] for r in cell_runs) / len(cell_runs):.3f}",
                f"{sum(_moving(r) for r in cell_runs)} of {len(cell_runs)}",
                f"{max(r['jac_at_n'] for r in cell_runs):.3f}",
            ]
        )
    return header, rows, [None, None, "right", "right", "right", "right"]


def design_table(runs: dict[tuple[str, str], list[dict[str, Any]]]) -> str:
    """The design as a Markdown table (:func:`design_table_parts`, written out)."""
    header, rows, align = design_table_parts(runs)
    return pipe_table(header, rows, align=align)


# --- the trade-off: a bound on μ against speed and accuracy -------------------------------------

BOUNDS = (0.5, 0.8, 0.9, 0.95, 0.99)
"""The bounds ``μ_max`` of the sweep."""
LIP_P = 4.0
"""``L_p``: the certified Lipschitz bound of the injection p."""
LIP_A = 16.0
"""The Lipschitz bound of the network a inside the adaptive step ``ε(x)``."""
WIDTH = 16
"""Hidden width of p and of a."""
LR = 2e-2
"""Adam's learning rate (with a cosine schedule)."""
TOLERANCE = 1e-6
"""The test-time tolerance (Picard iterates until the relative distance to ``y*`` is below it)."""
DELTA = 0.05
"""δ of the two-dimensional target :func:`bump`."""


def banach_iterations(mu: float, tolerance: float = TOLERANCE) -> int:
    """``⌈log tol / log μ⌉``: Banach's count of Picard iterations from ``y_0 = 0`` for factor μ."""
    if not 0 < mu < 1:
        raise ValueError(f"mu must be a contraction factor in (0, 1), got {mu!r}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must lie in (0, 1), got {tolerance!r}")
    return math.ceil(math.log(tolerance) / math.log(mu))


def test_budget(
    bounds: Sequence[float] = BOUNDS, tolerance: float = TOLERANCE, margin: int = 10
) -> int:
    """Test-time Picard steps of the sweep: Banach's count for the largest bound plus a margin."""
    if not bounds:
        raise ValueError("bounds is empty: give the bounds μ_max of the sweep")
    return banach_iterations(max(bounds), tolerance) + margin


def bound_tag(mu_max: float) -> str:
    """The bound as it appears in glue names: 0.95 → ``"095"``."""
    return str(mu_max).replace(".", "")


def relative_errors(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``‖ŷ − F‖ / ‖F‖`` per sample, for rows of shape (B, k)."""
    if prediction.shape != target.shape or prediction.dim() != 2:
        raise ValueError(
            "prediction and target must have the same shape (B, k), got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    return (prediction - target).norm(dim=1) / target.norm(dim=1)


def error_floor(F_values: torch.Tensor, x_values: torch.Tensor, K: float) -> float:
    """The floor ``e_min(K)`` of proposition ``prop-reg-floor`` on a grid.

    The largest relative error of any K-Lipschitz f against F is at least
    ``max over grid pairs of (‖F(x₁) − F(x₂)‖ − K ‖x₁ − x₂‖) / (‖F(x₁)‖ + ‖F(x₂)‖)``, and at least
    0. Values of shape (B,) or (B, k); a lower bound of the supremum over all pairs.
    """
    if len(F_values) != len(x_values) or len(F_values) < 2:
        raise ValueError(
            "F_values and x_values must hold the same number (at least 2) of grid points, got "
            f"{len(F_values)} and {len(x_values)}"
        )
    if not K >= 0:
        raise ValueError(f"K, a Lipschitz constant, must be >= 0, got {K!r}")
    F_values, x_values = F_values.reshape(len(F_values), -1), x_values.reshape(len(x_values), -1)
    gaps = torch.cdist(F_values, F_values) - K * torch.cdist(x_values, x_values)
    sizes = F_values.norm(dim=1)
    return max(0.0, float((gaps / (sizes[:, None] + sizes[None, :])).max()))


def make_model(
    mu_max: float,
    adaptive: bool,
    in_features: int,
    *,
    width: int = WIDTH,
    lip_p: float = LIP_P,
    lip_a: float = LIP_A,
) -> AveragedOperator:
    """``g(y, x) = (1 − ε(x)) y + p(x)`` with ``μ(x) = 1 − ε(x) ≤ μ_max``, scalar state.

    p is a :class:`~implicit_edu.core.regular.LipschitzMLP` with ``Lip(p) ≤ lip_p`` started near
    0; ε is ``1 − μ_max`` (constant step) or an :class:`~implicit_edu.core.regular.AdaptiveStep`
    in ``(1 − μ_max, 1)`` with ``Lip(a) ≤ lip_a`` (adaptive step). Both draw from the global
    generator: seed first.
    """
    if not 0 < mu_max < 1:
        raise ValueError(f"mu_max must lie in (0, 1), got {mu_max!r}")
    if not isinstance(adaptive, bool):
        raise ValueError(f"adaptive must be True or False, got {adaptive!r}")
    p = LipschitzMLP(in_features, 1, width=width, lip=lip_p, out_scale=0.01)
    if adaptive:
        eps = AdaptiveStep(in_features, eps_min=1 - mu_max, eps_max=1.0, width=width, lip=lip_a)
    else:
        eps = 1 - mu_max
    return AveragedOperator(injection=p, eps=eps, width=1)


def _check_data(x_train, F_train, x_test, F_test) -> None:
    for name, x, F in (("train", x_train, F_train), ("test", x_test, F_test)):
        if x.dim() != 2 or F.dim() != 2 or F.shape[1] != 1 or len(x) != len(F):
            raise ValueError(
                f"x_{name} must have shape (B, d) and F_{name} shape (B, 1) with the same B, got "
                f"{tuple(x.shape)} and {tuple(F.shape)}"
            )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x_train and x_test must have the same number of features, got "
            f"{x_train.shape[1]} and {x_test.shape[1]}"
        )


def train_and_measure(
    mu_max: float,
    adaptive: bool,
    seed: int,
    *,
    x_train: torch.Tensor,
    F_train: torch.Tensor,
    x_test: torch.Tensor,
    F_test: torch.Tensor,
    steps: int,
    lr: float = LR,
    tolerance: float = TOLERANCE,
    test_iterations: int | None = None,
) -> dict[str, Any]:
    """Train one model of the sweep through its fixed point and measure it at test time.

    The model (:func:`make_model`) is a ``DEQ`` with an Anderson forward solve and the exact
    (``"ift"``) backward, trained by Adam with a cosine schedule for ``steps`` steps on the mean
    squared relative error. At test time the fixed point is ``y* = p/ε`` in closed form (part 2
    of proposition ``prop-reg-averaged``), and Picard iteration from ``y_0 = 0`` runs for
    ``test_iterations`` steps (default :func:`test_budget`).

    Returns a dict with per-input tensors ``errors`` (relative error of y*), ``mu`` (μ(x)),
    ``iterations`` (Picard steps to a relative distance ``tolerance`` from y*; budget + 1 where
    never), ``y_star``; ``curve`` (mean relative error of ``y_t`` against F for each t); the
    bounds ``lip_p`` and ``lip_eps`` (0 for a constant step); and the training ``seconds``.
    """
    _check_count("steps", steps, 1)
    _check_data(x_train, F_train, x_test, F_test)
    if test_iterations is None:
        test_iterations = test_budget(tolerance=tolerance)
    _check_count("test_iterations", test_iterations, 1)
    seed_everything(seed)
    g = make_model(mu_max, adaptive, x_train.shape[1])
    layer = DEQ(g, solver="anderson", backward="ift", tol=1e-8, max_iter=100)
    optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    started = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        loss = relative_errors(layer(x_train), F_train).pow(2).mean()
        loss.backward()
        optimiser.step()
        schedule.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        e, p = g.coefficients(x_test)
        y_star = p / e  # the fixed point in closed form (part 2 of the proposition)
        mu = g.contraction_bound(x_test)
        trajectory = g.iterates(x_test, test_iterations)  # Picard from y_0 = 0
        distance = (trajectory - y_star).norm(dim=2) / y_star.norm(dim=1)
        reached = distance <= tolerance
        iterations = torch.where(reached.any(0), reached.float().argmax(0), test_iterations + 1)
        curve = ((trajectory - F_test).norm(dim=2) / F_test.norm(dim=1)).mean(dim=1)
    predicted = torch.ceil(torch.log(torch.tensor(tolerance)) / torch.log(mu))
    if int((iterations - predicted).abs().max()) > 1:  # linear in y: the error is exactly μ(x)^t
        raise RuntimeError(
            "the Picard iteration counts differ from ⌈log tol / log μ(x)⌉ by more than one: "
            "is test_iterations large enough for the bound?"
        )
    return {
        "errors": relative_errors(y_star, F_test),
        "mu": mu,
        "iterations": iterations.double(),
        "curve": curve,
        "lip_p": g.injection.lipschitz_bound(),
        "seconds": seconds,
        "lip_eps": g.eps.lipschitz_bound() if adaptive else 0.0,
        "y_star": y_star[:, 0],
    }


def run_sweep(
    seeds: Sequence[int],
    *,
    x_train: torch.Tensor,
    F_train: torch.Tensor,
    x_test: torch.Tensor,
    F_test: torch.Tensor,
    steps: int,
    bounds: Sequence[float] = BOUNDS,
    **options: Any,
) -> dict[tuple[bool, float], list[dict[str, Any]]]:
    """:func:`train_and_measure` for every step kind, bound and seed: ``{(adaptive, μ_max): runs}``.

    The constant step comes first, then the adaptive one; the bounds in order; the seeds
    innermost. ``options`` go to :func:`train_and_measure` (``lr``, ``tolerance``,
    ``test_iterations``).
    """
    seeds = _check_seeds(seeds)
    if not bounds:
        raise ValueError("bounds is empty: give the bounds μ_max of the sweep")
    data = {"x_train": x_train, "F_train": F_train, "x_test": x_test, "F_test": F_test}
    runs = {}
    for adaptive in (False, True):
        for mu_max in bounds:
            runs[adaptive, mu_max] = [
                train_and_measure(mu_max, adaptive, s, steps=steps, **data, **options)
                for s in seeds
            ]
    return runs


def _mean(runs: list[dict[str, Any]], field: str, reduce: str, mask=None) -> float:
    total = 0
    for r in runs:
        values = r[field] if mask is None else r[field][mask]
        total += float(getattr(values, reduce)())
    return total / len(runs)


def summarise(
    runs: dict[tuple[bool, float], list[dict[str, Any]]], steep: torch.Tensor
) -> dict[tuple[bool, float], dict[str, float]]:
    """Per ``(adaptive, μ_max)``: means over seeds of the errors, iteration counts and μ range.

    Fields: ``mean`` and ``max`` error over x, ``steep`` (mean error where the boolean mask
    ``steep`` is true), ``it_mean`` and ``it_max`` (Picard iterations), ``mu_max_used`` and
    ``mu_min_used`` (range of μ(x)).
    """
    if not runs:
        raise ValueError("runs is empty: pass the result of run_sweep")
    for key, rs in runs.items():
        if not rs:
            raise ValueError(f"the cell {key!r} has no runs: pass the result of run_sweep")
        if steep.dtype != torch.bool or steep.shape != rs[0]["errors"].shape:
            raise ValueError(
                f"steep must be a boolean mask of shape {tuple(rs[0]['errors'].shape)} over the "
                f"test inputs, got {steep.dtype} of shape {tuple(steep.shape)}"
            )
    return {
        key: {
            "mean": _mean(rs, "errors", "mean"),
            "max": _mean(rs, "errors", "max"),
            "steep": _mean(rs, "errors", "mean", steep),
            "it_mean": _mean(rs, "iterations", "mean"),
            "it_max": _mean(rs, "iterations", "max"),
            "mu_max_used": _mean(rs, "mu", "max"),
            "mu_min_used": _mean(rs, "mu", "min"),
        }
        for key, rs in runs.items()
    }


def sweep_table_parts(
    table: dict[tuple[bool, float], dict[str, float]],
    floors: Sequence[float],
    bounds: Sequence[float] = BOUNDS,
) -> tuple[list[str], list[list[str]], list[str | None]]:
    """Constant (C) and adaptive (A) step: mean and largest error, iterations, largest μ(x), as a
    table's header, rows and column alignments (one row per bound). Show it with
    ``captioned_table(header, rows, align=align, caption=...)``
    (:func:`implicit_edu.runtime.notebook.captioned_table`)."""
    if len(floors) != len(bounds):
        raise ValueError(f"give one floor per bound: {len(floors)} floors for {len(bounds)} bounds")
    header = [
        "$\\mu_{\\max}$",
        "floor",
        "C mean",
        "C max",
        "C iter.",
        "A mean",
        "A max",
        "A iter. mean",
        "A iter. max",
        "A $\\max_x \\mu(x)$",
    ]
    rows = []
    for mu_max, floor in zip(bounds, floors, strict=True):
        c, a = table[False, mu_max], table[True, mu_max]
        rows.append(
            [
                f"{mu_max}",
                f"{floor:.3f}",
                f"{c['mean']:.3f}",
                f"{c['max']:.3f}",
                f"{c['it_mean']:.0f}",
                f"{a['mean']:.3f}",
                f"{a['max']:.3f}",
                f"{a['it_mean']:.0f}",
                f"{a['it_max']:.0f}",
                f"{a['mu_max_used']:.3f}",
            ]
        )
    return header, rows, [None] * len(header)


def markdown_table(
    table: dict[tuple[bool, float], dict[str, float]],
    floors: Sequence[float],
    bounds: Sequence[float] = BOUNDS,
) -> str:
    """The sweep as a Markdown table (:func:`sweep_table_parts`, written out)."""
    header, rows, align = sweep_table_parts(table, floors, bounds)
    return pipe_table(header, rows, align=align)


def sweep_glue(
    table: dict[tuple[bool, float], dict[str, float]],
    *,
    prefix: str,
    fields: Iterable[str],
    floors: Sequence[float] | None = None,
    bounds: Sequence[float] = BOUNDS,
) -> dict[str, float]:
    """The summary as glue names: ``{prefix}_{const|adapt}_{tag}_{field}``, then the floors
    ``{prefix}_floor_{tag}`` if given (``tag``: :func:`bound_tag`, 0.95 → ``095``)."""
    fields = list(fields)
    out = {}
    for mu_max in bounds:
        for adaptive, name in ((False, "const"), (True, "adapt")):
            for field in fields:
                out[f"{prefix}_{name}_{bound_tag(mu_max)}_{field}"] = table[adaptive, mu_max][field]
    if floors is not None:
        if len(floors) != len(bounds):
            raise ValueError(
                f"give one floor per bound: {len(floors)} floors for {len(bounds)} bounds"
            )
        for mu_max, floor in zip(bounds, floors, strict=True):
            out[f"{prefix}_floor_{bound_tag(mu_max)}"] = floor
    return out


def trend(values: Sequence[float]) -> str:
    """How a sequence of errors moves as the bound grows, in words for the prose."""
    if len(values) < 2:
        raise ValueError(f"a trend needs at least two values, got {len(values)}")
    if all(b < a for a, b in pairwise(values)):
        return "falls with every step of the bound"
    if values[-1] < values[0]:
        return "falls overall, though not at every step of the bound"
    return "does not fall as the bound grows"


def bump(x: torch.Tensor, delta: float = DELTA) -> torch.Tensor:
    """``F(x) = 1 / (‖x‖² + δ)`` for rows x of shape (B, d): shape (B, 1), height ``1/δ``."""
    if x.dim() != 2:
        raise ValueError(f"x must have shape (B, d), got {tuple(x.shape)}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0 (the bump's height is 1/δ), got {delta!r}")
    return 1 / ((x * x).sum(dim=1, keepdim=True) + delta)
