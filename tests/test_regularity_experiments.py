"""The experiments of chapter "Keeping the operator regular" (experiments.regularity).

Smoke-sized: a few training steps on a few points, so that the whole file runs in seconds.
"""

from __future__ import annotations

import math

import pytest
import torch

from implicit_edu.experiments import regularity as experiment


@pytest.fixture(autouse=True)
def float64():
    """The chapter runs in float64; restore the default afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _small_design(seeds=(0,), steps=3):
    return experiment.run_design(
        list(seeds),
        train_x=torch.linspace(0.05, 1.0, 16),
        test_x=torch.linspace(0.05, 1.0, 20),
        steps=steps,
        test_iterations=40,
    )


@pytest.fixture(scope="module")
def design():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _small_design(seeds=(0, 1))
    finally:
        torch.set_default_dtype(previous)


def _sweep_data(n_train=12, n_test=30):
    x_train = torch.linspace(0.05, 1.0, n_train)[:, None]
    x_test = torch.linspace(0.05, 1.0, n_test)[:, None]
    return {"x_train": x_train, "F_train": 1 / x_train, "x_test": x_test, "F_test": 1 / x_test}


# --- the 2 × 2 design ---------------------------------------------------------------------------


def test_tanh_regressor_shapes_and_read_out_scale():
    model = experiment.TanhRegressor(0.9, "ift", seed=0)
    x = torch.linspace(0.1, 1.0, 7)
    assert model(x).shape == (7,)
    y = torch.zeros(3, experiment.STATE_WIDTH)
    expected = experiment.OUTPUT_SCALE * model.readout.bias.expand(3)
    assert torch.allclose(model.read(y), expected)
    assert model.g.contraction_bound() == pytest.approx(0.9)


def test_tanh_regressor_is_deterministic_under_its_seed():
    first, second = (experiment.TanhRegressor(None, "unrolled", seed=3) for _ in range(2))
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    other = experiment.TanhRegressor(None, "unrolled", seed=4)
    assert not torch.equal(first.readout.weight, other.readout.weight)


@pytest.mark.parametrize("backward", ["jfb", "phantom", ""])
def test_tanh_regressor_rejects_other_backwards(backward):
    with pytest.raises(ValueError, match="'unrolled' or 'ift'"):
        experiment.TanhRegressor(0.9, backward, seed=0)


def test_normalised_operator_settles_at_test_time():
    model = experiment.TanhRegressor(0.9, "ift", seed=0)
    run = experiment.test_time_run(model, torch.linspace(0.05, 1.0, 25), 300)
    assert len(run["errors"]) == 301 and len(run["moves"]) == 300
    assert run["moves"][-1] <= experiment.SETTLED  # a 0.9-contraction converges from y_0 = 0
    assert run["jac_at_n"] <= 0.9 + 1e-9 and run["norm_W"] == pytest.approx(0.9)
    assert run["unroll"] == experiment.UNROLL


def test_test_time_run_needs_steps_past_the_training_depth():
    model = experiment.TanhRegressor(0.9, "ift", seed=0)
    with pytest.raises(ValueError, match="training depth N = 10"):
        experiment.test_time_run(model, torch.linspace(0.1, 1, 5), 5)
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        experiment.test_time_run(model, torch.linspace(0.1, 1, 5)[:, None], 20)


def test_design_runs_every_cell_for_every_seed(design):
    assert list(design) == list(experiment.DESIGN)
    assert all(len(runs) == 2 for runs in design.values())
    for constraint, backward in design:
        for run in design[constraint, backward]:
            assert len(run["errors"]) == 41
            if constraint == "normalised":
                assert run["norm_W"] == pytest.approx(0.9)


def test_design_is_deterministic():
    first, second = _small_design(steps=2), _small_design(steps=2)
    for cell in first:
        assert first[cell][0]["errors"] == second[cell][0]["errors"]
        assert first[cell][0]["jac_at_n"] == second[cell][0]["jac_at_n"]


def test_summaries_match_the_runs(design):
    free = design["unconstrained", "unrolled"]
    summary = experiment.failure_summary(design)
    assert summary["fail_seeds"] == 2 and summary["fail_t_late"] == 40
    assert summary["fail_err_n"] == pytest.approx(
        (free[0]["errors"][10] + free[1]["errors"][10]) / 2
    )
    assert summary["fail_norm_w_min"] <= summary["fail_norm_w_max"]
    cells = experiment.design_summary(design)
    assert cells["design_err_late_unconstrained_unrolled"] == summary["fail_err_late"]
    assert 0 <= cells["mixed_free_contracting"] <= 2
    lines = experiment.design_lines(design, [0, 1])
    assert len(lines) == 8 and lines[0].startswith("unconstrained unrolled seed 0: ‖W‖₂ = ")
    table = experiment.design_table(design).splitlines()
    assert len(table) == 2 + 4 and "$t = 40$" in table[0]
    assert table[-1].startswith("| normalised | fixed point (ift) |")
    header, rows, align = experiment.design_table_parts(design)  # what the chapter captions
    assert header[3] == "mean error at $t = 40$" and len(rows) == 4 and len(align) == 6
    assert rows[-1][:2] == ["normalised", "fixed point (ift)"]


def test_gradient_note_with_one_and_with_several_seeds(design):
    one = {cell: runs[:1] for cell, runs in design.items()}
    assert experiment.gradient_note(one).startswith("With one seed the difference, ")
    note = experiment.gradient_note(design)
    assert note.startswith("Paired by seed,") and "2 seeds" in note


def test_summaries_reject_runs_without_the_cells():
    with pytest.raises(ValueError, match="run_design"):
        experiment.failure_summary({})
    with pytest.raises(ValueError, match="run_design"):
        experiment.design_table({})
    with pytest.raises(ValueError, match="run_design"):
        experiment.design_table_parts({})


def test_run_design_rejects_bad_input():
    data = {"train_x": torch.ones(4), "test_x": torch.ones(4), "test_iterations": 20}
    with pytest.raises(ValueError, match="seeds is empty"):
        experiment.run_design([], steps=1, **data)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        experiment.run_design([-1], steps=1, **data)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        experiment.run_design([0], steps=0, **data)


# --- the trade-off sweep ------------------------------------------------------------------------


def test_error_floor_matches_a_hand_computation():
    # Two points x = 0.1, 0.2 with F = 10, 5: (|10 − 5| − K · 0.1) / (10 + 5).
    x, F = torch.tensor([0.1, 0.2]), torch.tensor([10.0, 5.0])
    for K in (0.0, 10.0, 30.0):
        assert experiment.error_floor(F, x, K) == pytest.approx((5 - 0.1 * K) / 15)
    assert experiment.error_floor(F, x, 50.0) == 0.0  # a slope of 50 is enough: no floor
    assert experiment.error_floor(F, x, 1000.0) == 0.0


def test_error_floor_falls_as_the_cap_grows():
    x = torch.linspace(0.05, 1.0, 201)
    floors = [experiment.error_floor(1 / x, x, K) for K in (8, 40, 80, 400)]
    assert floors[0] > floors[1] > floors[2] > 0  # the slope 1/x² reaches 400 at x = 0.05
    assert floors[3] == 0.0


def test_error_floor_rejects_bad_input():
    with pytest.raises(ValueError, match="same number"):
        experiment.error_floor(torch.ones(3), torch.ones(4), 1.0)
    with pytest.raises(ValueError, match="K, a Lipschitz constant, must be >= 0"):
        experiment.error_floor(torch.ones(3), torch.ones(3), -1.0)


def test_relative_errors_per_row():
    prediction = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    target = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(experiment.relative_errors(prediction, target), torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="same shape"):
        experiment.relative_errors(torch.ones(3, 1), torch.ones(3))


def test_banach_iterations_and_the_test_budget():
    assert experiment.banach_iterations(0.5, 1e-6) == math.ceil(6 * math.log(10) / math.log(2))
    assert experiment.test_budget() == experiment.banach_iterations(0.99) + 10 == 1385
    with pytest.raises(ValueError, match=r"contraction factor in \(0, 1\)"):
        experiment.banach_iterations(1.0)


@pytest.mark.parametrize("adaptive", [False, True])
def test_make_model_certifies_the_bound(adaptive):
    torch.manual_seed(0)
    g = experiment.make_model(0.9, adaptive, 2)
    x = torch.randn(50, 2)
    mu = g.contraction_bound(x)
    assert mu.shape == (50,) and bool((mu <= 0.9 + 1e-12).all())
    if not adaptive:
        assert torch.allclose(mu, torch.full((50,), 0.9))
    assert g.injection.lipschitz_bound() <= experiment.LIP_P + 1e-9


@pytest.mark.parametrize("mu_max", [0.0, 1.0, 1.5, -0.2])
def test_make_model_rejects_bounds_outside_the_unit_interval(mu_max):
    with pytest.raises(ValueError, match=r"mu_max must lie in \(0, 1\)"):
        experiment.make_model(mu_max, False, 1)


def test_train_and_measure_shapes_and_iteration_counts():
    run = experiment.train_and_measure(0.8, True, 0, steps=3, **_sweep_data())
    assert run["errors"].shape == run["mu"].shape == run["iterations"].shape == (30,)
    assert run["curve"].shape == (experiment.test_budget() + 1,)
    # linear in y: the distance to y* after t steps is exactly μ(x)^t
    predicted = torch.ceil(math.log(experiment.TOLERANCE) / torch.log(run["mu"]))
    assert float((run["iterations"] - predicted).abs().max()) <= 1
    assert bool((run["mu"] < 0.8).all()) and 0 < run["lip_eps"]


def test_train_and_measure_is_deterministic_under_its_seed():
    first = experiment.train_and_measure(0.9, False, 1, steps=3, **_sweep_data())
    second = experiment.train_and_measure(0.9, False, 1, steps=3, **_sweep_data())
    assert torch.equal(first["errors"], second["errors"])
    assert torch.equal(first["y_star"], second["y_star"])


def test_train_and_measure_rejects_mismatched_data():
    data = _sweep_data()
    data["F_train"] = data["F_train"][:5]
    with pytest.raises(ValueError, match="same B"):
        experiment.train_and_measure(0.9, False, 0, steps=1, **data)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        experiment.train_and_measure(0.9, False, 0, steps=0, **_sweep_data())


def test_sweep_summary_table_and_glue():
    bounds = (0.5, 0.9)
    runs = experiment.run_sweep([0], steps=2, bounds=bounds, **_sweep_data(n_test=10))
    assert list(runs) == [(False, 0.5), (False, 0.9), (True, 0.5), (True, 0.9)]
    steep = torch.linspace(0.05, 1.0, 10) < 0.3
    table = experiment.summarise(runs, steep)
    constant = runs[False, 0.9][0]
    assert table[False, 0.9]["max"] == float(constant["errors"].max())
    assert table[False, 0.9]["steep"] == float(constant["errors"][steep].mean())
    assert table[False, 0.9]["it_mean"] == pytest.approx(experiment.banach_iterations(0.9), abs=1)
    rows = experiment.markdown_table(table, [0.3, 0.1], bounds=bounds).splitlines()
    assert len(rows) == 4 and rows[2].startswith("| 0.5 | 0.300 |")
    header, cells, align = experiment.sweep_table_parts(table, [0.3, 0.1], bounds=bounds)
    assert len(header) == len(align) == 10 and [row[:2] for row in cells] == [
        ["0.5", "0.300"],
        ["0.9", "0.100"],
    ]
    glued = experiment.sweep_glue(
        table, prefix="r9", fields=("max",), floors=[0.3, 0.1], bounds=bounds
    )
    assert list(glued) == [
        "r9_const_05_max",
        "r9_adapt_05_max",
        "r9_const_09_max",
        "r9_adapt_09_max",
        "r9_floor_05",
        "r9_floor_09",
    ]
    with pytest.raises(ValueError, match="one floor per bound"):
        experiment.markdown_table(table, [0.3], bounds=bounds)
    with pytest.raises(ValueError, match="one floor per bound"):
        experiment.sweep_table_parts(table, [0.3], bounds=bounds)
    with pytest.raises(ValueError, match="boolean mask"):
        experiment.summarise(runs, steep.double())


def test_trend_in_words():
    assert experiment.trend([3, 2, 1]) == "falls with every step of the bound"
    assert experiment.trend([3, 4, 1]) == "falls overall, though not at every step of the bound"
    assert experiment.trend([1, 2, 3]) == "does not fall as the bound grows"
    with pytest.raises(ValueError, match="at least two values"):
        experiment.trend([1.0])


def test_bump_height_and_input_checks():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    assert torch.allclose(experiment.bump(x), torch.tensor([[20.0], [1 / 1.05]]))
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        experiment.bump(torch.ones(3))
    with pytest.raises(ValueError, match="delta must be > 0"):
        experiment.bump(x, delta=0.0)


def test_bound_tag():
    assert [experiment.bound_tag(mu) for mu in experiment.BOUNDS] == [
        "05",
        "08",
        "09",
        "095",
        "099",
    ]
