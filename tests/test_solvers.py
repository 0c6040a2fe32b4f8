"""Tests of implicit_edu.core.solvers: fixed points with a closed form, speed, failure modes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from implicit_edu.core.solvers import FixedPointResult, fixed_point, iterate

METHODS = ["picard", "km", "anderson", "broyden"]
DOTTIE = 0.7390851332151607  # the fixed point of cos
F64 = torch.float64


def random_affine(n: int, batch: int, contraction: float, seed: int):
    """y -> A y + b per sample, ||A_i||_2 = contraction, and its fixed point (I - A)^{-1} b."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, n, n, dtype=F64, generator=gen)
    a = contraction * a / torch.linalg.matrix_norm(a, ord=2)[:, None, None]
    b = torch.randn(batch, n, dtype=F64, generator=gen)
    y_star = torch.linalg.solve(torch.eye(n, dtype=F64) - a, b)

    def g(y: torch.Tensor) -> torch.Tensor:
        return (a @ y[:, :, None])[:, :, 0] + b

    return g, y_star


def tanh_layer(dtype: torch.dtype, width: int = 64, batch: int = 8, seed: int = 0):
    """y -> tanh(W y + U x + b) with a symmetric W of spectral norm 0.9 (so Picard is slow)."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(width, width, dtype=F64, generator=gen)
    w = 0.9 * (a + a.T) / torch.linalg.matrix_norm(a + a.T, ord=2)
    u = torch.randn(width, 16, dtype=F64, generator=gen) / 4.0
    b = 0.1 * torch.randn(width, dtype=F64, generator=gen)
    x = torch.randn(batch, 16, dtype=F64, generator=gen)
    w, injection = w.to(dtype), (x @ u.T + b).to(dtype)

    def g(y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y @ w.T + injection)

    return g, torch.zeros(batch, width, dtype=dtype)


def inverse_operator(x: torch.Tensor, eta: float = 0.5):
    """The 1/x operator y -> y - η(x y - 1); its fixed point is 1/x."""
    return lambda y: y - eta * (x * y - 1.0)


def relative_residual(g, y: torch.Tensor) -> torch.Tensor:
    gy = g(y)
    batch = y.shape[0]
    return (gy - y).reshape(batch, -1).norm(dim=1) / gy.reshape(batch, -1).norm(dim=1)


# ---------------------------------------------------------------- closed-form fixed points


@pytest.mark.parametrize("solver", METHODS)
def test_affine_map(solver):
    g, y_star = random_affine(n=10, batch=5, contraction=0.8, seed=1)
    result = fixed_point(g, torch.zeros(5, 10, dtype=F64), solver, tol=1e-10, max_iter=500)
    assert result.converged, result.reason
    error = (result.y - y_star).norm(dim=1) / y_star.norm(dim=1)
    assert error.max() < 1e-6
    assert result.y.shape == (5, 10) and result.y.dtype == F64


@pytest.mark.parametrize("solver", METHODS)
def test_inverse_operator(solver):
    x = torch.tensor([1.0, 0.8, 0.5, 0.3, 0.1], dtype=F64)
    result = fixed_point(
        inverse_operator(x), torch.ones(5, dtype=F64), solver, tol=1e-10, max_iter=1000
    )
    assert result.converged, result.reason
    torch.testing.assert_close(result.y, 1 / x, rtol=1e-7, atol=0)
    assert result.sample_residuals.shape == (5,)


@pytest.mark.parametrize("solver", METHODS)
def test_cos_dottie_number(solver):
    result = fixed_point(torch.cos, torch.tensor(1.0, dtype=F64), solver, tol=1e-12)
    assert result.converged, result.reason
    assert result.y.shape == ()  # a 0-dim y0 gives a 0-dim y
    assert abs(result.y.item() - DOTTIE) < 1e-10


# ------------------------------------------------------------------------------- speed


def test_anderson_and_broyden_beat_picard_on_tanh_layer():
    g, y0 = tanh_layer(F64)
    counts = {}
    for solver in ["picard", "anderson", "broyden"]:
        result = fixed_point(g, y0, solver, tol=1e-8, max_iter=500)
        assert result.converged, (solver, result.reason)
        assert result.sample_residuals.max() <= 1e-8
        counts[solver] = result.iterations
    assert counts["anderson"] < counts["picard"]
    assert counts["broyden"] < counts["picard"]


def test_anderson_small_fixed_point_slow_contraction():
    """Residuals ~1e-4 and smaller: an absolute (unscaled) lam = 1e-4 would swamp the Gram
    matrix, make the weights nearly uniform and stall (it needs > 200 iterations here)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(32, 32, dtype=F64, generator=gen)
    w = (a + a.T) / torch.linalg.matrix_norm(a + a.T, ord=2)  # ||W|| = 1
    x = torch.randn(4, 32, dtype=F64, generator=gen)
    y_star = torch.linalg.solve(torch.eye(32, dtype=F64) - 0.99 * w, 1e-4 * x.T).T
    assert y_star.norm() < 1e-2  # the fixed point is small

    def g(y):
        return 0.99 * y @ w.T + 1e-4 * x

    y0 = torch.zeros(4, 32, dtype=F64)
    assert not fixed_point(g, y0, "picard", tol=1e-8, max_iter=200).converged
    result = fixed_point(g, y0, "anderson", tol=1e-8, max_iter=200)
    assert result.converged, result.reason
    error = (result.y - y_star).norm(dim=1) / y_star.norm(dim=1)
    assert error.max() < 1e-5  # relative residual 1e-8 times cond(I - 0.99 W) <= 199


