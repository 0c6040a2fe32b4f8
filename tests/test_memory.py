"""Tests of implicit_edu.experiments.memory and benchmarks/memory.py: what autograd saves for
backward grows with the iteration count for unrolled backprop and not for the implicit backward;
the peak tracker counts what it should; the records and the command line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from implicit_edu.core.deq import DEQ
from implicit_edu.core.regular import TanhOperator
from implicit_edu.experiments.memory import (
    PeakMemoryTracker,
    StepCost,
    cost_table_parts,
    fixed_iteration_layer,
    format_bytes,
    format_table,
    measure_costs,
    memory_ratio,
    saved_tensor_bytes,
    training_step_cost,
)
from implicit_edu.runtime.notebook import markdown_table

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64
WIDTH, BATCH, IN = 6, 3, 4
ROW_BYTES = WIDTH * BATCH * 8  # one (batch, width) float64 tensor


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    g = TanhOperator(WIDTH, IN, mu=0.8, normalisation="once", generator=gen).double()
    x = torch.randn(BATCH, IN, generator=gen, dtype=F64)
    return g, x


def test_operator_is_a_contraction_at_construction(problem):
    g, x = problem
    assert float(torch.linalg.matrix_norm(g.W.detach(), 2)) == pytest.approx(0.8, rel=1e-6)
    y1, y2 = torch.randn(2, BATCH, WIDTH, dtype=F64)
    lhs = (g(y1, x) - g(y2, x)).norm(dim=1)
    assert lhs.le(0.8 * (y1 - y2).norm(dim=1) + 1e-15).all()
    assert torch.equal(g.initial_state(x), torch.zeros(BATCH, WIDTH, dtype=F64))
    with pytest.raises(ValueError, match="mu"):
        TanhOperator(3, 2, mu=-1.0, normalisation="once")


def test_saved_bytes_of_a_single_operation():
    a = torch.randn(100, dtype=F64, requires_grad=True)
    out, saved = saved_tensor_bytes(lambda: torch.tanh(a))  # tanh saves its output
    assert saved == 800
    _, saved = saved_tensor_bytes(lambda: a * 2.0)  # scaling by a number saves nothing new
    assert saved == 0
    _, saved = saved_tensor_bytes(lambda: (a * a).sum(), exclude=[a])  # saves a, excluded
    assert saved == 0


def test_peak_tracker_counts_live_storages():
    with PeakMemoryTracker() as tracker:
        a = torch.zeros(1000, dtype=F64)  # 8000 bytes
        b = a + 1  # another 8000 alive at once
        del a, b
        c = torch.zeros(500, dtype=F64)  # after both were freed
        view = c[:10]  # a view: no new memory
        del c, view
    assert tracker.peak == 16000
    assert tracker.live == 0


@pytest.mark.parametrize("mode", ["ift", "jfb", "phantom", "unrolled"])
def test_fixed_iteration_layer_runs_exactly_n_steps(problem, mode):
    g, x = problem
    layer = fixed_iteration_layer(g, mode, 7)
    assert isinstance(layer, DEQ) and layer.backward == mode
    y = layer(x)
    assert layer.forward_result.iterations == 7
    if mode == "ift":
        y.sum().backward()
        assert layer.backward_result.iterations == 7
    with pytest.raises(ValueError, match="unknown backward mode"):
        fixed_iteration_layer(g, "implicit", 7)


def test_unrolled_saved_bytes_grow_with_iterations_ift_do_not(problem):
    g, x = problem
    records = measure_costs(
        lambda mode, n: fixed_iteration_layer(g, mode, n), x, [5, 20], repeats=1
    )
    saved = {(r.mode, r.iterations): r.saved_bytes for r in records}
    peak = {(r.mode, r.iterations): r.peak_bytes for r in records}
    # unrolled: one (batch, width) tensor per Picard step (tanh's output, also the next input)
    assert saved["unrolled", 20] - saved["unrolled", 5] == 15 * ROW_BYTES
    assert peak["unrolled", 20] - peak["unrolled", 5] >= 15 * ROW_BYTES
    for mode in ("ift", "jfb", "phantom"):
        assert saved[mode, 5] == saved[mode, 20] < saved["unrolled", 20]
        assert peak[mode, 5] == peak[mode, 20] < peak["unrolled", 20]
    assert saved["ift", 20] == 2 * ROW_BYTES  # the leaf y* and tanh's output
    assert memory_ratio(records, 20) == saved["unrolled", 20] / saved["ift", 20]
    with pytest.raises(ValueError, match="no saved_bytes"):
        memory_ratio(records, 999)


def test_record_fields(problem):
    g, x = problem
    record = training_step_cost(
        lambda mode, n: fixed_iteration_layer(g, mode, n), x, iterations=4, mode="ift", repeats=2
    )
    assert isinstance(record, StepCost)
    fields = {f.name for f in dataclasses.fields(StepCost)}
    assert {"mode", "iterations", "saved_bytes", "peak_bytes", "seconds", "device"} <= fields
    assert record.mode == "ift" and record.iterations == 4 and record.forward_iterations == 4
    assert record.device == "cpu" and record.peak_source == "tracker"
    assert record.saved_bytes > 0 and record.peak_bytes >= record.saved_bytes
    assert 0 < record.seconds < 10
    assert all(p.grad is None for p in g.parameters())  # the measurement leaves no gradients
    threads = torch.get_num_threads()
    training_step_cost(
        lambda m, n: fixed_iteration_layer(g, m, n), x, 2, "jfb", repeats=1, threads=1
    )
    assert torch.get_num_threads() == threads  # restored
    with pytest.raises(ValueError, match="iterations"):
        training_step_cost(lambda m, n: fixed_iteration_layer(g, m, n), x, 0, "ift")
    with pytest.raises(ValueError, match="unknown backward mode"):
        training_step_cost(lambda m, n: fixed_iteration_layer(g, m, n), x, 3, "implicit")
    with pytest.raises(ValueError, match="threads"):
        training_step_cost(lambda m, n: fixed_iteration_layer(g, m, n), x, 3, "ift", threads=0)


def test_table_and_bytes_formatting():
    records = [
        StepCost("ift", 10, 2048, 4096, 0.0015, "cpu"),
        StepCost("unrolled", 10, 3 * 2**20, None, 0.002, "cpu"),
    ]
    text = format_table(records)
    assert "2.0 KiB" in text and "3.0 MiB" in text and "n/a" in text and "1.50 ms" in text
    markdown = format_table(records, markdown=True)
    assert markdown.startswith("| iterations |") and markdown.count("\n") == 3
    header, rows, align = cost_table_parts(records)  # what the chapter captions
    assert header[0] == "iterations" and align == ["right", None, "right", "right", "right"]
    assert rows[1] == ["10", "unrolled", "3.0 MiB", "n/a", "2.00 ms"]
    assert markdown == markdown_table(header, rows, align=align)
    assert format_bytes(512) == "512 B" and format_bytes(None) == "n/a"


def test_command_line_runs_with_tiny_sizes():
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "memory.py"),
        "--iterations", "2", "6",
        "--width", "4", "--in-features", "3", "--batch", "2", "--repeats", "1",
        "--threads", "1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["6", "unrolled"] for line in lines)
    assert sum(line.split()[:1] == ["2"] for line in lines) == 4  # one row per mode
    assert "unrolled / ift at 6 iterations" in done.stdout
    bad = subprocess.run(
        [*command[:2], "--iterations", "0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "iterations" in bad.stderr
