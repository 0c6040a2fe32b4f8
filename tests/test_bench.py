"""Tests of implicit_edu.experiments.bench (the solver benchmark's problems and harness) and of the
command-line benchmark benchmarks/solvers.py."""

from __future__ import annotations

import gc
import importlib.util
import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from implicit_edu import fixed_point
from implicit_edu.analysis.lipschitz import spectral_norm
from implicit_edu.experiments import bench

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64


@pytest.fixture(scope="module")
def problems():
    return bench.solver_problems(F64)


@pytest.fixture(scope="module")
def large():
    """The large-state problem, which only comes when asked for by name."""
    return bench.solver_problems(F64, names=["conv-32"])["conv-32"]


# ------------------------------------------------------------------------------------ problems


def test_problem_names_and_shapes(problems):
    assert list(problems) == list(bench.PROBLEM_NAMES)
    for name, problem in problems.items():
        assert problem.name == name
        assert problem.y0.dtype == F64 and (problem.y0 == 0).all()
        assert problem.g(problem.y0).shape == problem.y0.shape
        assert 0 < problem.lipschitz < 1 and problem.max_iter >= 100
        assert name in repr(problem)


def test_problems_are_contractive_by_their_jacobians(problems):
    """The largest singular value of the Jacobian at random points stays below the bound."""
    gen = torch.Generator().manual_seed(1)
    for problem in problems.values():
        points = torch.randn(problem.y0.shape, dtype=F64, generator=gen)
        sigma = spectral_norm(problem.g, points, iters=60)
        assert float(sigma.max()) <= problem.lipschitz * (1 + 1e-9), problem.name
        assert float(sigma.max()) > 0.3 * problem.lipschitz, problem.name  # not trivially small


def test_problems_are_contractive_by_difference_quotients(problems):
    gen = torch.Generator().manual_seed(2)
    for problem in problems.values():
        a = torch.randn(problem.y0.shape, dtype=F64, generator=gen)
        b = a + 0.1 * torch.randn(problem.y0.shape, dtype=F64, generator=gen)
        batch = a.shape[0]
        quotient = (problem.g(a) - problem.g(b)).reshape(batch, -1).norm(dim=1) / (a - b).reshape(
            batch, -1
        ).norm(dim=1)
        assert float(quotient.max()) <= problem.lipschitz, problem.name


def test_linear_parts_have_the_stated_norms(problems):
    """At 0 the tanh layers' Jacobians are diag(tanh') W; the slow layer is linear: 0.99 W."""
    slow = problems["slow-small"]
    sigma = spectral_norm(slow.g, torch.zeros_like(slow.y0), iters=300)
    assert float(sigma.max()) == pytest.approx(0.99, rel=2e-3)


def test_large_problem_is_opt_in_and_leaves_the_others_alone(problems, large):
    """The chapter takes the default set: conv-32 must not join it or change its problems."""
    assert bench.ALL_PROBLEM_NAMES == bench.PROBLEM_NAMES + bench.LARGE_PROBLEM_NAMES
    assert "conv-32" in bench.LARGE_PROBLEM_NAMES and "conv-32" not in problems
    assert large.name == "conv-32" and large.tol == 1e-3 and large.max_iter >= 40
    assert all(p.tol == 1e-6 for p in problems.values())
    assert large.y0.shape == (8, 32, 32, 32) and large.y0[0].numel() >= 10_000
    assert (large.y0 == 0).all() and large.g(large.y0).shape == large.y0.shape
    assert "tol=0.001" in repr(large)
    mixed = bench.solver_problems(F64, names=["conv-32", "slow-small"])
    assert list(mixed) == ["slow-small", "conv-32"]  # in the order of ALL_PROBLEM_NAMES
    z = torch.randn(problems["slow-small"].y0.shape, dtype=F64, generator=torch.Generator())
    torch.testing.assert_close(mixed["slow-small"].g(z), problems["slow-small"].g(z))


