"""Tests of implicit_edu.core.deq: implicit gradients against finite differences and unrolled
backprop, the approximate gradients (jfb, phantom), bookkeeping, errors, warnings and memory."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks
from torch.func import functional_call

from implicit_edu.core.deq import DEQ, DEQConvergenceWarning
from implicit_edu.core.regular import TanhOperator
from implicit_edu.core.solvers import FixedPointResult

F64 = torch.float64
TIGHT = {"tol": 1e-12, "max_iter": 300}  # converged to round-off for mu <= 0.9


def problem(seed: int, mu: float = 0.7, width: int = 4, n_in: int = 3, batch: int = 2):
    """A random mu-contractive TanhOperator in float64, an input x and a loss weight w."""
    gen = torch.Generator().manual_seed(seed)
    g = TanhOperator(width, n_in, mu=mu, generator=gen).double()
    x = torch.randn(batch, n_in, dtype=F64, generator=gen)
    w = torch.randn(batch, width, dtype=F64, generator=gen)
    return g, x, w


def gradients(layer: DEQ, x: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
    """[∂ℓ/∂x, ∂ℓ/∂θ_1, ...] for the loss ℓ = Σ w ⊙ layer(x)."""
    x = x.clone().requires_grad_()
    (layer(x) * w).sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    return grads


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.flatten() for t in tensors])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


# ------------------------------------------------------------------ the implicit gradient


@pytest.mark.parametrize("solver", ["anderson", "picard", "broyden"])
def test_ift_gradcheck_wrt_x(solver):
    g, x, _ = problem(seed=0)
    layer = DEQ(g, solver=solver, **TIGHT)
    assert torch.autograd.gradcheck(layer, (x.clone().requires_grad_(),))


def test_ift_gradcheck_wrt_parameters():
    """Parameters become explicit inputs through torch.func.functional_call."""
    g, x, _ = problem(seed=1, mu=0.8)
    layer = DEQ(g, **TIGHT)
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["g.V", "g.U", "g.b"]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())

    def f(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(), *params))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ift_equals_unrolled_backprop_through_converged_iteration(seed):
    g, x, w = problem(seed, mu=0.9, width=8, n_in=4, batch=3)
    ift = gradients(DEQ(g, **TIGHT), x, w)
    unrolled = gradients(DEQ(g, backward="unrolled", unrolled_steps=300, tol=1e-12), x, w)
    for a, b in zip(ift, unrolled, strict=True):
        assert float((a - b).norm() / b.norm()) < 1e-6


@pytest.mark.parametrize("mode", ["jfb", "phantom"])
@pytest.mark.parametrize("seed", range(5))
def test_approximate_gradients_point_the_right_way(mode, seed):
    g, x, w = problem(seed, mu=0.9, width=8, n_in=4, batch=3)
    exact = flat(gradients(DEQ(g, **TIGHT), x, w))
    approximate = flat(gradients(DEQ(g, backward=mode, **TIGHT), x, w))
    assert cosine(exact, approximate) > 0.5  # measured: jfb >= 0.9, phantom >= 0.99


def test_ift_also_matches_with_a_plain_function_operator():
    """A function (not a module) works: the gradient still reaches every tensor it uses."""
    g, x, w = problem(seed=3)

    def operator(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return g(y, x)

    y0 = torch.zeros(2, 4, dtype=F64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    (DEQ(operator, **TIGHT)(x1, y0) * w).sum().backward()
    (DEQ(g, **TIGHT)(x2, y0) * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=0)


# ------------------------------------------------------------------ bookkeeping


def test_results_are_inspectable_and_backward_converged():
    g, x, w = problem(seed=0)
    layer = DEQ(g, **TIGHT)
    y = layer(x)
    assert isinstance(layer.forward_result, FixedPointResult)
    assert layer.forward_result.converged
    assert layer.backward_result is None  # set when backward runs
    (y * w).sum().backward()
    result = layer.backward_result
    assert isinstance(result, FixedPointResult) and result.converged
    assert result.iterations >= 2 and result.residuals[-1] <= 1e-12
    assert result.y.shape == y.shape
    torch.testing.assert_close(y.detach(), layer.forward_result.y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", ["jfb", "phantom", "unrolled"])
def test_other_modes_have_no_backward_result(mode):
    g, x, w = problem(seed=0)
    layer = DEQ(g, backward=mode, **TIGHT)
    (layer(x) * w).sum().backward()
    assert layer.backward_result is None
    assert isinstance(layer.forward_result, FixedPointResult)
    if mode == "unrolled":
        assert layer.forward_result.iterations == 300
        assert len(layer.forward_result.residuals) == 300
        assert layer.forward_result.converged


def test_no_hooks_left_and_repeated_backward_is_identical():
    """The classic tutorial's hook recursed when left registered; here nothing is registered."""
    g, x, w = problem(seed=2)
    layer = DEQ(g, **TIGHT)
    first = gradients(layer, x, w)
    second = gradients(layer, x, w)  # a second forward and backward on the same layer
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    y = layer(x)
    assert not y._backward_hooks  # None or empty
    assert not any(m._backward_hooks or m._backward_pre_hooks for m in layer.modules())
    loss = (y * w).sum()
    (a,) = torch.autograd.grad(loss, g.V, retain_graph=True)
    (b,) = torch.autograd.grad(loss, g.V)  # the same graph, backward twice
    assert torch.equal(a, b) and torch.equal(a, first[1])


