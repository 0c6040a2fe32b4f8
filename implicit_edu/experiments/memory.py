"""Memory and time of one training step of a DEQ layer.

The chapter "Differentiating through a fixed point" and ``benchmarks/memory.py`` compare the
backward modes of :class:`implicit_edu.core.deq.DEQ` as the number of forward iterations N grows:
backpropagating through the unrolled iteration keeps every iterate for the backward pass, so its
memory grows like N; the implicit backward (and jfb, phantom) keeps one application of g.

Two measurements of memory, both of one training step (forward, loss, backward):

* ``saved_bytes``: the bytes of the tensors autograd *saves for backward* during the forward
  pass, counted through :func:`torch.autograd.graph.saved_tensors_hooks` once per distinct
  storage, leaving out the storages that existed before the step (the parameters, the input):
  they are kept alive anyway. Deterministic, and the same on every device.
* ``peak_bytes``: the largest total size of the tensors created during the step that were alive
  at the same time (the saved tensors, the backward solve's working set, the gradients). On CUDA
  it is ``torch.cuda.max_memory_allocated()`` above the memory allocated at the start; on the
  CPU, where PyTorch keeps no such statistic, :class:`PeakMemoryTracker` counts every storage an
  operator creates until it is freed. Both count whole storages, so they are upper bounds on what
  the tensors need.

Time is the median wall-clock time of a few repeats of the same step (after two warm-up runs),
with the device synchronised. On a shared CPU, multi-threaded kernels compete with other programs
and single steps can take many times longer; ``threads=1`` times on one thread, which is slower
but repeatable.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.core.deq import BACKWARD_MODES, DEQ
from implicit_edu.runtime.notebook import markdown_table, show_progress

__all__ = [
    "PeakMemoryTracker",
    "StepCost",
    "cost_table_parts",
    "fixed_iteration_layer",
    "format_bytes",
    "format_table",
    "measure_costs",
    "memory_ratio",
    "saved_tensor_bytes",
    "training_step",
    "training_step_cost",
]

LayerFactory = Callable[[str, int], nn.Module]
Loss = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepCost:
    """The cost of one training step of one layer (see the module docstring).

    Attributes:
        mode: the backward mode ("ift", "jfb", "phantom" or "unrolled").
        iterations: the forward iteration count N asked for.
        saved_bytes: bytes of the tensors autograd saved for backward (new storages only).
        peak_bytes: peak bytes of the tensors created during the step and alive together;
            None where it cannot be measured.
        seconds: median wall-clock seconds of one step (forward + backward).
        device: the device the step ran on ("cpu", "cuda", ...).
        peak_source: how peak_bytes was measured ("tracker" on the CPU, "cuda" on CUDA).
        forward_iterations: the iterations the forward pass actually ran (from
            ``layer.forward_result``), None when the layer does not report them.
    """

    mode: str
    iterations: int
    saved_bytes: int
    peak_bytes: int | None
    seconds: float
    device: str
    peak_source: str | None = None
    forward_iterations: int | None = None


# ------------------------------------------------------------------------------ the layer
# The operator of the experiment is implicit_edu.core.regular.TanhOperator with
# normalisation="once": W scaled to ‖W‖₂ = μ at construction, so that a call is two matrix
# products and a tanh, and the measurements see the iterates, not a weight normalisation.


def fixed_iteration_layer(g: nn.Module, mode: str, iterations: int, **options: Any) -> DEQ:
    """A DEQ layer whose solves run exactly ``iterations`` Picard steps, for cost measurements.

    The tolerance 1e-300 is never met, so the forward solve (and, for "ift", the backward solve)
    runs all ``iterations`` steps; "unrolled" unrolls that many steps. Other DEQ options (e.g.
    ``phantom_steps``) can be passed through ``options``.
    """
    if mode not in BACKWARD_MODES:
        raise ValueError(f"unknown backward mode {mode!r}; valid modes: {BACKWARD_MODES}")
    settings: dict[str, Any] = {
        "solver": "picard",
        "tol": 1e-300,
        "max_iter": iterations,
        "backward_max_iter": iterations,
        "unrolled_steps": iterations,
        "warn_on_nonconvergence": False,
    }
    settings.update(options)
    return DEQ(g, backward=mode, **settings)


# ------------------------------------------------------------------------------ measurements


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    return (str(t.device), t.untyped_storage().data_ptr())


def saved_tensor_bytes(
    fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()
) -> tuple[Any, int]:
    """Run ``fn()``; return its result and the bytes of the tensors autograd saved meanwhile.

    Every tensor that an operation saves for its backward passes through the pack hook of
    :func:`torch.autograd.graph.saved_tensors_hooks`; each distinct storage is counted once,
    with its full size, and the storages of the tensors in ``exclude`` (parameters, inputs,
    which are kept alive anyway) are not counted.
    """
    excluded = {_storage_key(t) for t in exclude if t.untyped_storage().nbytes() > 0}
    seen: dict[tuple[str, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.nbytes() > 0:
            key = _storage_key(t)
            if key not in excluded:
                seen[key] = storage.nbytes()
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, sum(seen.values())


class PeakMemoryTracker(TorchDispatchMode):
    """Peak bytes of the storages created by tensor operations while the mode is active.

    A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every operator call below
    autograd, in the forward and in the backward pass. Each output that does not alias an input
    (views and in-place results are skipped) adds the size of its storage to ``live`` until a
    finalizer on that storage reports that it was freed; ``peak`` is the largest ``live`` seen.
    Deterministic, device-independent, and slow: time a step without it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._alive: set[int] = set()

    def _freed(self, key: int, nbytes: int) -> None:
        self._alive.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        flat, _ = tree_flatten(out)
        for i, t in enumerate(flat):
            if not isinstance(t, torch.Tensor):
                continue
            if i < len(returns) and returns[i].alias_info is not None:
                continue  # a view or an in-place result: no new memory
            storage = t.untyped_storage()
            key = id(storage)  # the Python storage object lives exactly as long as the storage
            if key in self._alive:
                continue
            nbytes = storage.nbytes()
            self._alive.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, key, nbytes)
        return out


