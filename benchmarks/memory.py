"""Memory and time of one DEQ training step as the forward iteration count grows.

    python benchmarks/memory.py [--iterations 10 50 200] [--device cpu|cuda]
                                [--width 256] [--batch 64] [--repeats 5] [--threads 1]
                                [--modes ift unrolled ...] [--dtype float32|float64]

For every iteration count N and backward mode it runs one training step (forward with exactly N
Picard steps, loss, backward) of a DEQ layer on the operator g(y, x) = tanh(W y + U x + b) with
||W||₂ = 0.9 (``implicit_edu.core.regular.TanhOperator``, ``normalisation="once"``), and
prints a table of the bytes autograd saved for backward, the peak memory of the step and its median
time; then the memory ratio unrolled / ift at the largest N. See the chapter "Differentiating
through a fixed point" and ``implicit_edu/experiments/memory.py`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from implicit_edu.core.deq import BACKWARD_MODES  # noqa: E402
from implicit_edu.core.regular import TanhOperator  # noqa: E402
from implicit_edu.experiments.memory import (  # noqa: E402
    fixed_iteration_layer,
    format_table,
    measure_costs,
    memory_ratio,
)

TARGET_RATIO = 10.0  # the memory saving asked for at 200 iterations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--width", type=int, default=256, help="size of the state y")
    parser.add_argument("--in-features", type=int, default=64, help="size of the input x")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--mu", type=float, default=0.9, help="contraction factor ||A||₂")
    parser.add_argument("--modes", nargs="+", choices=BACKWARD_MODES, default=list(BACKWARD_MODES))
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads while timing (default: torch's); 1 gives repeatable times on a busy CPU",
    )
    args = parser.parse_args(argv)
    if min(args.iterations) < 1:
        parser.error("--iterations must be >= 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    g = TanhOperator(args.width, args.in_features, mu=args.mu, normalisation="once", generator=gen)
    g = g.to(device=device, dtype=dtype)
    x = torch.randn(args.batch, args.in_features, generator=gen, dtype=dtype).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {args.device} ({name}), {args.dtype}, width {args.width}, batch {args.batch}, "
        f"in_features {args.in_features}, mu {args.mu}, median of {args.repeats} steps"
        f"{'' if args.threads is None else f' on {args.threads} thread(s)'}"
    )
    records = measure_costs(
        lambda mode, n: fixed_iteration_layer(g, mode, n),
        x,
        sorted(args.iterations),
        modes=args.modes,
        repeats=args.repeats,
        threads=args.threads,
    )
    print(format_table(records))
    if {"ift", "unrolled"} <= set(args.modes):
        n = max(args.iterations)
        saved = memory_ratio(records, n, field="saved_bytes")
        peak = memory_ratio(records, n, field="peak_bytes")
        verdict = "met" if peak >= TARGET_RATIO else "NOT met"
        print(
            f"unrolled / ift at {n} iterations: {saved:.1f}x the saved bytes, {peak:.1f}x the "
            f"peak memory (target >= {TARGET_RATIO:g}x on the peak: {verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
