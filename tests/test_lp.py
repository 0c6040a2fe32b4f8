"""The linear-programs case study: labels against scipy's HiGHS, the GNNs' symmetry, the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from implicit_edu.core.parameters import parameter_count
from implicit_edu.experiments import lp
from implicit_edu.runtime.cache import config_key


def _linprog(instance: lp.LPInstance):
    eq = instance.is_equality
    return linprog(
        instance.c,
        A_ub=instance.A[~eq] if (~eq).any() else None,
        b_ub=instance.b[~eq] if (~eq).any() else None,
        A_eq=instance.A[eq] if eq.any() else None,
        b_eq=instance.b[eq] if eq.any() else None,
        bounds=list(zip(instance.l, instance.u, strict=True)),
        method="highs",
    )


def _edge_lp(c) -> lp.LPInstance:
    """min c·x over the unit square cut by x1 + x2 ≤ 1.5."""
    return lp.LPInstance(
        np.array([[1.0, 1.0]]), np.array([1.5]), np.asarray(c, float), np.array([False]),
        np.zeros(2), np.ones(2),
    )  # fmt: skip


def test_solve_agrees_with_linprog_and_is_feasible():
    rng = np.random.default_rng(3)
    solved = 0
    for _ in range(30):
        instance = lp.random_instance(rng)
        x = lp.solve(instance)
        reference = _linprog(instance)
        assert (x is None) == (reference.status != 0)
        if x is None:
            continue
        solved += 1
        assert instance.violation(x) <= 1e-6 * instance.scale()
        assert instance.c @ x == pytest.approx(reference.fun, abs=1e-7 * (1 + abs(reference.fun)))
        assert np.linalg.norm(x) <= np.linalg.norm(reference.x) + 1e-7
    assert solved >= 5


def test_minimum_norm_on_a_non_unique_optimum():
    # at c = (−1, −1) the whole edge x1 + x2 = 1.5 is optimal; the shortest point is its middle
    x = lp.solve(_edge_lp([-1.0, -1.0]))
    np.testing.assert_allclose(x, [0.75, 0.75], atol=1e-7)
    vertex = _linprog(_edge_lp([-1.0, -1.0])).x
    assert np.linalg.norm(x) <= np.linalg.norm(vertex) + 1e-9
    # tilting c picks one end of the edge: the solution map jumps at c = (−1, −1)
    np.testing.assert_allclose(lp.solve(_edge_lp([-1.01, -1.0])), [1.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(lp.solve(_edge_lp([-1.0, -1.01])), [0.5, 1.0], atol=1e-7)
    # a face along a bound: x1 = 1, x2 anywhere in [0, 0.5]: the shortest has x2 = 0
    np.testing.assert_allclose(lp.solve(_edge_lp([-1.0, 0.0])), [1.0, 0.0], atol=1e-7)


def test_infeasible_and_unbounded_give_none():
    infeasible = lp.LPInstance(
        np.array([[1.0, 1.0]]), np.array([-1.0]), np.ones(2), np.array([False]),
        np.zeros(2), np.ones(2),
    )  # fmt: skip
    unbounded = lp.LPInstance(
        np.array([[1.0, 1.0]]), np.array([1.0]), np.ones(2), np.array([False]),
        np.full(2, -np.inf), np.ones(2),
    )  # fmt: skip
    assert lp.solve(infeasible) is None
    assert lp.solve(unbounded) is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"b": np.zeros(3)}, "b must have length 2"),
        ({"c": np.zeros((2, 1))}, "c must be a 1-d array"),
        ({"l": np.array([0.0, 2.0])}, "l must be ≤ u"),
        ({"A": np.array([[np.nan, 1.0], [0.0, 1.0]])}, "NaN"),
        ({"A": np.array([[np.inf, 1.0], [0.0, 1.0]])}, "A must be finite"),
        ({"is_equality": np.array([0.5, 1.0])}, "is_equality must be 2 booleans"),
    ],
)
def test_bad_instances_are_rejected(change, match):
    fields = {
        "A": np.eye(2), "b": np.ones(2), "c": np.ones(2), "is_equality": np.array([True, False]),
        "l": np.zeros(2), "u": np.ones(2),
    }  # fmt: skip
    fields.update(change)
    with pytest.raises(ValueError, match=match):
        lp.LPInstance(**fields)


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match="LPInstance"):
        lp.solve(np.eye(2))
    with pytest.raises(ValueError, match="num must be an integer >= 1"):
        lp.generate(0, seed=0)
    with pytest.raises(ValueError, match="do not fit"):
        lp.generate(1, seed=0, m=2, n=2, nnz=5)
    with pytest.raises(ValueError, match="unknown model kind"):
        lp.build("recurrent", 4)
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        lp.build("explicit", 0)
    with pytest.raises(ValueError, match="unknown perturbation mode"):
        lp.perturb({}, "x", 1e-4, np.random.default_rng(0))


def test_relative_error():
    target = np.array([[3.0, 4.0], [0.0, 0.0]])
    prediction = np.array([[3.0, 4.0 + 6.0], [1.0, 0.0]])
    np.testing.assert_allclose(lp.relative_error(prediction, target), [1.0, 1.0])
    np.testing.assert_allclose(lp.relative_error(np.zeros((1, 2)), [[3.0, 4.0]]), [5 / 6])
    with pytest.raises(ValueError, match="shapes differ"):
        lp.relative_error(np.zeros(3), np.zeros(2))


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    import os

    old = os.environ.get("IMPLICIT_EDU_CACHE")
    os.environ["IMPLICIT_EDU_CACHE"] = "off"
    try:
        return lp.generate(6, seed=1)
    finally:
        if old is None:
            del os.environ["IMPLICIT_EDU_CACHE"]
        else:
            os.environ["IMPLICIT_EDU_CACHE"] = old


@pytest.mark.parametrize("kind", lp.KINDS)
def test_gnns_are_permutation_equivariant(kind, small_data):
    torch.manual_seed(0)
    model = lp.build(kind, 8, lp.feature_scales(small_data)).double()
    rng = np.random.default_rng(0)
    rows, cols = rng.permutation(10), rng.permutation(50)
    permuted = dict(small_data)
    permuted["A"] = small_data["A"][:, rows][:, :, cols]
    for k in ("b", "is_equality"):
        permuted[k] = small_data[k][:, rows]
    for k in ("c", "l", "u", "x"):
        permuted[k] = small_data[k][:, cols]
    with torch.no_grad():
        y = model.predict(lp.graph_batch(small_data, dtype=torch.float64))
        y_permuted = model.predict(lp.graph_batch(permuted, dtype=torch.float64))
    torch.testing.assert_close(y_permuted, y[:, cols])
    # and the labels permute the same way (the minimum-norm solution is unique)
    instance = lp.instances(permuted)[0]
    np.testing.assert_allclose(lp.solve(instance), small_data["x"][0][cols], atol=1e-7)


def test_implicit_gnn_iteration_count_zero_is_honoured(small_data):
    torch.manual_seed(0)
    model = lp.build("implicit", 8, lp.feature_scales(small_data)).double()
    graph = lp.graph_batch(small_data, dtype=torch.float64)
    with torch.no_grad():
        path = model.trajectory(graph, 3)
        torch.testing.assert_close(model(graph, 0), path[0])  # y_0 = 0 read out, not 8 steps
        torch.testing.assert_close(model(graph, 3), path[3])
        torch.testing.assert_close(model(graph), model.trajectory(graph, model.iterations)[-1])


def test_parameter_counts():
    for d in (4, 8, 16, 32):
        assert parameter_count(lp.build("explicit", d)) == 28 * d * d + 32 * d + 1
        assert parameter_count(lp.build("implicit", d)) == 28 * d * d + 35 * d + 2


def test_generated_data_and_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    first = lp.generate(5, seed=7, m=4, n=8, nnz=12)
    files = list(tmp_path.glob("lp-data-*.npz"))
    assert len(files) == 1
    second = lp.generate(5, seed=7, m=4, n=8, nnz=12)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert first["A"].shape == (5, 4, 8) and int(first["attempts"]) >= 5
    assert ((first["A"] != 0).sum(axis=(1, 2)) == 12).all()
    assert (first["l"] <= first["u"]).all() and (np.abs(first["c"]) <= 0.01).all()
    for instance, x in zip(lp.instances(first), first["x"], strict=True):
        assert instance.violation(x) <= 1e-6 * instance.scale()
    assert config_key("a", lp.config("smoke")) != config_key("a", lp.config("cpu"))


def test_perturbation_has_the_requested_norm(small_data):
    rng = np.random.default_rng(0)
    for mode in lp.MODES:
        moved = lp.perturb(small_data, mode, 1e-4, rng)
        delta = (moved[mode] - small_data[mode]).reshape(len(small_data["b"]), -1)
        np.testing.assert_allclose(np.linalg.norm(delta, axis=1), 1e-4, rtol=1e-6)
    moved = lp.perturb(small_data, "A", 1e-4, rng)
    assert ((moved["A"] != 0) == (small_data["A"] != 0)).all()


def test_training_pipeline_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = dataclasses.replace(
        lp.config("smoke"), num_train=12, num_test=6, num_val=5, embeddings=(4,), epochs_explicit=5,
        epochs_implicit=5, workers=1, lipschitz_instances=3,
    )  # fmt: skip
    train, val, test = lp.dataset(cfg)
    models = lp.train_all(cfg, train, val, progress=False)
    assert set(models) == {("explicit", 4, 0), ("implicit", 4, 0)}
    table = lp.summary(cfg, models, train, val, test)
    assert all(np.isfinite(row["test"]).all() for row in table.values())
    again = lp.train_all(cfg, train, val, progress=False)  # from the cache
    torch.testing.assert_close(
        again[("implicit", 4, 0)]["model"], models[("implicit", 4, 0)]["model"]
    )
    model = lp.load("implicit", 4, models[("implicit", 4, 0)]["model"], cfg)
    assert lp.errors_by_iterations(model, test, 4).shape == (5, 6)
    sets = lp.perturbation_sets({k: v[:3] for k, v in test.items()}, 1e-4)
    curves = lp.lipschitz_curves([model], sets, 1e-4, 4)
    assert set(curves) == set(lp.MODES) and all(c.shape == (4,) for c in curves.values())


def test_the_splits_are_disjoint_and_adding_validation_keeps_train_and_test(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = dataclasses.replace(lp.config("smoke"), num_train=8, num_test=4, num_val=3)
    train, val, test = lp.dataset(cfg)
    assert [len(s["b"]) for s in (train, val, test)] == [8, 3, 4]
    rows = {s["A"][i].tobytes() for s in (train, val, test) for i in range(len(s["b"]))}
    assert len(rows) == 15  # no instance in two splits
    before_train, _, before_test = lp.dataset(dataclasses.replace(cfg, num_val=1))
    np.testing.assert_array_equal(before_train["A"], train["A"])
    np.testing.assert_array_equal(before_test["A"], test["A"])


def test_training_keeps_the_weights_of_the_best_validation_error(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = dataclasses.replace(
        lp.config("smoke"), num_train=12, num_test=4, num_val=6, epochs_implicit=9, validate_every=4
    )
    train, val, _ = lp.dataset(cfg)
    result = lp.train_one(cfg, "implicit", 4, 0, train, val)
    assert result["val_epochs"] == [4, 8, 9]  # every validate_every epochs, and the last
    best = int(np.argmin(result["val_error"]))
    assert result["best_epoch"] == result["val_epochs"][best]
    model = lp.load("implicit", 4, result["model"], cfg)
    kept = float(lp.errors(model, val, cfg.eval_iterations).mean())
    assert kept == pytest.approx(result["val_error"][best], rel=1e-5)
