"""Fixed-point solvers: implicit_edu against TorchDEQ, iterations and wall time to a relative
residual of 1e-6.

    python benchmarks/solvers.py [--dtype float32|float64|both] [--repeats N] [--quick]
                                 [--threads T] [--problems NAME ...] [--markdown]

The problems and the timing harness are in ``implicit_edu.bench`` (the chapter "Fixed-point
solvers" uses them too); this script only adds TorchDEQ's three solvers through a small adapter,
so that ``implicit_edu`` itself never imports ``torchdeq``. ``pip install torchdeq`` first.
How to read the output and the choices that make the comparison fair: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from implicit_edu.bench import (  # noqa: E402
    PROBLEM_NAMES,
    SolveOutcome,
    Solver,
    SolverRecord,
    our_solvers,
    records_table,
    run_solvers,
    solver_problems,
)

ANDERSON_MEMORY = 5  # the history length m, the same for both libraries


def torchdeq_solvers() -> list[Solver]:
    """TorchDEQ's fixed_point_iter, anderson and broyden behind the harness's interface.

    Settings (see README.md): stop_mode="rel" with the same tol, so each stops when
    max_i ‖f(z)_i − z_i‖ / (‖f(z)_i‖ + 1e-9) < tol; the same budget of evaluations of g; Anderson
    with m = ANDERSON_MEMORY and tau = 1 (no damping), once with its default lam = 1e-4 (an
    absolute regularisation, not scaled to the residuals) and once with lam = 0 (no
    regularisation: the same iterations as ours here, so the times compare the implementations);
    Broyden without line search and with its default memory (every rank-one update kept).
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
        Solver("fixed_point_iter", "torchdeq", adapter(fixed_point_iter)),
        Solver("anderson", "torchdeq", adapter(anderson_solver, m=ANDERSON_MEMORY)),
        Solver("anderson(lam=0)", "torchdeq", adapter(anderson_solver, m=ANDERSON_MEMORY, lam=0.0)),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--problems", nargs="+", choices=PROBLEM_NAMES, default=PROBLEM_NAMES)
    parser.add_argument("--quick", action="store_true", help="1 warm-up and 3 timed rounds")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--no-torchdeq", action="store_true", help="only implicit_edu's solvers")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 3, 1

    ours = our_solvers(
        ("picard", "anderson", "broyden"),
        anderson={"m": ANDERSON_MEMORY},
    )
    solvers = list(ours.values())
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
    device = torch.device(args.device)
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    )
    print(
        f"# {datetime.date.today()}  torch {torch.__version__}  threads {args.threads}  "
        f"{machine}  "
        f"tol {args.tol:g}  {args.warmup} warm-up + {args.repeats} timed rounds, interleaved"
    )
    all_records: list[SolverRecord] = []
    for dtype in dtypes:
        for problem in solver_problems(dtype, args.device, names=args.problems).values():
            print(f"# {problem.name} ({problem.dtype}): {problem.description}", file=sys.stderr)
            all_records += run_solvers(
                problem,
                solvers,
                tol=args.tol,
                repeats=args.repeats,
                warmup=args.warmup,
                threads=args.threads,
            )

    print(records_table(all_records, markdown=args.markdown, spread=spread))
    if args.no_torchdeq:
        return 0

    print(
        "\nTargets (issue): our Anderson needs no more iterations than TorchDEQ's anderson "
        "and at most 1.2x its wall time.\nFor reference, against TorchDEQ's anderson with "
        "lam=0 (no regularisation), which needs the same iterations as ours here: the ratio "
        "of the times per iteration compares the implementations."
    )
    met = True
    for problem in args.problems:
        for dtype in dtypes:
            name = str(dtype).removeprefix("torch.")
            pick = {r.label: r for r in all_records if r.problem == problem and r.dtype == name}
            ours, theirs = pick["implicit_edu.anderson"], pick["torchdeq.anderson"]
            plain = pick["torchdeq.anderson(lam=0)"]
            ratio = ours.median_seconds / theirs.median_seconds
            ok_iter = ours.iterations <= theirs.iterations and ours.reached_tol
            ok_time = ratio <= 1.2
            met &= ok_iter and ok_time
            per_iteration = (ours.median_seconds / ours.iterations) / (
                plain.median_seconds / plain.iterations
            )
            print(
                f"  {problem:10s} {name}: iterations {ours.iterations} vs {theirs.iterations} "
                f"({'ok' if ok_iter else 'MISSED'}); time ratio {ratio:.2f}, paired by round "
                f"{paired_ratio(ours, theirs):.2f} ({'ok' if ok_time else 'MISSED'}) | "
                f"lam=0: iterations {plain.iterations}, time ratio "
                f"{ours.median_seconds / plain.median_seconds:.2f}, per iteration "
                f"{per_iteration:.2f}"
            )
    print("all targets met" if met else "some targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