def test_broyden_restart_when_memory_is_full():
    g, y0 = tanh_layer(F64)
    result = fixed_point(g, y0, "broyden", tol=1e-8, max_iter=500, memory=2)
    assert result.converged, result.reason


def test_broyden_secant_condition_holds_at_every_update_including_restarts():
    from implicit_edu.core.solvers import _Broyden

    torch.manual_seed(0)
    n = 6
    A = 0.4 * torch.randn(n, n, dtype=F64)
    b = torch.randn(2, n, dtype=F64)
    solver = _Broyden(memory=3)
    y, previous = torch.zeros(2, n, dtype=F64), None
    for k in range(10):  # the store fills and restarts at k = 4 and k = 7
        gy = y @ A.T + b
        f = gy - y
        y_next = solver.step(y, gy, f)
        if previous is not None:
            dy, df = y - previous[0], f - previous[1]
            gap = (solver._h(df) - dy).norm() / dy.norm()
            assert gap < 1e-10, f"secant condition broken at update {k} (rank {solver.rank})"
        previous, y = (y, f), y_next


# ------------------------------------------------------------------ per-sample judgement


@pytest.mark.parametrize("solver", METHODS)
def test_every_sample_is_judged_on_its_own(solver):
    c = torch.tensor([0.1, 0.95], dtype=F64)  # sample 0 contracts fast, sample 1 slowly
    result = fixed_point(
        lambda y: c * y + 1.0, torch.zeros(2, dtype=F64), solver, tol=1e-10, max_iter=2000
    )
    assert result.converged, result.reason
    assert (result.sample_residuals <= 1e-10).all()
    torch.testing.assert_close(result.y, 1 / (1 - c), rtol=1e-8, atol=0)
    assert len(result.residuals) == result.iterations
    assert result.residuals[-1] <= 1e-10 < result.residuals[-2]
    if solver in ("picard", "km"):  # monotone on this linear map
        r = result.residuals
        assert all(r[i + 1] <= r[i] * (1 + 1e-12) for i in range(len(r) - 1))


def test_solve_continues_until_the_slowest_sample_converges():
    c = torch.tensor([0.1, 0.9], dtype=F64)
    result = fixed_point(lambda y: c * y + 1.0, torch.zeros(2, dtype=F64), tol=1e-8, max_iter=500)
    assert result.converged
    assert result.sample_residuals[1] <= 1e-8
    assert result.sample_residuals[0] < 1e-12  # the fast sample kept being iterated
    assert result.iterations > 100
    alone = fixed_point(lambda y: 0.1 * y + 1.0, torch.zeros(1, dtype=F64), tol=1e-8)
    assert alone.iterations < 15