def test_large_problem_is_contractive(large):
    """L = 0.95 for conv-32, by the Jacobian at random points and by difference quotients."""
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(large.y0.shape, dtype=F64, generator=gen)
    sigma = spectral_norm(large.g, a, iters=30)
    assert float(sigma.max()) <= large.lipschitz * (1 + 1e-9)
    assert float(sigma.max()) > 0.3 * large.lipschitz  # not trivially small
    b = a + 0.1 * torch.randn(large.y0.shape, dtype=F64, generator=gen)
    quotient = (large.g(a) - large.g(b)).flatten(1).norm(dim=1) / (a - b).flatten(1).norm(dim=1)
    assert float(quotient.max()) <= large.lipschitz


def test_large_problem_weight_has_norm_095(large):
    """The linear part of conv-32 is a 3×3 circular convolution of operator norm 0.95.

    Power iteration converges slowly on a state this large (the top singular values of a
    convolution are clustered), so the kernel is read off g itself instead: the response of the
    linear part to a unit impulse in channel c is the kernel's slice for c, mirrored. Its exact
    norm then comes from the Fourier symbol (checked against a dense matrix below).
    """
    x_part = large.g(torch.zeros_like(large.y0)).atanh()  # = x
    linear = lambda z: large.g(z).atanh() - x_part  # noqa: E731  (= conv(z), exactly linear)
    channels, size = large.y0.shape[1], large.y0.shape[2]
    batch, centre = large.batch, large.y0.shape[2] // 2
    kernel = torch.zeros(channels, channels, 3, 3, dtype=F64)
    for first in range(0, channels, batch):  # one impulse per sample: `batch` channels per call
        impulses = torch.zeros_like(large.y0)
        for k in range(batch):
            impulses[k, first + k, centre, centre] = 1.0
        response = linear(impulses)
        for k in range(batch):
            patch = response[k, :, centre - 1 : centre + 2, centre - 1 : centre + 2]
            kernel[:, first + k] = patch.flip(-1, -2)  # out[i, j] = w[1 + c - i, 1 + c - j]
            outside = response[k].clone()
            outside[:, centre - 1 : centre + 2, centre - 1 : centre + 2] = 0
            assert float(outside.abs().max()) < 1e-12  # a 3×3 kernel: nothing further away
    assert bench.circular_conv_norm(kernel, size) == pytest.approx(0.95, rel=1e-9)


def test_circular_conv_norm_matches_the_dense_matrix():
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(3, 2, 3, 3, dtype=F64, generator=gen)
    size = 5

    def conv(z):
        return F.conv2d(F.pad(z, (1, 1, 1, 1), mode="circular"), weight)

    basis = torch.eye(2 * size * size, dtype=F64).reshape(-1, 2, size, size)
    dense = conv(basis).reshape(len(basis), -1).T  # columns: images of the basis vectors
    exact = float(torch.linalg.matrix_norm(dense, ord=2))
    assert bench.circular_conv_norm(weight, size) == pytest.approx(exact, rel=1e-12)


def test_conv_problem_weight_has_norm_095():
    problem = bench.solver_problems(F64, names=["conv-16"])["conv-16"]
    # g(z) = tanh(conv(z) + x); at z with conv(z) + x = 0 the Jacobian is conv itself. Check the
    # norm of the linear part through the Jacobian at a point where tanh' is close to 1.
    x_part = problem.g(torch.zeros_like(problem.y0)).atanh()  # = x
    linear = lambda z: problem.g(z).atanh() - x_part  # noqa: E731  (= conv(z), exactly linear)
    sigma = spectral_norm(linear, torch.zeros_like(problem.y0), iters=200)
    assert float(sigma.max()) <= 0.95 * (1 + 1e-8)
    assert float(sigma.max()) > 0.94


