"""Benchmark problems for fixed-point solvers, and a fair timing harness (chapter "Fixed-point
solvers"; the command-line benchmark ``benchmarks/solvers.py`` uses the same code).

Four small problems (``PROBLEM_NAMES``, the default of :func:`solver_problems`) and one
large-state problem (``LARGE_PROBLEM_NAMES``, only by name), each a batch of fixed-point
equations ``z = g(z)`` with a proven Lipschitz bound ``L < 1`` on ``g`` (Euclidean norm, sample by
sample):

* ``tanh-64`` and ``tanh-512``: ``g(z) = tanh(W z + U x + b)``, width 64 or 512, with a symmetric
  ``W`` of spectral norm exactly 0.95 (eigenvalues spread over ``[-0.95, 0.95]``). ``tanh`` is
  1-Lipschitz, so ``L = ‖W‖₂ = 0.95``.
* ``conv-16``: ``g(z) = tanh(conv(z) + x)`` on 16-channel 16×16 images, a 3×3 convolution with
  circular padding whose operator norm is made exactly 0.95. The norm of a circular convolution is
  computed exactly from its Fourier symbol (:func:`circular_conv_norm`).
* ``slow-small``: ``g(z) = 0.99 W z + 1e-4 x`` with ``W`` symmetric and ``‖W‖₂ = 1``: a linear map
  that contracts slowly (``L = 0.99``) and whose fixed point is small (norms 1e-3 to 5e-3), so all
  residuals are small. An Anderson regularisation that is not scaled to the residuals stalls here.
* ``conv-32`` (large state): the ``conv-16`` construction with 32 channels on 32×32 images, a
  state of 32 768 entries per sample (batch 8), operator norm 0.95 (``L = 0.95``), at the loose
  tolerance 1e-3 (``SolverProblem.tol``): the regime of a DEQ layer on images, in which residuals
  stay large, so an absolute Anderson regularisation is small against them.

The harness counts evaluations of ``g`` (the fair measure of iterations: every solver here pays
one evaluation per step), recomputes the relative residual ``‖g(y) − y‖ / ‖g(y)‖`` of whatever a
solver returns with one formula for all of them, and times solvers *interleaved*: round after
round, each solver once per round (in a rotating order), after warm-up rounds, reporting the
median. That keeps a slow drift in the machine's load from favouring one solver.

Solvers are plain :class:`Solver` records wrapping a function ``solve(g, y0, tol, max_iter)``;
:func:`our_solvers` gives ``implicit_edu``'s, and other libraries plug in the same way.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from implicit_edu.core.solvers import fixed_point
from implicit_edu.runtime.notebook import markdown_table
from implicit_edu.runtime.profiles import fixed_threads

__all__ = [
    "ALL_PROBLEM_NAMES",
    "LARGE_PROBLEM_NAMES",
    "PROBLEM_NAMES",
    "SolveOutcome",
    "Solver",
    "SolverProblem",
    "SolverRecord",
    "Trace",
    "circular_conv_norm",
    "fixed_threads",
    "median_time",
    "our_solvers",
    "records_table",
    "relative_residual",
    "run_solvers",
    "solver_problems",
    "trace_solver",
]

Operator = Callable[[torch.Tensor], torch.Tensor]
PROBLEM_NAMES = ("tanh-64", "tanh-512", "conv-16", "slow-small")  # the default set
LARGE_PROBLEM_NAMES = ("conv-32",)  # large states, loose tolerance: only when asked for by name
ALL_PROBLEM_NAMES = PROBLEM_NAMES + LARGE_PROBLEM_NAMES


# ------------------------------------------------------------------------------------ problems


@dataclass(frozen=True, repr=False)
class SolverProblem:
    """A batch of fixed-point equations ``z = g(z)`` to benchmark solvers on.

    Attributes:
        name: short name, e.g. ``"tanh-64"``.
        description: one line saying what ``g`` is.
        g: the operator, mapping a tensor of ``y0``'s shape to one of the same shape.
        y0: the start (zeros), shape ``(B, ...)`` with the batch first.
        lipschitz: a proven upper bound on the Lipschitz constant of ``g`` per sample (< 1).
        max_iter: the evaluation budget every solver gets on this problem.
        tol: the relative-residual tolerance the benchmark uses on it by default (1e-6, or
            1e-3 for the large-state problem).
    """

    name: str
    description: str
    g: Operator
    y0: torch.Tensor
    lipschitz: float
    max_iter: int
    tol: float = 1e-6

    @property
    def dtype(self) -> torch.dtype:
        return self.y0.dtype

    @property
    def batch(self) -> int:
        return self.y0.shape[0]

    def __repr__(self) -> str:
        return (
            f"SolverProblem({self.name!r}, y0 {tuple(self.y0.shape)} {self.y0.dtype}, "
            f"L <= {self.lipschitz:g}, max_iter={self.max_iter}, tol={self.tol:g})"
        )


def _symmetric(n: int, norm: float, gen: torch.Generator) -> torch.Tensor:
    """A random symmetric n × n matrix with spectral norm exactly ``norm`` (float64)."""
    a = torch.randn(n, n, dtype=torch.float64, generator=gen)
    s = a + a.T
    return norm * s / torch.linalg.eigvalsh(s).abs().max()


def circular_conv_norm(weight: torch.Tensor, size: int) -> float:
    """The exact operator norm (Euclidean) of the circular 2-D convolution with ``weight``.

    A circular convolution on a ``size × size`` grid is diagonalised by the 2-D discrete Fourier
    transform: at each frequency it acts on the channels by the ``C_out × C_in`` matrix
    ``K̂(u, v) = Σ_{a,b} w[:, :, a, b] e^{−2πi(ua + vb)/size}``. Its norm is the largest singular
    value of these matrices over all frequencies.
    """
    c_out, c_in, kh, kw = weight.shape
    padded = torch.zeros(c_out, c_in, size, size, dtype=torch.float64)
    padded[:, :, :kh, :kw] = weight.detach().to(torch.float64).cpu()
    symbols = torch.fft.fft2(padded).permute(2, 3, 0, 1)  # (size, size, C_out, C_in)
    return float(torch.linalg.matrix_norm(symbols, ord=2).max())


def _tanh_problem(width: int, batch: int, dtype, device, gen) -> SolverProblem:
    w = _symmetric(width, 0.95, gen)
    u = 0.1 * torch.randn(width, width, dtype=torch.float64, generator=gen) / math.sqrt(width)
    b = 0.1 * torch.randn(width, dtype=torch.float64, generator=gen)
    x = torch.randn(batch, width, dtype=torch.float64, generator=gen)
    wt = w.T.contiguous().to(dtype=dtype, device=device)
    injection = (x @ u.T + b).to(dtype=dtype, device=device)

    def g(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.addmm(injection, z, wt))

    return SolverProblem(
        name=f"tanh-{width}",
        description=(
            f"tanh(W z + U x + b), width {width}, batch {batch}, W symmetric with ‖W‖₂ = 0.95, "
            "injection U x + b of entries ~0.1"
        ),
        g=g,
        y0=torch.zeros(batch, width, dtype=dtype, device=device),
        lipschitz=0.95,
        max_iter=500,
    )


def _conv_problem(
    channels: int, size: int, batch: int, dtype, device, gen, tol: float = 1e-6, max_iter: int = 500
) -> SolverProblem:
    # identity on the channels at the kernel's centre plus a random 3×3 kernel of about half
    # its size, scaled so that the circular convolution has operator norm exactly 0.95
    weight = 0.5 * torch.randn(channels, channels, 3, 3, dtype=torch.float64, generator=gen)
    weight = weight / math.sqrt(9 * channels)
    weight[:, :, 1, 1] += torch.eye(channels, dtype=torch.float64)
    weight = 0.95 * weight / circular_conv_norm(weight, size)
    x = 0.1 * torch.randn(batch, channels, size, size, dtype=torch.float64, generator=gen)
    weight, x = weight.to(dtype=dtype, device=device), x.to(dtype=dtype, device=device)

    def g(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(F.conv2d(F.pad(z, (1, 1, 1, 1), mode="circular"), weight) + x)

    return SolverProblem(
        name=f"conv-{channels}",
        description=(
            f"tanh(conv(z) + x), 3×3 circular convolution (identity + random), {channels} "
            f"channels, {size}×{size}, batch {batch}, operator norm 0.95, x entries ~0.1"
        ),
        g=g,
        y0=torch.zeros(batch, channels, size, size, dtype=dtype, device=device),
        lipschitz=0.95,
        max_iter=max_iter,
        tol=tol,
    )


def _slow_problem(width: int, batch: int, dtype, device, gen) -> SolverProblem:
    w = _symmetric(width, 1.0, gen)
    x = torch.randn(batch, width, dtype=torch.float64, generator=gen)
    wt = (0.99 * w.T).contiguous().to(dtype=dtype, device=device)
    injection = (1e-4 * x).to(dtype=dtype, device=device)

    def g(z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(injection, z, wt)

    return SolverProblem(
        name="slow-small",
        description=(
            f"0.99 W z + 1e-4 x, width {width}, batch {batch}, W symmetric, ‖W‖₂ = 1: "
            "slow contraction, small fixed point"
        ),
        g=g,
        y0=torch.zeros(batch, width, dtype=dtype, device=device),
        lipschitz=0.99,
        max_iter=500,
    )


def solver_problems(
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, SolverProblem]:
    """The benchmark's problems by name (see the module docstring), in ``dtype`` on ``device``.

    Every problem is drawn in float64 from its own generator seeded with ``seed`` and then
    converted, so the float32 and float64 versions are the same problem rounded differently.
    ``names`` selects problems from ``ALL_PROBLEM_NAMES`` (default: the four small ones,
    ``PROBLEM_NAMES``; the large-state ``conv-32`` only when named); they come back in the
    order of ``ALL_PROBLEM_NAMES``. Each problem's generator depends only on its position in
    that tuple, so adding a problem at its end changes none of the others.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    names = list(PROBLEM_NAMES if names is None else names)
    unknown = [n for n in names if n not in ALL_PROBLEM_NAMES]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; valid: {', '.join(ALL_PROBLEM_NAMES)}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    makers = {
        "tanh-64": lambda gen: _tanh_problem(64, 32, dtype, device, gen),
        "tanh-512": lambda gen: _tanh_problem(512, 32, dtype, device, gen),
        "conv-16": lambda gen: _conv_problem(16, 16, 8, dtype, device, gen),
        "slow-small": lambda gen: _slow_problem(64, 16, dtype, device, gen),
        # 32 channels × 32 × 32 = 32 768 entries per sample; a loose tolerance and a budget of
        # 50 evaluations (Picard needs 20 here)
        "conv-32": lambda gen: _conv_problem(32, 32, 8, dtype, device, gen, 1e-3, 50),
    }
    problems = {}
    for index, name in enumerate(ALL_PROBLEM_NAMES):
        if name in names:
            gen = torch.Generator().manual_seed(seed * 1000 + index)
            problems[name] = makers[name](gen)
    return problems