def _default_loss(y: torch.Tensor) -> torch.Tensor:
    return 0.5 * y.square().mean()


def training_step(layer: nn.Module, x: torch.Tensor, loss_fn: Loss | None = None) -> float:
    """One training step without the update: forget old gradients, forward, loss, backward."""
    layer.zero_grad(set_to_none=True)
    loss = (loss_fn or _default_loss)(layer(x))
    loss.backward()
    return float(loss.detach())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_step_cost(
    layer_factory: LayerFactory,
    x: torch.Tensor,
    iterations: int,
    mode: str,
    repeats: int = 3,
    loss_fn: Loss | None = None,
    threads: int | None = None,
) -> StepCost:
    """Measure one training step of ``layer_factory(mode, iterations)`` on the input ``x``.

    Args:
        layer_factory: called as ``layer_factory(mode, iterations)``; returns the layer (an
            ``nn.Module`` mapping x to y), e.g. ``lambda m, n: fixed_iteration_layer(g, m, n)``.
            It is moved to x's device.
        x: the input batch; its device is the device measured.
        iterations: the forward iteration count N (passed to the factory).
        mode: the backward mode (passed to the factory).
        repeats: how many timed steps the median time is taken over (after two warm-up steps).
        loss_fn: the loss of the output; default 0.5 · mean(y²).
        threads: if given, the number of CPU threads torch uses while the step is timed
            (restored afterwards); None keeps the current setting.

    Returns:
        a :class:`StepCost` with saved_bytes, peak_bytes (CUDA: max_memory_allocated; CPU:
        :class:`PeakMemoryTracker`) and the median seconds.
    """
    if mode not in BACKWARD_MODES:
        raise ValueError(f"unknown backward mode {mode!r}; valid modes: {BACKWARD_MODES}")
    check_positive_integers(iterations=iterations, repeats=repeats)
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
    device = x.device
    layer = layer_factory(mode, iterations).to(device)
    loss_fn = loss_fn or _default_loss
    keep = [*layer.parameters(), *layer.buffers(), x]

    # saved tensors: the forward pass only
    layer.zero_grad(set_to_none=True)
    output, saved = saved_tensor_bytes(lambda: loss_fn(layer(x)), exclude=keep)
    output.backward()
    result = getattr(layer, "forward_result", None)
    forward_iterations = getattr(result, "iterations", None)
    del output

    # peak: the whole step, from a clean state
    layer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        _synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        training_step(layer, x, loss_fn)
        _synchronize(device)
        peak: int | None = torch.cuda.max_memory_allocated(device) - start
        source: str | None = "cuda"
    elif device.type == "cpu":
        tracker = PeakMemoryTracker()
        with tracker:
            training_step(layer, x, loss_fn)
        peak, source = tracker.peak, "tracker"
    else:
        peak, source = None, None

    # time: median of `repeats` steps after two warm-up steps
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for _ in range(2):
            training_step(layer, x, loss_fn)
        times = []
        for _ in range(repeats):
            _synchronize(device)
            begin = time.perf_counter()
            training_step(layer, x, loss_fn)
            _synchronize(device)
            times.append(time.perf_counter() - begin)
    finally:
        torch.set_num_threads(previous_threads)
    layer.zero_grad(set_to_none=True)
    return StepCost(
        mode=mode,
        iterations=iterations,
        saved_bytes=saved,
        peak_bytes=peak,
        seconds=statistics.median(times),
        device=str(device),
        peak_source=source,
        forward_iterations=forward_iterations,
    )