def test_anderson_singular_system_falls_back_and_says_so():
    # y -> y + 1/2: all residuals are equal, so with lam = 0 the Gram system is singular.
    result = fixed_point(lambda y: y + 0.5, torch.ones(3, dtype=F64), "anderson", lam=0.0)
    assert not result.converged
    assert "singular" in result.reason
    assert torch.isfinite(result.y).all()


# ------------------------------------------------------------- the best iterate is kept


@pytest.mark.parametrize("solver", METHODS)
def test_returned_y_has_the_reported_residual(solver):
    g, y0 = tanh_layer(F64, width=16, batch=3)
    result = fixed_point(g, y0, solver, tol=1e-9, max_iter=500)
    assert result.converged
    assert (result.sample_residuals <= 1e-9).all()
    torch.testing.assert_close(relative_residual(g, result.y), result.sample_residuals)


def test_lowest_residual_iterate_is_returned_when_the_iteration_turns_bad():
    inputs = []

    def g(y):  # contracts towards 2 for 10 calls, then pushes y away: y -> 2 y + 1
        inputs.append(y.clone())
        return 0.5 * y + 1.0 if len(inputs) <= 10 else 2.0 * y + 1.0

    result = fixed_point(g, torch.zeros(1, dtype=F64), tol=1e-12, max_iter=30)
    assert not result.converged
    best = min(range(len(inputs)), key=lambda k: result.residuals[k])
    assert best < 10
    assert result.sample_residuals.item() == min(result.residuals)
    assert torch.equal(result.y, inputs[best])
    assert abs(result.y.item() - 2.0) < 1e-2


# ------------------------------------------------------------------------ failure modes


@pytest.mark.parametrize("solver", METHODS)
def test_non_finite_value_stops_the_solve(solver):
    calls = 0

    def g(y):
        nonlocal calls
        calls += 1
        return torch.full_like(y, math.inf) if calls == 3 else 0.5 * y + 1.0

    result = fixed_point(g, torch.zeros(2, 3, dtype=F64), solver, tol=1e-12)
    assert not result.converged
    assert "non-finite" in result.reason and "iteration 3" in result.reason
    assert result.iterations == 3 == len(result.residuals)
    assert torch.isfinite(result.y).all()
    assert result.y.shape == (2, 3)
    assert (result.y != 0).all()  # better than y0 = 0: the iterate from iteration 2


def test_non_finite_at_first_evaluation_returns_y0():
    y0 = torch.ones(3, dtype=F64)
    result = fixed_point(lambda y: y / 0.0, y0)
    assert not result.converged and "iteration 1" in result.reason
    torch.testing.assert_close(result.y, y0)


@pytest.mark.parametrize("solver", METHODS)
def test_no_fixed_point_does_not_converge(solver):
    x = torch.zeros(3, dtype=F64)  # y -> y + η has no fixed point
    result = fixed_point(inverse_operator(x), torch.ones(3, dtype=F64), solver, max_iter=100)
    assert not result.converged
    assert result.reason.startswith("max_iter reached")
    assert f"{result.residuals[-1]:.2e}" in result.reason
    assert result.iterations == 100 == len(result.residuals)


def test_picard_diverges_when_eta_x_is_3():
    x = torch.tensor([6.0], dtype=F64)  # η x = 3: y -> -2 y + η, repelling fixed point 1/x
    result = fixed_point(inverse_operator(x), torch.ones(1, dtype=F64), max_iter=100)
    assert not result.converged
    x32 = x.float()  # in float32, |y| doubles until it overflows
    result = fixed_point(inverse_operator(x32), torch.ones(1), max_iter=500)
    assert not result.converged and "non-finite" in result.reason
    assert result.iterations < 500