def test_float32_is_the_float64_problem_rounded():
    p64 = bench.solver_problems(F64, names=["tanh-64"])["tanh-64"]
    p32 = bench.solver_problems(torch.float32, names=["tanh-64"])["tanh-64"]
    z = torch.randn(p64.y0.shape, dtype=F64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(p32.g(z.float()).double(), p64.g(z), rtol=1e-5, atol=1e-6)


def test_seed_changes_the_problem():
    a = bench.solver_problems(F64, seed=0, names=["tanh-64"])["tanh-64"]
    b = bench.solver_problems(F64, seed=1, names=["tanh-64"])["tanh-64"]
    z = torch.zeros_like(a.y0)
    assert not torch.allclose(a.g(z), b.g(z))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown problem"):
        bench.solver_problems(F64, names=["tanh-65"])
    with pytest.raises(ValueError, match="dtype"):
        bench.solver_problems(torch.float16)
    with pytest.raises(ValueError, match="repeats"):
        bench.median_time(lambda: None, repeats=0)


# ------------------------------------------------------------------------------------- harness


def test_run_solvers_records(problems):
    problem = problems["tanh-64"]
    solvers = bench.our_solvers(("picard", "anderson"), anderson={"m": 5})
    records = bench.run_solvers(problem, solvers, tol=1e-6, repeats=2, warmup=1, threads=1)
    assert gc.isenabled()  # the timed runs switch the collector off, and on again
    assert [r.solver for r in records] == ["picard", "anderson"]
    for record in records:
        assert record.problem == "tanh-64" and record.dtype == "float64"
        assert record.library == "implicit_edu" and record.label.startswith("implicit_edu.")
        assert record.converged and record.reached_tol
        assert record.final_residual <= 1e-6
        assert len(record.seconds) == 2 and record.median_seconds > 0
        assert record.reason.startswith("converged")
        direct = fixed_point(problem.g, problem.y0, record.solver, tol=1e-6, max_iter=500)
        assert record.iterations == direct.iterations  # evaluations of g = iterations
    assert records[1].iterations < records[0].iterations  # Anderson beats Picard here
    table = bench.records_table(records)
    assert table.count("\n") == 3 and "implicit_edu.anderson" in table
    plain = bench.records_table(records, markdown=False, spread=lambda r: "x")
    assert "IQR ms" in plain and "|" not in plain
    with_tol = bench.records_table(records, tol=True)
    assert "| problem | dtype | tol | solver |" in with_tol
    assert "| tanh-64 | float64 | 1e-06 | implicit_edu.picard |" in with_tol


def test_run_solvers_counts_evaluations_of_other_solvers(problems):
    problem = problems["slow-small"]

    def three_steps(g, y0, tol, max_iter):
        y = y0
        for _ in range(3):
            y = g(y)
        return bench.SolveOutcome(y, False)

    ticks = itertools.count()  # a clock that advances by 1 at each reading
    solvers = [bench.Solver("three", "test", three_steps)]
    (record,) = bench.run_solvers(problem, solvers, repeats=2, clock=lambda: float(next(ticks)))
    assert record.seconds == [1.0, 1.0]  # the timed runs read the clock given, twice each
    assert record.iterations == 3 and not record.converged and not record.reached_tol
    answer = three_steps(problem.g, problem.y0, 0.0, 0).y
    expected = float(bench.relative_residual(problem.g, answer).max())
    assert record.final_residual == pytest.approx(expected, rel=1e-12)


def test_trace_solver(problems):
    trace = bench.trace_solver(problems["tanh-64"], "anderson", tol=1e-6)
    assert len(trace.residuals) == len(trace.seconds) > 5
    assert trace.residuals[-1] <= 1e-6
    assert all(b >= a for a, b in zip(trace.seconds[:-1], trace.seconds[1:], strict=True))


def test_fixed_threads_restores():
    before = torch.get_num_threads()
    with bench.fixed_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_median_time_is_the_median_of_the_timed_calls(monkeypatch):
    """On a fake clock: the warm-up calls are not timed; the median of the others is returned."""
    now = [0.0]
    durations = iter([100.0, 100.0, 3.0, 1.0, 2.0])  # two warm-up calls, then three timed ones

    def work():
        now[0] += next(durations)

    class FakeTime:
        @staticmethod
        def perf_counter():
            return now[0]

    monkeypatch.setattr(bench, "time", FakeTime)
    assert bench.median_time(work, repeats=3, warmup=2) == 2.0
    with pytest.raises(ValueError, match="repeats >= 1"):
        bench.median_time(work, repeats=0)


# ----------------------------------------------------------------------------------------- CLI


def _cli():
    spec = importlib.util.spec_from_file_location("bench_cli", ROOT / "benchmarks" / "solvers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(out: str) -> tuple[str, str]:
    """The output's two comparisons, split at their headings, checking their order."""
    first, second = out.index("## 1. Like for like"), out.index("## 2. Each library's defaults")
    assert first < second
    return out[first:second], out[second:]


def test_cli_quick_run_without_torchdeq(capsys):
    code = _cli().main(["--quick", "--problems", "tanh-64", "--dtype", "float64", "--no-torchdeq"])
    out = capsys.readouterr().out
    assert code == 0
    assert "torchdeq" not in out.split("\n", 1)[1]
    like, defaults = _sections(out)  # the lam = 0 comparison comes first
    assert "implicit_edu.anderson(lam=0)" in like and "implicit_edu.picard" not in like
    assert "implicit_edu.anderson " in defaults and "anderson(lam=0)" not in defaults
    assert "1e-06" in like and "Targets" not in out


def test_cli_large_problem_at_its_own_tolerance(capsys):
    code = _cli().main(
        ["--quick", "--problems", "conv-32", "--dtype", "float32", "--no-torchdeq", "--markdown"]
    )
    out = capsys.readouterr().out
    assert code == 0
    like, defaults = _sections(out)
    assert "| conv-32 | float32 | 0.001 | implicit_edu.anderson(lam=0) |" in like
    assert "| conv-32 | float32 | 0.001 | implicit_edu.anderson | " in defaults
    # every solver reaches the tolerance: the converged column says yes in each row
    rows = [line for line in out.splitlines() if line.startswith("| conv-32 |")]
    assert len(rows) == 4 and all("| yes |" in row for row in rows)


def test_cli_quick_run_with_torchdeq(capsys):
    pytest.importorskip("torchdeq")
    code = _cli().main(["--quick", "--problems", "conv-16", "--dtype", "float32", "--markdown"])
    out = capsys.readouterr().out
    assert code == 0
    like, defaults = _sections(out)  # the lam = 0 comparison comes first
    assert "| conv-16 | float32 | 1e-06 | implicit_edu.anderson(lam=0) |" in like
    assert "| conv-16 | float32 | 1e-06 | torchdeq.anderson(lam=0) |" in like
    assert "per iteration" in like and "torchdeq.broyden" not in like
    assert "| conv-16 | float32 | 1e-06 | torchdeq.anderson |" in defaults
    assert "anderson(lam=0)" not in defaults
    assert "Targets" in defaults and "targets met" in defaults


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--tol", "0", "--tol: must be a number in (0, 1)"),
        ("--tol", "2", "--tol: must be a number in (0, 1)"),
        ("--tol", "tight", "--tol: invalid tolerance value"),
        ("--repeats", "0", "--repeats: must be an integer >= 1"),
        ("--warmup", "0", "--warmup: must be an integer >= 1"),
        ("--threads", "-1", "--threads: must be an integer >= 0"),
        ("--problems", "conv-33", "--problems: invalid choice"),
        ("--clock", "sundial", "--clock: invalid choice"),
        ("--device", "abacus", "--device"),
    ],
)
def test_cli_rejects_bad_option_values(capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_:
        _cli().main(["--no-torchdeq", option, value])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_cpu_clock_needs_the_cpu(capsys):
    with pytest.raises(SystemExit):
        _cli().main(["--no-torchdeq", "--clock", "cpu", "--device", "meta"])
    assert "--clock: cpu time measures nothing on device meta" in capsys.readouterr().err