def test_double_backward_is_refused_not_silently_wrong():
    g, x, w = problem(seed=0)
    x = x.clone().requires_grad_()
    loss = (DEQ(g, **TIGHT)(x) * w).sum()
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(loss, x, create_graph=True)


@pytest.mark.parametrize("mode", ["ift", "jfb", "phantom", "unrolled"])
def test_gradients_identical_in_eval_mode(mode):
    g, x, w = problem(seed=4)
    layer = DEQ(g, backward=mode, **TIGHT)
    train = gradients(layer.train(), x, w)
    evaluated = gradients(layer.eval(), x, w)
    for a, b in zip(train, evaluated, strict=True):
        assert torch.equal(a, b)


def test_no_grad_call_builds_no_graph():
    g, x, _ = problem(seed=0)
    with torch.no_grad():
        y = DEQ(g, **TIGHT)(x.clone().requires_grad_())
    assert y.grad_fn is None and not y.requires_grad


def test_float32_and_default_initial_state():
    gen = torch.Generator().manual_seed(0)
    g = TanhOperator(16, 5, mu=0.9, generator=gen)
    x = torch.randn(7, 5, generator=gen, requires_grad=True)
    y = DEQ(g, tol=1e-5)(x)
    assert y.shape == (7, 16) and y.dtype == torch.float32
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in g.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_follows_the_inputs():
    g, x, w = problem(seed=0)
    cpu = gradients(DEQ(g, **TIGHT), x, w)
    layer = DEQ(g, **TIGHT).to("cuda")
    cuda = gradients(layer, x.cuda(), w.cuda())
    for a, b in zip(cpu, cuda, strict=True):
        assert b.device.type == "cuda"
        torch.testing.assert_close(a, b.cpu(), rtol=1e-8, atol=1e-10)


def test_tanh_operator_is_a_mu_contraction():
    g, x, _ = problem(seed=5, mu=0.6, width=6)
    assert float(torch.linalg.matrix_norm(g.W.detach(), 2)) == pytest.approx(0.6, rel=1e-12)
    y1, y2 = torch.randn(2, 2, 6, dtype=F64)
    assert (g(y1, x) - g(y2, x)).norm(dim=1).le(0.6 * (y1 - y2).norm(dim=1) + 1e-15).all()
    assert torch.equal(g.initial_state(x), torch.zeros(2, 6, dtype=F64))


# ------------------------------------------------------------------ errors and warnings


def test_unknown_backward_mode():
    g, _, _ = problem(seed=0)
    with pytest.raises(ValueError, match="'ift', 'jfb', 'phantom', 'unrolled'"):
        DEQ(g, backward="implicit")