@pytest.mark.parametrize("solver", ["picard", "km"])
def test_an_overflowing_norm_is_not_convergence(solver):
    # y -> 2y + 1 diverges under Picard and KM (Anderson and Broyden find its repelling fixed
    # point -1, correctly); in float32 ||g(y)|| overflows to inf before ||g(y) - y|| does, and
    # the relative residual ||g(y) - y|| / ||g(y)|| would read 0
    result = fixed_point(lambda y: 2 * y + 1, torch.ones(4, 8), solver, max_iter=200)
    assert not result.converged, result.reason
    if not result.reason.startswith("max_iter"):
        assert "non-finite" in result.reason
    assert torch.isfinite(result.y).all()


def test_the_overflow_is_named_in_the_reason():
    result = fixed_point(lambda y: 2 * y + 1, torch.ones(4, 8), "picard", max_iter=200)
    assert not result.converged and "overflowed" in result.reason


@pytest.mark.parametrize("solver", ["km", "anderson", "broyden"])
def test_other_methods_find_the_repelling_fixed_point(solver):
    # The fixed point 1/x exists even when η x = 3; it is only repelling for Picard.
    x = torch.tensor([6.0], dtype=F64)
    result = fixed_point(inverse_operator(x), torch.ones(1, dtype=F64), solver, tol=1e-10)
    assert result.converged, result.reason
    assert abs(result.y.item() - 1 / 6) < 1e-9


# --------------------------------------------------------------------------- bad inputs


def identity(y):
    return y


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solver": "newton"}, r"unknown solver 'newton'; valid solvers: 'picard', 'km'"),
        (
            {"solver": "anderson", "mm": 3},
            r"unknown option 'mm' for solver 'anderson'; "
            r"valid options: m, lam, beta",
        ),
        ({"solver": "picard", "alpha": 0.5}, r"unknown option 'alpha' for solver 'picard'"),
        ({"solver": "km", "alpha": 0.0}, r"alpha must be a number in \(0, 1\]"),
        ({"solver": "km", "alpha": 1.5}, r"alpha must be a number in \(0, 1\]"),
        ({"solver": "anderson", "m": 0}, r"m must be an integer >= 1"),
        ({"solver": "anderson", "lam": -1.0}, r"lam must be a finite number >= 0"),
        ({"solver": "anderson", "beta": 0.0}, r"beta must be a number in \(0, 1\]"),
        ({"solver": "broyden", "memory": 0}, r"memory must be an integer >= 1"),
        ({"tol": 0.0}, r"tol must be a finite number > 0"),
        ({"tol": -1e-6}, r"tol must be a finite number > 0"),
        ({"max_iter": 0}, r"max_iter must be an integer >= 1"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fixed_point(identity, torch.zeros(2, 3), **kwargs)


def test_the_old_argument_name_method_says_what_to_write():
    with pytest.raises(TypeError, match=r"solver is chosen with `solver=`.*solver='anderson'"):
        fixed_point(identity, torch.zeros(2, 3), method="anderson")


def test_tolerance_and_budget_are_keyword_only():
    with pytest.raises(TypeError):
        fixed_point(identity, torch.zeros(2, 3), "picard", 1e-6)


def test_g_not_callable():
    with pytest.raises(TypeError, match="g must be callable"):
        fixed_point(3.0, torch.zeros(2))


def test_y0_not_a_tensor():
    with pytest.raises(TypeError, match=r"y0 must be a torch.Tensor.*torch.as_tensor"):
        fixed_point(identity, [1.0, 2.0])


def test_y0_integer_dtype():
    with pytest.raises(TypeError, match=r"floating-point dtype.*\.double\(\) or y0\.float\(\)"):
        fixed_point(identity, torch.zeros(2, dtype=torch.int64))


def test_y0_not_finite_or_empty():
    with pytest.raises(ValueError, match="y0 contains nan or inf"):
        fixed_point(identity, torch.tensor([1.0, math.nan]))
    with pytest.raises(ValueError, match="empty batch"):
        fixed_point(identity, torch.zeros(0, 3))


def test_g_changes_the_shape():
    with pytest.raises(ValueError, match=r"g changed the shape from \(4, 3\) to \(4, 1\)"):
        fixed_point(lambda y: y.sum(dim=1, keepdim=True), torch.zeros(4, 3))


def test_g_returns_a_non_tensor():
    with pytest.raises(ValueError, match="g returned a float, not a torch.Tensor"):
        fixed_point(lambda y: 1.0, torch.zeros(4, 3))


# ------------------------------------------------------------------ dtypes, grad, repr


@pytest.mark.parametrize("solver", ["picard", "anderson"])
def test_float32(solver):
    g, y0 = tanh_layer(torch.float32)
    result = fixed_point(g, y0, solver, tol=1e-5, max_iter=300)
    assert result.converged, result.reason
    assert result.y.dtype == torch.float32
    assert result.sample_residuals.dtype == torch.float32
    assert relative_residual(g, result.y).max() <= 1e-5


def test_runs_without_building_a_graph():
    weight = torch.tensor(0.5, requires_grad=True)
    y0 = torch.zeros(3, requires_grad=True)
    result = fixed_point(lambda y: weight * y + 1.0, y0, "anderson")
    assert not result.y.requires_grad and result.y.grad_fn is None


def test_result_repr_and_summary():
    result = fixed_point(torch.cos, torch.zeros(2, dtype=F64), "anderson", tol=1e-10)
    assert isinstance(result, FixedPointResult)
    text = repr(result)
    assert text.startswith("FixedPointResult(solver='anderson', converged=True")
    assert len(text) < 200
    assert "reason: converged" in result.summary()
    assert result.solver == "anderson"


# ---------------------------------------------------------------------- property test


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 6),
    batch=st.integers(1, 4),
    contraction=st.floats(0.1, 0.9),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_contractive_affine_maps(n, batch, contraction, seed):
    g, y_star = random_affine(n, batch, contraction, seed)
    for solver in METHODS:
        y0 = torch.zeros(batch, n, dtype=F64)
        result = fixed_point(g, y0, solver, tol=1e-11, max_iter=1000)
        assert result.converged, (solver, result.reason)
        error = (result.y - y_star).norm(dim=1) / y_star.norm(dim=1)
        assert error.max() < 1e-6, solver