def measure_costs(
    layer_factory: LayerFactory,
    x: torch.Tensor,
    iterations: Sequence[int],
    modes: Sequence[str] = BACKWARD_MODES,
    repeats: int = 3,
    loss_fn: Loss | None = None,
    progress: bool | None = None,
    threads: int | None = None,
) -> list[StepCost]:
    """:func:`training_step_cost` for every (iteration count, mode) pair, in that order.

    ``progress``: draw a progress bar (default: only where someone watches, see
    :func:`~implicit_edu.runtime.notebook.show_progress`).

    First one untimed step of every mode at the smallest iteration count, so that one-time
    start-up costs (library loading, thread pools, CUDA context) fall on no measurement.
    """
    pairs = [(n, mode) for n in iterations for mode in modes]
    for mode in modes:
        training_step(layer_factory(mode, min(iterations)).to(x.device), x, loss_fn)
    if show_progress(progress):
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc="training steps", leave=False)
    return [
        training_step_cost(
            layer_factory, x, n, mode, repeats=repeats, loss_fn=loss_fn, threads=threads
        )
        for n, mode in pairs
    ]


def memory_ratio(
    records: Iterable[StepCost],
    iterations: int,
    numerator: str = "unrolled",
    denominator: str = "ift",
    field: str = "saved_bytes",
) -> float:
    """``field`` of the ``numerator`` mode over that of the ``denominator`` mode at N iterations."""
    values = {r.mode: getattr(r, field) for r in records if r.iterations == iterations}
    missing = [m for m in (numerator, denominator) if values.get(m) is None]
    if missing:
        raise ValueError(f"no {field} for mode(s) {missing} at {iterations} iterations")
    return values[numerator] / values[denominator]


def format_bytes(n: int | None) -> str:
    """1536 -> '1.5 KiB'; None -> 'n/a'."""
    if n is None:
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def cost_table_parts(
    records: Sequence[StepCost],
) -> tuple[list[str], list[list[str]], list[str | None]]:
    """The records as a table's header, rows and column alignments: one row per (iterations,
    mode). Show it with ``captioned_table(header, rows, align=align, caption=...)``
    (:func:`implicit_edu.runtime.notebook.captioned_table`)."""
    header = ["iterations", "mode", "saved for backward", "peak", "time / step"]
    rows = [
        [
            str(r.iterations),
            r.mode,
            format_bytes(r.saved_bytes),
            format_bytes(r.peak_bytes),
            f"{1e3 * r.seconds:.2f} ms",
        ]
        for r in records
    ]
    return header, rows, ["right", None, "right", "right", "right"]


def format_table(records: Sequence[StepCost], markdown: bool = False) -> str:
    """The records as a table: one row per (iterations, mode); plain text or Markdown."""
    header, rows, align = cost_table_parts(records)
    if markdown:
        return markdown_table(header, rows, align=align)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