# ------------------------------------------------------------------------------------- solvers


@dataclass
class SolveOutcome:
    """What a solver returned: its answer ``y`` and whether it claims convergence."""

    y: torch.Tensor
    converged: bool
    residuals: list[float] | None = None  # the solver's own residual trace, if it has one
    reason: str = ""


@dataclass(frozen=True)
class Solver:
    """A named solver: ``solve(g, y0, tol, max_iter) -> SolveOutcome``."""

    name: str
    library: str
    solve: Callable[[Operator, torch.Tensor, float, int], SolveOutcome]


def _ours(method: str, **options) -> Callable[[Operator, torch.Tensor, float, int], SolveOutcome]:
    def solve(g: Operator, y0: torch.Tensor, tol: float, max_iter: int) -> SolveOutcome:
        result = fixed_point(g, y0, method, tol=tol, max_iter=max_iter, **options)
        return SolveOutcome(result.y, result.converged, result.residuals, result.reason)

    return solve


def our_solvers(
    methods: Sequence[str] = ("picard", "anderson", "broyden"), **options: dict
) -> dict[str, Solver]:
    """``implicit_edu``'s solvers as :class:`Solver` records, by method name.

    ``options`` maps a method to its options, e.g. ``our_solvers(anderson={"m": 5})``.
    """
    return {
        method: Solver(method, "implicit_edu", _ours(method, **options.get(method, {})))
        for method in methods
    }