def test_absolute_tolerance_lets_a_zero_fixed_point_converge():
    """A fixed point at 0 has no meaningful relative residual; ``atol`` gives it a criterion."""
    y0 = torch.ones(3, 2, dtype=torch.float64)
    relative_only = fixed_point(lambda y: 0.5 * y, y0, tol=1e-8, max_iter=200)
    assert not relative_only.converged
    with_atol = fixed_point(lambda y: 0.5 * y, y0, tol=1e-8, max_iter=200, atol=1e-12)
    assert with_atol.converged and "+ 1e-12" in with_atol.reason
    assert float(with_atol.y.abs().max()) <= 2e-12
    with pytest.raises(ValueError, match="atol"):
        fixed_point(lambda y: 0.5 * y, y0, atol=-1.0)


# ----------------------------------------------- Anderson: ring buffer, mixing, conditioning


def reference_anderson(g, y0, m, lam, beta, steps):
    """Anderson type II written out plainly: full Gram matrix, closed-form weights."""
    history_y, history_g, y = [], [], y0
    for _ in range(steps):
        gy = g(y)
        history_y, history_g = (history_y + [y])[-m:], (history_g + [gy])[-m:]
        ys, gs = torch.stack(history_y, 1), torch.stack(history_g, 1)
        f = gs - ys
        gram = f @ f.transpose(1, 2)
        reg = lam * gram.diagonal(dim1=1, dim2=2).mean(dim=1)
        a = gram + reg[:, None, None] * torch.eye(len(history_y), dtype=y.dtype)
        z = torch.linalg.solve(a, torch.ones(a.shape[:2], dtype=y.dtype))
        alpha = z / z.sum(dim=1, keepdim=True)
        y = torch.einsum("bi,bin->bn", alpha, (1 - beta) * ys + beta * gs)
    return y