def test_unknown_solver():
    g, _, _ = problem(seed=0)
    with pytest.raises(ValueError, match="'picard', 'km', 'anderson', 'broyden'"):
        DEQ(g, solver="newton")
    with pytest.raises(ValueError, match="backward solver.*'picard', 'km'"):
        DEQ(g, backward_solver="newton")


def test_unknown_solver_option_is_refused_not_ignored():
    g, _, _ = problem(seed=0)
    with pytest.raises(ValueError, match="'lamda'.*m, lam, beta"):
        DEQ(g, solver_options={"lamda": 1e-4})
    with pytest.raises(ValueError, match="alpha"):
        DEQ(g, solver="km", solver_options={"alpha": 2.0})
    DEQ(g, solver_options={"m": 3, "lam": 1e-3})  # valid ones are accepted
    with pytest.raises(ValueError, match="tol"):
        DEQ(g, tol=0.0)
    with pytest.raises(ValueError, match="phantom_tau"):
        DEQ(g, backward="phantom", phantom_tau=1.5)


def test_missing_y0_without_initial_state():
    def operator(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(0.5 * y + x)

    with pytest.raises(ValueError, match="pass y0.*initial_state"):
        DEQ(operator)(torch.zeros(2, 3))
    assert DEQ(operator)(torch.zeros(2, 3), torch.zeros(2, 3)).shape == (2, 3)


def test_batch_mismatch():
    g, x, _ = problem(seed=0)
    with pytest.raises(ValueError, match="batch"):
        DEQ(g)(x, torch.zeros(5, 4, dtype=F64))


def test_operator_changing_the_shape():
    with pytest.raises(ValueError, match="shape"):
        DEQ(lambda y, x: torch.cat([y, y], dim=1))(torch.zeros(2, 3), torch.zeros(2, 3))


@pytest.mark.parametrize("bad", [torch.zeros(3), 3.0, "tanh"])
def test_non_module_operator(bad):
    with pytest.raises(TypeError, match="nn.Module"):
        DEQ(bad)


@pytest.mark.parametrize("mode", ["ift", "unrolled"])
def test_nonconvergence_warns_and_can_be_silenced(mode):
    g, x, w = problem(seed=0, mu=0.9)
    with pytest.warns(DEQConvergenceWarning, match="forward solve did not converge") as record:
        y = DEQ(g, backward=mode, max_iter=1)(x)
    assert len(record) == 1  # once per call
    layer = DEQ(g, backward=mode, max_iter=1, warn_on_nonconvergence=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer(x)
        (y * w).sum().backward()
    assert not layer.forward_result.converged
    if mode == "ift":
        assert not layer.backward_result.converged


def test_backward_nonconvergence_warns():
    g, x, w = problem(seed=0, mu=0.9)
    layer = DEQ(g, tol=1e-12, max_iter=300, backward_max_iter=1)
    y = layer(x)
    with pytest.warns(DEQConvergenceWarning, match="backward solve did not converge"):
        (y * w).sum().backward()


# ------------------------------------------------------------------ memory


def saved_tensor_count(layer: DEQ, x: torch.Tensor) -> int:
    """How many tensors autograd saves for backward during one forward pass."""
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        layer(x.clone().requires_grad_())
    return count


def test_unrolled_graph_grows_with_iterations_ift_does_not():
    g, x, _ = problem(seed=0)
    counts = {}
    for mode in ("unrolled", "ift", "jfb", "phantom"):
        for iterations in (10, 50):
            layer = DEQ(
                g,
                solver="picard",
                backward=mode,
                tol=1e-300,  # never met: every solve runs all its iterations
                max_iter=iterations,
                warn_on_nonconvergence=False,
            )
            counts[mode, iterations] = saved_tensor_count(layer, x)
            assert layer.forward_result.iterations == iterations
    assert counts["unrolled", 50] >= 4 * counts["unrolled", 10]
    for mode in ("ift", "jfb", "phantom"):
        assert counts[mode, 10] == counts[mode, 50] < counts["unrolled", 10]
