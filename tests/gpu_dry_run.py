"""A dry run of the ``gpu`` profile on the CPU: the peak GPU memory of one training step.

Used by ``tests/test_gpu_dry_run.py`` (issue 15). No GPU has run the ``gpu`` profile yet; this
module builds a ``gpu`` model, runs one training step of it on the CPU on a small synthetic batch
of b samples (and again on 2b), and estimates from the measured bytes what the step would need on
a GPU at the profile's full batch size B. The estimate, with every term in bytes:

    static      = parameters + gradients + optimiser state      (measured; Adam/AdamW: 2 × params)
    activations = saved(b) × B / b        saved: what autograd keeps for backward (deduplicated by
                                          storage, parameters and inputs left out), measured with
                                          implicit_edu.experiments.memory.saved_tensor_bytes
    solver      = max((2m + 5) × state bytes × B,  solve_peak(b) × B / b)
                  for a DEQ only: Anderson keeps m iterates and m residuals and a handful of
                  working states; solve_peak is the measured peak of the no-grad forward solve
                  (PeakMemoryTracker), which also holds one evaluation's working set
    formula     = static + 1.5 × (activations + solver) + 1 GiB
    tracked     = static + 1.5 × step_peak(b) × B / b + 1 GiB
                  step_peak: PeakMemoryTracker's peak of the whole step (forward solve, forward,
                  loss, backward including the ift backward solve, the gradients)
    estimate    = max(formula, tracked)

The factor 1.5 on everything that grows with the batch stands for the CUDA caching allocator's
rounding and fragmentation and for cuDNN/cuFFT workspaces; 1 GiB for the CUDA context and the
libraries' kernels. A Colab T4 reports 15 GiB (15360 MiB) of memory, so "fits with room to spare"
is ``estimate <= 0.75 × 15 GiB``. Scaling from b to B assumes that what grows with the batch
grows linearly; :attr:`Estimate.ratio` (saved(2b) / saved(b), about 2) checks it. Scaling by
B / b is an upper bound for anything of the form a + s·b with a ≥ 0, and also for the peak, a
maximum over time of such terms: max_i(a_i + s_i b) · B / b ≥ max_i(a_i + s_i B). A straight line
through b and 2b is not: at b = 2 a batch-independent transient of the backward pass (a weight
gradient's workspace) can be the peak, and the line's slope then misses what grows with B. The
peak's B / b scaling multiplies the gradients it holds too, which overestimates (safely).

:func:`no_grad_estimate` does the same for an evaluation without gradients: parameters +
1.5 × its tracked peak × (samples held at once) / b + 1 GiB.

None of the ``gpu`` models was too big for a CPU step at b = 2, so every step runs at the
profile's full spatial size (crops, grids, sequence lengths); nothing is scaled but the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from implicit_edu.experiments.memory import PeakMemoryTracker, saved_tensor_bytes

__all__ = [
    "GIB",
    "T4_BYTES",
    "BUDGET_BYTES",
    "ACTIVATION_FACTOR",
    "CONTEXT_BYTES",
    "Step",
    "Estimate",
    "measure",
    "no_grad_estimate",
    "format_table",
]

GIB = 2**30
T4_BYTES = 15 * GIB  # what torch.cuda.get_device_properties reports on a Colab T4 ("16 GB")
BUDGET_BYTES = int(0.75 * T4_BYTES)  # room to spare: a quarter of the card left over
ACTIVATION_FACTOR = 1.5  # allocator rounding, fragmentation, cuDNN/cuFFT workspaces
CONTEXT_BYTES = 1 * GIB  # the CUDA context and kernels


@dataclass(frozen=True)
class Step:
    """One training step of one model of a ``gpu`` configuration.

    Attributes:
        case: the case study ("deblur", ...).
        model: the model's name in the table.
        batch: B, the full batch size of the gpu profile for this step.
        build: returns ``(module, parameters)``: the module the step calls and the parameters the
            optimiser updates (``module.parameters()`` unless said otherwise).
        make_batch: ``make_batch(b)``: a tuple of tensors, a batch of b samples of the right shapes.
        loss: ``loss(module, batch)``: the forward pass and the loss, as train.py computes them.
        optimizer: ``optimizer(parameters)``: the optimiser of train.py.
        clip: the gradient-norm clip of train.py (None: none).
        solve: for a DEQ, ``solve(module, batch)``: the forward solve alone (run without
            gradients); None otherwise.
        state_bytes: bytes of one sample's fixed-point state (the solver's term); 0 for no DEQ.
        anderson_m: Anderson's memory m (the solver's term).
        note: how the step follows train.py.
        key: the name of the step's model in ``implicit_edu/runtime/gpu_steps_h200.json`` (the
            steps timed on a GPU) and in the case study's ``training_steps``.
    """

    case: str
    model: str
    batch: int
    build: Callable[[], tuple[nn.Module, Iterable[nn.Parameter]]]
    make_batch: Callable[[int], tuple[torch.Tensor, ...]]
    loss: Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    clip: float | None = None
    solve: Callable[[nn.Module, tuple[torch.Tensor, ...]], object] | None = None
    state_bytes: int = 0
    anderson_m: int = 5
    note: str = ""
    key: str = ""


@dataclass(frozen=True)
class Estimate:
    """The measurements of one :class:`Step` at b and 2b, and the estimate at B (bytes)."""

    case: str
    model: str
    batch: int
    b: int
    param_count: int
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved: tuple[int, int]  # saved for backward at b and 2b
    step_peak: tuple[int, int]  # PeakMemoryTracker over the whole step at b and 2b
    solve_peak: tuple[int, int]  # PeakMemoryTracker over the no-grad forward solve (0: no DEQ)
    solver_formula_bytes: int  # (2m + 5) × state bytes × B (0: no DEQ)
    loss: float

    @property
    def static_bytes(self) -> int:
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes

    @property
    def ratio(self) -> float:
        """saved(2b) / saved(b): 2 when what autograd keeps is proportional to the batch."""
        return self.saved[1] / self.saved[0] if self.saved[0] else math.nan

    @property
    def peak_ratio(self) -> float:
        """step_peak(2b) / step_peak(b): at most 2 when nothing grows faster than the batch."""
        return self.step_peak[1] / self.step_peak[0] if self.step_peak[0] else math.nan

    @property
    def activation_bytes(self) -> float:
        """saved(b) × B / b."""
        return self.saved[0] * self.batch / self.b

    @property
    def solver_bytes(self) -> float:
        """max((2m + 5) states × B, solve_peak(b) × B / b); 0 without a DEQ."""
        return max(float(self.solver_formula_bytes), self.solve_peak[0] * self.batch / self.b)

    @property
    def peak_bytes(self) -> float:
        """step_peak(b) × B / b: an upper bound of the peak at B (see the module docstring)."""
        return self.step_peak[0] * self.batch / self.b

    @property
    def formula_bytes(self) -> float:
        growing = self.activation_bytes + self.solver_bytes
        return self.static_bytes + ACTIVATION_FACTOR * growing + CONTEXT_BYTES

    @property
    def tracked_bytes(self) -> float:
        return self.static_bytes + ACTIVATION_FACTOR * self.peak_bytes + CONTEXT_BYTES

    @property
    def estimate_bytes(self) -> float:
        return max(self.formula_bytes, self.tracked_bytes)

    @property
    def fits(self) -> bool:
        return self.estimate_bytes <= BUDGET_BYTES

    @property
    def dominant(self) -> str:
        """The largest term of the formula: static, activations or solver."""
        terms = {
            "static": float(self.static_bytes),
            "activations": self.activation_bytes,
            "solver": self.solver_bytes,
        }
        return max(terms, key=terms.get)


def _tensors(batch: tuple) -> list[torch.Tensor]:
    return [t for t in batch if isinstance(t, torch.Tensor)]


def _storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages of ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def _optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    return _storage_bytes(
        v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)
    )


@dataclass(frozen=True)
class _Run:
    saved: int
    peak: int
    solve_peak: int
    loss: float
    parameters: list[nn.Parameter]
    optimizer: torch.optim.Optimizer


def _run(step: Step, b: int, seed: int) -> _Run:
    """One training step at b samples, measured: forward and loss under the saved-tensor hooks,
    the whole step (and the backward) under the peak tracker, then the clip and the optimiser's
    update; and, for a DEQ, the no-grad forward solve alone under a second tracker."""
    torch.manual_seed(seed)
    module, parameters = step.build()
    parameters = [p for p in parameters if p.requires_grad]
    optimizer = step.optimizer(parameters)
    torch.manual_seed(seed + 1)
    batch = step.make_batch(b)
    keep = [*module.parameters(), *module.buffers(), *parameters, *_tensors(batch)]
    optimizer.zero_grad(set_to_none=True)
    tracker = PeakMemoryTracker()
    with tracker:
        loss, saved = saved_tensor_bytes(lambda: step.loss(module, batch), exclude=keep)
        value = float(loss.detach())
        loss.backward()
        del loss
    if step.clip is not None:
        torch.nn.utils.clip_grad_norm_(parameters, step.clip)
    optimizer.step()
    solve_peak = 0
    if step.solve is not None:
        solver_tracker = PeakMemoryTracker()
        with torch.no_grad(), solver_tracker:
            step.solve(module, batch)
        solve_peak = solver_tracker.peak
    return _Run(saved, tracker.peak, solve_peak, value, parameters, optimizer)


def measure(step: Step, b: int = 2, seed: int = 0) -> Estimate:
    """Run ``step`` at b and at 2b samples on the CPU; return the measurements and the estimate.

    Parameters, gradients and the optimiser's state (Adam's two moments, which exist after its
    first update) are measured after the step at 2b.
    """
    if not (isinstance(b, int) and b >= 1):
        raise ValueError(f"b must be an integer >= 1, got {b!r}")
    small = _run(step, b, seed)
    large = _run(step, 2 * b, seed)
    parameters = large.parameters
    formula = (2 * step.anderson_m + 5) * step.state_bytes * step.batch if step.solve else 0
    return Estimate(
        case=step.case,
        model=step.model,
        batch=step.batch,
        b=b,
        param_count=sum(p.numel() for p in parameters),
        param_bytes=_storage_bytes(parameters),
        grad_bytes=_storage_bytes(p.grad for p in parameters if p.grad is not None),
        optimizer_bytes=_optimizer_bytes(large.optimizer),
        saved=(small.saved, large.saved),
        step_peak=(small.peak, large.peak),
        solve_peak=(small.solve_peak, large.solve_peak),
        solver_formula_bytes=formula,
        loss=small.loss,
    )


def no_grad_estimate(
    module: nn.Module, call: Callable[[int], object], b: int, batch: int
) -> tuple[float, int]:
    """The estimated GPU bytes of an evaluation ``call(b)`` (no gradients) at ``batch`` samples.

    ``call(b)`` runs the evaluation on b samples; its peak (PeakMemoryTracker) is scaled by
    batch / b. Returns ``(estimate, peak at b)`` with estimate = parameters + 1.5 × peak × batch
    / b + 1 GiB: no gradients, no optimiser state.
    """
    tracker = PeakMemoryTracker()
    with torch.no_grad(), tracker:
        call(b)
    growing = tracker.peak * batch / b
    params = _storage_bytes([*module.parameters(), *module.buffers()])
    return params + ACTIVATION_FACTOR * growing + CONTEXT_BYTES, tracker.peak


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def format_table(estimates: Iterable[Estimate]) -> str:
    """One row per model: B, parameters, static, activations, solver, step peak, estimate."""
    header = [
        "model",
        "B",
        "params",
        "static MiB",
        "saved(b) MiB",
        "2b/b",
        "activ.@B MiB",
        "solver@B MiB",
        "peak@B MiB",
        "estimate GiB",
        "dominant",
    ]
    rows = []
    for e in estimates:
        rows.append(
            [
                e.model,
                str(e.batch),
                f"{e.param_count:,}",
                _mib(e.static_bytes),
                _mib(e.saved[0]),
                f"{e.ratio:.2f}",
                _mib(e.activation_bytes),
                _mib(e.solver_bytes),
                _mib(e.peak_bytes),
                f"{e.estimate_bytes / GIB:.2f}",
                e.dominant,
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(
        f"estimate = max(static + {ACTIVATION_FACTOR} × (activations + solver), "
        f"static + {ACTIVATION_FACTOR} × peak) + {CONTEXT_BYTES // GIB} GiB; budget "
        f"{BUDGET_BYTES / GIB:.2f} GiB (0.75 × {T4_BYTES // GIB} GiB of a T4)"
    )
    return "\n".join(lines)