@pytest.mark.parametrize(("m", "beta"), [(3, 1.0), (5, 0.7), (1, 0.5)])
def test_anderson_matches_a_plain_implementation(m, beta):
    """The ring buffer and the one-row Gram update give the textbook iterates."""
    g, y0 = tanh_layer(F64, width=12, batch=3)
    for steps in (1, 2, m + 3, 12):
        inputs = []

        def recording_g(y, inputs=inputs):
            inputs.append(y.clone())
            return g(y)

        fixed_point(recording_g, y0, "anderson", tol=1e-300, max_iter=steps + 1, m=m, beta=beta)
        expected = reference_anderson(g, y0, m, 1e-4, beta, steps)
        torch.testing.assert_close(inputs[steps], expected, rtol=1e-9, atol=1e-12)


def test_anderson_with_memory_one_is_krasnoselskii_mann():
    g, y0 = tanh_layer(F64, width=8, batch=2)
    aa = fixed_point(g, y0, "anderson", tol=1e-10, max_iter=400, m=1, beta=0.6)
    km = fixed_point(g, y0, "km", tol=1e-10, max_iter=400, alpha=0.6)
    assert aa.converged and aa.iterations == km.iterations
    torch.testing.assert_close(aa.y, km.y, rtol=1e-12, atol=1e-14)


def test_anderson_numerically_singular_system_is_counted():
    """m >= n + 2 residuals in R^n are linearly dependent: without regularisation the bordered
    system is singular (in floating point: numerically singular); the solve says so."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(8, 8, dtype=F64, generator=gen)
    a = 0.9 * a / torch.linalg.matrix_norm(a, ord=2)
    b = torch.randn(4, 8, dtype=F64, generator=gen)

    def g(y):
        return y @ a.T + b + 0.01 * torch.sin(y)

    y0 = torch.zeros(4, 8, dtype=F64)
    plain = fixed_point(g, y0, "anderson", tol=1e-12, max_iter=200, m=20, lam=0.0)
    assert plain.converged  # the fallback steps keep the solve going
    assert "numerically singular" in plain.reason and "time(s)" in plain.reason
    regularised = fixed_point(g, y0, "anderson", tol=1e-12, max_iter=200, m=20)
    assert regularised.converged and "singular" not in regularised.reason


def test_anderson_regularisation_is_scale_invariant():
    """With λ' = lam · mean ||f_i||², the problem s·g(y/s) takes the same iterations."""
    g, y0 = tanh_layer(F64, width=16, batch=2)
    counts = []
    for s in (1e-6, 1.0, 1e6):
        result = fixed_point(lambda y, s=s: s * g(y / s), y0, "anderson", tol=1e-9, max_iter=300)
        assert result.converged
        counts.append(result.iterations)
    assert max(counts) - min(counts) <= 1


# ----------------------------------------------------------------------------- iterate


def test_iterate_returns_the_start_and_every_iterate():
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    trajectory = iterate(lambda y: 0.5 * y + 1.0, y0, 3)
    assert len(trajectory) == 4 and trajectory[0] is y0
    expected = [y0]
    for _ in range(3):
        expected.append(0.5 * expected[-1] + 1.0)
    for got, want in zip(trajectory, expected, strict=True):
        assert torch.equal(got, want)
    assert iterate(lambda y: y + 1, y0, 0) == [y0]


def test_iterate_keeps_autograd_unless_called_under_no_grad():
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    last = iterate(lambda y: w * y + 1.0, torch.zeros(2, dtype=torch.float64), 2)[-1]
    assert last.requires_grad  # y_2 = w + 1: d/dw = 1
    (grad,) = torch.autograd.grad(last.sum(), w)
    assert float(grad) == pytest.approx(2.0)
    with torch.no_grad():
        assert not iterate(lambda y: w * y + 1.0, torch.zeros(2), 2)[-1].requires_grad


@pytest.mark.parametrize("steps", [-1, 2.0, True, "3", None])
def test_iterate_rejects_a_bad_number_of_steps(steps):
    with pytest.raises(ValueError, match=r"steps must be an integer >= 0, got"):
        iterate(lambda y: y, torch.zeros(1), steps)


def test_iterate_rejects_an_operator_that_is_not_callable():
    with pytest.raises(TypeError, match="g must be a callable operator"):
        iterate(torch.zeros(1), torch.zeros(1), 1)