# ------------------------------------------------------------------------------------- timing


@contextlib.contextmanager
def _no_garbage_collection() -> Iterator[None]:
    """Keep Python's garbage collector off inside the block (as ``timeit`` does).

    Tensors are freed by reference counting, so nothing piles up; only a collection pass (which
    can take long in a kernel full of objects) is kept out of the timed region.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time in seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    if repeats < 1 or warmup < 0:
        raise ValueError("need repeats >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn()
    gc.collect()
    times = []
    for _ in range(repeats):
        with _no_garbage_collection():
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def relative_residual(g: Operator, y: torch.Tensor) -> torch.Tensor:
    """``‖g(y)_i − y_i‖ / ‖g(y)_i‖`` per sample, in y's dtype: the benchmark's one formula."""
    with torch.no_grad():
        gy = g(y)
        batch = y.shape[0] if y.dim() > 0 else 1
        diff = (gy - y).reshape(batch, -1)
        return torch.linalg.vector_norm(diff, dim=1) / torch.linalg.vector_norm(
            gy.reshape(batch, -1), dim=1
        ).clamp_min(torch.finfo(y.dtype).tiny)


class _Counter:
    """Wraps g and counts its evaluations."""

    def __init__(self, g: Operator) -> None:
        self.g, self.calls = g, 0

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.g(y)


@dataclass
class SolverRecord:
    """One solver on one problem: what it achieved and how long it took.

    ``iterations`` counts evaluations of g; ``final_residual`` is the largest (over the batch)
    relative residual of the returned y, recomputed by :func:`relative_residual`; ``converged``
    is the solver's own claim; ``seconds`` are the timed repeats (``median_seconds`` their median).
    """

    problem: str
    dtype: str
    solver: str
    library: str
    iterations: int
    converged: bool
    final_residual: float
    median_seconds: float
    seconds: list[float] = field(default_factory=list)
    reason: str = ""
    tol: float = 1e-6

    @property
    def label(self) -> str:
        return f"{self.library}.{self.solver}"

    @property
    def reached_tol(self) -> bool:
        """Whether the returned y passes the stopping test when its residual is recomputed."""
        return self.final_residual <= self.tol


def run_solvers(
    problem: SolverProblem,
    solvers: Sequence[Solver] | dict[str, Solver],
    *,
    tol: float = 1e-6,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = None,
    on_round: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[SolverRecord]:
    """Run every solver on ``problem`` and time it, interleaved; one record per solver.

    Round 0 runs each solver once with an evaluation counter around g (iterations, answer,
    residual) and also serves as the first warm-up round; ``warmup - 1`` further untimed rounds
    follow, then ``repeats`` timed rounds in which each solver runs once, in an order rotated by
    one per round. Timed runs call the bare g, with Python's garbage collector off (as ``timeit``
    does), so that a collection does not land in one solver's time.

    ``clock`` is the timer, in seconds: wall time (``time.perf_counter``, the default), or on a
    CPU ``time.process_time``, the CPU time of this process, which leaves out the time in which
    the operating system ran other processes (on a machine shared with other work; with one
    torch thread it is the time the solve computed). It is meaningless on a GPU, whose work runs
    asynchronously to the CPU.

    ``on_round``, if given, is called with a line of text after each timed round (a long
    benchmark's sign of life; the package's ``progress`` arguments are booleans for bars).
    """
    if repeats < 1 or warmup < 1:
        raise ValueError("need repeats >= 1 and warmup >= 1 (round 0 counts the iterations)")
    solvers = list(solvers.values()) if isinstance(solvers, dict) else list(solvers)
    device = problem.y0.device
    records: list[SolverRecord] = []
    with fixed_threads(threads), torch.no_grad():
        for solver in solvers:  # round 0: count, check the answer
            counter = _Counter(problem.g)
            outcome = solver.solve(counter, problem.y0.clone(), tol, problem.max_iter)
            residual = float(relative_residual(problem.g, outcome.y).max())
            record = SolverRecord(
                problem=problem.name,
                dtype=str(problem.dtype).removeprefix("torch."),
                solver=solver.name,
                library=solver.library,
                iterations=counter.calls,
                converged=bool(outcome.converged),
                final_residual=residual,
                median_seconds=math.nan,
                reason=outcome.reason,
                tol=tol,
            )
            records.append(record)
        for _ in range(warmup - 1):
            for solver in solvers:
                solver.solve(problem.g, problem.y0.clone(), tol, problem.max_iter)
        gc.collect()  # once, before the timed rounds
        for round_ in range(repeats):
            order = [(i + round_) % len(solvers) for i in range(len(solvers))]
            for i in order:
                y0 = problem.y0.clone()
                with _no_garbage_collection():
                    _synchronize(device)
                    start = clock()
                    solvers[i].solve(problem.g, y0, tol, problem.max_iter)
                    _synchronize(device)
                    records[i].seconds.append(clock() - start)
            if on_round is not None:
                on_round(f"{problem.name} {records[0].dtype}: round {round_ + 1}/{repeats}")
    for record in records:
        record.median_seconds = statistics.median(record.seconds)
    return records


@dataclass
class Trace:
    """Residual against evaluations and against wall time, for one solver on one problem."""

    solver: str
    residuals: list[float]  # relative residual at each evaluation of g (largest over the batch)
    seconds: list[float]  # wall time since the start when that evaluation finished


def trace_solver(problem: SolverProblem, method: str, tol: float = 1e-6, **options) -> Trace:
    """Solve ``problem`` with ``implicit_edu``'s ``method``, recording when each g(y_k) finished.

    ``seconds[k]`` is the wall time from the start of the solve to the end of the k-th evaluation
    of g, so it includes the solver's own work between evaluations; ``residuals[k]`` is the
    residual the solver measured at that evaluation (``FixedPointResult.residuals``).
    """
    stamps: list[float] = []
    device = problem.y0.device

    def g(y: torch.Tensor) -> torch.Tensor:
        out = problem.g(y)
        _synchronize(device)
        stamps.append(time.perf_counter())
        return out

    with _no_garbage_collection():
        _synchronize(device)
        start = time.perf_counter()
        result = fixed_point(
            g, problem.y0.clone(), method, tol=tol, max_iter=problem.max_iter, **options
        )
    return Trace(method, list(result.residuals), [s - start for s in stamps])


# -------------------------------------------------------------------------------------- tables


def records_table(
    records: Sequence[SolverRecord],
    markdown: bool = True,
    spread: Callable[[SolverRecord], str] | None = None,
    tol: bool = False,
) -> str:
    """The records as a table: problem, dtype, solver, iterations, converged, residual, time.

    ``spread``, if given, adds a column computed from each record (e.g. the spread of its times);
    ``tol=True`` adds a column with each record's tolerance, after the dtype.
    """
    header = ["problem", "dtype"] + (["tol"] if tol else [])
    header += ["solver", "iterations", "converged", "final rel. residual", "median ms"]
    header += ["IQR ms"] if spread else []
    rows = [
        [r.problem, r.dtype]
        + ([f"{r.tol:g}"] if tol else [])
        + [
            r.label,
            str(r.iterations),
            "yes" if r.converged else "no",
            f"{r.final_residual:.1e}",
            f"{1e3 * r.median_seconds:.1f}",
        ]
        + ([spread(r)] if spread else [])
        for r in records
    ]
    if markdown:
        return markdown_table(header, rows)
    left = header.index("solver") + 1  # the text columns, up to the solver, left-aligned
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{'<' if i < left else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), *(fmt.format(*row) for row in rows)])
