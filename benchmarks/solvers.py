"""Fixed-point solvers: implicit_edu against TorchDEQ, iterations and wall time to a relative
residual tolerance (1e-6 on the four small problems, 1e-3 on the large-state one).

    python benchmarks/solvers.py [--dtype float32|float64|both] [--repeats N] [--quick]
                                 [--tol TOL] [--threads T] [--problems NAME ...] [--markdown]

Two comparisons, printed in this order:

1. like for like: both libraries' Anderson without regularisation (λ = 0), with the same memory,
   mixing, stopping rule and budget, so that iterations and times compare the implementations;
2. each library's defaults: our Picard, Anderson (λ = 1e-4 scaled to the residuals) and Broyden
   against TorchDEQ's fixed_point_iter, anderson_solver (its absolute λ = 1e-4) and broyden_solver.
   On the four small problems at 1e-6 this is the case where an absolute λ matters most.

The problems and the timing harness are in ``implicit_edu.experiments.bench`` (the chapter
"Fixed-point solvers" uses them too); this script only adds TorchDEQ's solvers through a small
adapter, so that ``implicit_edu`` itself never imports ``torchdeq``. ``pip install torchdeq`` first.
How to read the output and the choices that make the comparison fair: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from implicit_edu.experiments.bench import (  # noqa: E402
    ALL_PROBLEM_NAMES,
    SolveOutcome,
    Solver,
    SolverRecord,
    our_solvers,
    records_table,
    run_solvers,
    solver_problems,
)

ANDERSON_MEMORY = 5  # the history length m, the same for both libraries
# the solvers of each comparison, by label (library.name), in the order of their tables
LIKE_FOR_LIKE = ("implicit_edu.anderson(lam=0)", "torchdeq.anderson(lam=0)")
DEFAULTS = (
    "implicit_edu.picard",
    "implicit_edu.anderson",
    "implicit_edu.broyden",
    "torchdeq.fixed_point_iter",
    "torchdeq.anderson",
    "torchdeq.broyden",
)


def implicit_edu_solvers() -> list[Solver]:
    """Our Anderson with λ = 0 (comparison 1), then Picard, Anderson, Broyden at their defaults.

    Anderson with m = ANDERSON_MEMORY and β = 1 in both settings; Broyden with memory 30.
    """
    plain = our_solvers(("anderson",), anderson={"m": ANDERSON_MEMORY, "lam": 0.0})["anderson"]
    defaults = our_solvers(("picard", "anderson", "broyden"), anderson={"m": ANDERSON_MEMORY})
    return [dataclasses.replace(plain, name="anderson(lam=0)"), *defaults.values()]


def torchdeq_solvers() -> list[Solver]:
    """TorchDEQ's anderson with lam = 0, then fixed_point_iter, anderson and broyden.

    Settings (see README.md): stop_mode="rel" with the same tol, so each stops when
    max_i ‖f(z)_i − z_i‖ / (‖f(z)_i‖ + 1e-9) < tol; the same budget of evaluations of g; Anderson
    with m = ANDERSON_MEMORY and tau = 1 (no damping), once with lam = 0 (no regularisation, as
    ours in comparison 1) and once with its default lam = 1e-4 (an absolute regularisation, not
    scaled to the residuals); Broyden without line search and with its default memory (every
    rank-one update kept).
    """
    from torchdeq.solver import anderson_solver, broyden_solver, fixed_point_iter

    def adapter(function, budget_offset: int = 0, **settings):
        def solve(g, y0, tol, max_iter) -> SolveOutcome:
            try:
                y, _, info = function(
                    g, y0, max_iter=max_iter - budget_offset, tol=tol, stop_mode="rel", **settings
                )
            except RuntimeError as error:  # e.g. torch.linalg.solve on a singular system
                return SolveOutcome(y0, False, reason=f"raised {type(error).__name__}: {error}")
            lowest = float(info["rel_lowest"].max())
            return SolveOutcome(y, lowest < tol, reason=f"lowest relative residual {lowest:.2e}")

        return solve

    return [
        Solver("anderson(lam=0)", "torchdeq", adapter(anderson_solver, m=ANDERSON_MEMORY, lam=0.0)),
        Solver("fixed_point_iter", "torchdeq", adapter(fixed_point_iter)),
        Solver("anderson", "torchdeq", adapter(anderson_solver, m=ANDERSON_MEMORY)),
        # broyden_solver evaluates g once before its first step: max_iter - 1 steps use at most
        # max_iter evaluations, the budget the others get.
        Solver("broyden", "torchdeq", adapter(broyden_solver, budget_offset=1)),
    ]


def paired_ratio(ours: SolverRecord, theirs: SolverRecord) -> float:
    """The median over rounds of (our time / their time) in the same round."""
    return statistics.median(a / b for a, b in zip(ours.seconds, theirs.seconds, strict=True))


def spread(record: SolverRecord) -> str:
    """The interquartile range of the timed repeats, in ms."""
    if len(record.seconds) < 2:
        return "-"
    q1, _, q3 = statistics.quantiles(record.seconds, n=4, method="inclusive")
    return f"{1e3 * (q3 - q1):.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """Rows as a Markdown table, or as aligned text (first column left-aligned)."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), *(fmt.format(*row) for row in rows)])


def iterations_text(ours: SolverRecord, theirs: SolverRecord) -> str:
    """'31 vs 133', with a note for a solver that did not reach the tolerance."""
    text = f"{ours.iterations} vs {theirs.iterations}"
    missed = [who for who, r in (("ours", ours), ("TorchDEQ", theirs)) if not r.reached_tol]
    return text + (f" ({', '.join(missed)}: not converged)" if missed else "")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def tolerance(text: str) -> float:
    value = float(text)
    if not (0 < value < 1):
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument("--repeats", type=positive_int, default=11, help="timed rounds (11)")
    parser.add_argument("--warmup", type=positive_int, default=2, help="untimed rounds (2)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1; 0: leave as is)"
    )
    parser.add_argument(
        "--tol",
        type=tolerance,
        default=None,
        help="relative-residual tolerance for every problem (default: each problem's own, "
        "1e-6 for the small ones and 1e-3 for conv-32)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time solves by wall time (default) or by this process's CPU time (on a CPU shared "
        "with other work: leaves out the time other processes ran)",
    )
    parser.add_argument(
        "--problems",
        nargs="+",
        choices=ALL_PROBLEM_NAMES,
        default=list(ALL_PROBLEM_NAMES),
        help="default: all five",
    )
    parser.add_argument("--quick", action="store_true", help="1 warm-up and 3 timed rounds")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--no-torchdeq", action="store_true", help="only implicit_edu's solvers")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"argument --threads: must be an integer >= 0, got {args.threads}")
    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        parser.error(f"argument --device: {error}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("argument --device: CUDA is not available on this machine")
    if args.clock == "cpu" and device.type != "cpu":
        parser.error(f"argument --clock: cpu time measures nothing on device {device.type}")
    if args.quick:
        args.repeats, args.warmup = 3, 1
    threads = args.threads or None  # 0: leave torch's setting as it is

    solvers = implicit_edu_solvers()
    if not args.no_torchdeq:
        try:
            solvers += torchdeq_solvers()
        except ImportError:
            print(
                "torchdeq is not installed (pip install torchdeq); use --no-torchdeq",
                file=sys.stderr,
            )
            return 2

    dtypes = {"float32": [torch.float32], "float64": [torch.float64]}.get(
        args.dtype, [torch.float32, torch.float64]
    )
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    )
    print(
        f"# {datetime.date.today()}  torch {torch.__version__}  threads "
        f"{threads or torch.get_num_threads()}  {machine}  "
        f"tol {'each problem its own' if args.tol is None else f'{args.tol:g}'}  "
        f"{args.warmup} warm-up + {args.repeats} timed rounds, interleaved, "
        f"{args.clock} clock"
    )
    # Every problem once, with the solvers of both comparisons interleaved in the same rounds.
    records: list[SolverRecord] = []
    names = [name for name in ALL_PROBLEM_NAMES if name in args.problems]
    for dtype in dtypes:
        for problem in solver_problems(dtype, device, names=names).values():
            tol = problem.tol if args.tol is None else args.tol
            print(
                f"# {problem.name} ({problem.dtype}, tol {tol:g}): {problem.description}",
                file=sys.stderr,
            )
            records += run_solvers(
                problem,
                solvers,
                tol=tol,
                repeats=args.repeats,
                warmup=args.warmup,
                threads=threads,
                clock=time.process_time if args.clock == "cpu" else time.perf_counter,
            )
    pick = {(r.problem, r.dtype, r.label): r for r in records}
    cases = [(p, str(d).removeprefix("torch.")) for d in dtypes for p in names]

    def select(labels: Sequence[str]) -> list[SolverRecord]:
        return [pick[p, d, label] for p, d in cases for label in labels if (p, d, label) in pick]

    print(
        "\n## 1. Like for like: Anderson without regularisation (lam = 0) in both libraries, "
        f"m = {ANDERSON_MEMORY}, no damping, the same stopping rule and budget\n"
    )
    print(records_table(select(LIKE_FOR_LIKE), markdown=args.markdown, spread=spread, tol=True))
    if not args.no_torchdeq:
        print(
            "\nimplicit_edu against TorchDEQ, both with lam = 0 (time ratio = our median / "
            "theirs; below 1: ours is faster; per iteration = per evaluation of g):\n"
        )
        rows = []
        for p, d in cases:
            ours, theirs = pick[p, d, LIKE_FOR_LIKE[0]], pick[p, d, LIKE_FOR_LIKE[1]]
            per_iteration = (ours.median_seconds / ours.iterations) / (
                theirs.median_seconds / theirs.iterations
            )
            rows.append(
                [
                    p,
                    d,
                    f"{ours.tol:g}",
                    iterations_text(ours, theirs),
                    f"{ours.median_seconds / theirs.median_seconds:.2f}",
                    f"{paired_ratio(ours, theirs):.2f}",
                    f"{per_iteration:.2f}",
                ]
            )
        header = ["problem", "dtype", "tol", "iterations (ours vs TorchDEQ)", "time ratio"]
        print(table([*header, "paired by round", "per iteration"], rows, args.markdown))

    print(
        "\n## 2. Each library's defaults: our Anderson's lam = 1e-4 is scaled to the residuals, "
        "TorchDEQ's lam = 1e-4 is absolute;\n"
        "## on the small problems at tol 1e-6 this is the case where an absolute lam matters "
        "most\n"
    )
    print(records_table(select(DEFAULTS), markdown=args.markdown, spread=spread, tol=True))
    if args.no_torchdeq:
        return 0

    print(
        "\nTargets (issue): our Anderson needs no more iterations than TorchDEQ's anderson "
        "and at most 1.2x its time (time ratio = our median / theirs):\n"
    )
    met, rows = True, []
    for p, d in cases:
        ours, theirs = pick[p, d, "implicit_edu.anderson"], pick[p, d, "torchdeq.anderson"]
        ratio = ours.median_seconds / theirs.median_seconds
        ok_iter = ours.iterations <= theirs.iterations and ours.reached_tol
        ok_time = ratio <= 1.2 and math.isfinite(ratio)
        met &= ok_iter and ok_time
        rows.append(
            [
                p,
                d,
                f"{ours.tol:g}",
                iterations_text(ours, theirs) + ("" if ok_iter else " MISSED"),
                f"{ratio:.2f}" + ("" if ok_time else " MISSED"),
                f"{paired_ratio(ours, theirs):.2f}",
            ]
        )
    header = ["problem", "dtype", "tol", "iterations (ours vs TorchDEQ)", "time ratio"]
    print(table([*header, "paired by round"], rows, args.markdown))
    print("\nall targets met" if met else "\nsome targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
