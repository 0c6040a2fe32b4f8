"""Linear programs, their solution map, the paper's random instances and their graph features.

An instance is ``min c·x`` subject to ``A_i x (= or ≤) b_i`` for each row ``i`` and ``l ≤ x ≤ u``.
Its label is the optimal ``x``; where the optimum is not unique, the optimal point of smallest
Euclidean norm, so that the solution map ``x ↦ y*(x)`` is a function (chapter "Linear programs").
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.runtime.cache import cached_arrays, code_hash

#: cvxpy's LP solver (HiGHS when cvxpy has it) and the QP solver of the second, minimum-norm solve.
LP_SOLVER = "HIGHS" if "HIGHS" in cp.installed_solvers() else None
QP_SOLVER = LP_SOLVER  # HiGHS solves convex QPs with an active-set method: exact on faces
FEASIBILITY_TOL = 1e-6  # largest violation of a constraint, relative to 1 + the data's size
OPTIMALITY_TOL = 1e-6  # largest c·x − optimum (and duality gap), relative to 1 + |optimum|


def _array(value, name: str, ndim: int) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; give numbers (±inf allowed only in l and u)")
    return array


@dataclass(frozen=True)
class LPInstance:
    """``min c·x`` s.t. ``A_i x = b_i`` (is_equality[i]) or ``A_i x ≤ b_i``, and ``l ≤ x ≤ u``.

    ``A`` is m × n; ``b`` and ``is_equality`` have length m; ``c``, ``l``, ``u`` length n. Bounds
    may be ``-inf`` / ``inf`` (a free variable); everything else must be finite.
    """

    A: np.ndarray
    b: np.ndarray
    c: np.ndarray
    is_equality: np.ndarray
    l: np.ndarray  # noqa: E741 (the l of l ≤ x ≤ u)
    u: np.ndarray

    def __post_init__(self) -> None:
        A = _array(self.A, "A", 2)
        m, n = A.shape
        fields = {"A": A}
        for name, size in (("b", m), ("c", n), ("l", n), ("u", n)):
            array = _array(getattr(self, name), name, 1)
            if array.shape != (size,):
                side = "rows" if size == m else "columns"
                raise ValueError(
                    f"{name} must have length {size} (the number of {side} of A, which is "
                    f"{m} × {n}), got {array.shape[0]}"
                )
            fields[name] = array
        for name in ("A", "b", "c"):
            if not np.isfinite(fields[name]).all():
                raise ValueError(f"{name} must be finite (only the bounds l, u may be ±inf)")
        if (fields["l"] == np.inf).any() or (fields["u"] == -np.inf).any():
            raise ValueError("a lower bound of +inf or an upper bound of -inf leaves no x")
        if (fields["l"] > fields["u"]).any():
            j = int(np.argmax(fields["l"] > fields["u"]))
            raise ValueError(f"l must be ≤ u entrywise; l[{j}] = {fields['l'][j]} > u[{j}]")
        eq = np.asarray(self.is_equality)
        if eq.shape != (m,) or eq.dtype.kind not in "bi":
            raise ValueError(
                f"is_equality must be {m} booleans (one per row of A), got {eq.dtype} {eq.shape}"
            )
        fields["is_equality"] = eq.astype(bool)
        for name, value in fields.items():
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int]:
        """The numbers of constraints and variables, ``(m, n)``."""
        return self.A.shape

    def violation(self, x: np.ndarray) -> float:
        """The largest violation of a constraint at ``x`` (0 for a feasible point)."""
        r = self.A @ x - self.b
        eq = self.is_equality
        parts = [np.abs(r[eq]), np.maximum(r[~eq], 0), self.l - x, x - self.u]
        return float(max(np.max(p, initial=0.0) for p in parts))

    def scale(self) -> float:
        """1 + the size of the data, the reference for the feasibility tolerance."""
        finite = np.concatenate([self.b, self.l[np.isfinite(self.l)], self.u[np.isfinite(self.u)]])
        return 1.0 + float(np.max(np.abs(finite), initial=0.0))


#: The arrays of an instance, in the order of LPInstance's fields.
INSTANCE_FIELDS = ("A", "b", "c", "is_equality", "l", "u")

_BANNER_SHOWN = False


def _quiet_banner() -> None:
    """Create HiGHS's first solver object with stdout closed (it prints a banner)."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN or LP_SOLVER != "HIGHS":
        return
    _BANNER_SHOWN = True
    try:
        import highspy
    except ImportError:  # pragma: no cover - cvxpy without highspy
        return
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _constraints(instance: LPInstance, x: cp.Variable) -> list:
    A, b, eq = instance.A, instance.b, instance.is_equality
    constraints = []
    if eq.any():
        constraints.append(A[eq] @ x == b[eq])
    if (~eq).any():
        constraints.append(A[~eq] @ x <= b[~eq])
    low, up = np.isfinite(instance.l), np.isfinite(instance.u)
    if low.any():
        constraints.append(x[np.flatnonzero(low)] >= instance.l[low])
    if up.any():
        constraints.append(x[np.flatnonzero(up)] <= instance.u[up])
    return constraints


def _multipliers(instance: LPInstance, constraints: list) -> tuple[np.ndarray, np.ndarray] | None:
    """The row multipliers λ (λ ≥ 0 on ≤ rows) and reduced costs ``c + Aᵀλ`` of the LP solve.

    Stationarity ``c + Aᵀλ − α + β = 0`` with bound multipliers α, β ≥ 0 makes the reduced cost
    ``α − β``: positive where x sits at its lower bound, negative at its upper bound.
    """
    eq = instance.is_equality
    lam = np.zeros(len(instance.b))
    k = 0
    for rows in (eq, ~eq):
        if rows.any():
            dual = constraints[k].dual_value
            if dual is None:
                return None
            lam[rows] = np.asarray(dual, dtype=float).reshape(-1)
            k += 1
    if (lam[~eq] < -1e-9).any():
        return None
    return lam, instance.c + instance.A.T @ lam


def _duality_gap(
    instance: LPInstance, x: np.ndarray, lam: np.ndarray, reduced: np.ndarray
) -> float:
    """``c·x`` minus the dual objective ``−λ·b + α·l − β·u`` (inf if unusable multipliers)."""
    alpha, beta = np.maximum(reduced, 0), np.maximum(-reduced, 0)
    low, up = np.isfinite(instance.l), np.isfinite(instance.u)
    if (alpha[~low] > 1e-9).any() or (beta[~up] > 1e-9).any():
        return np.inf
    dual_objective = -lam @ instance.b + alpha[low] @ instance.l[low] - beta[up] @ instance.u[up]
    return float(instance.c @ x - dual_objective)


def _face(instance: LPInstance, lam: np.ndarray, reduced: np.ndarray, tol: float = 1e-9):
    """The constraints that every optimal point makes active (complementary slackness).

    Returns (rows, lower, upper): the rows of A (equalities and ≤ rows with λ_i > 0) and the
    variables held at their lower / upper bound (reduced cost > 0 / < 0). The optimal face is the
    feasible set with these constraints made equalities; it is a single point when their normals
    span Rⁿ.
    """
    rows = instance.is_equality | (lam > tol)
    return rows, reduced > tol, reduced < -tol


def solve(instance: LPInstance, min_norm: bool = True) -> np.ndarray | None:
    """The optimal solution (minimum-norm among optimal ones), or ``None`` if there is none.

    First solve: the LP with HiGHS (through cvxpy); ``None`` if it is infeasible or unbounded. The
    vertex is checked for feasibility and for a zero duality gap. Its multipliers describe the
    optimal face (``_face``); if the face is more than one point (and ``min_norm``), a second
    solve minimises ‖x‖² over it, and that point is checked for feasibility and for
    ``c·x ≤ optimum + tolerance`` before it replaces the vertex.
    """
    if not isinstance(instance, LPInstance):
        raise TypeError(f"solve expects an LPInstance, got {type(instance).__name__}")
    _quiet_banner()
    n = instance.shape[1]
    x = cp.Variable(n)
    constraints = _constraints(instance, x)
    problem = cp.Problem(cp.Minimize(instance.c @ x), constraints)
    try:
        problem.solve(solver=LP_SOLVER)
    except cp.error.SolverError:
        return None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or x.value is None:
        return None  # infeasible or unbounded
    optimum = float(problem.value)
    vertex = np.asarray(x.value, dtype=float)
    feasible_tol = FEASIBILITY_TOL * instance.scale()
    optimal_tol = OPTIMALITY_TOL * (1 + abs(optimum))
    multipliers = _multipliers(instance, constraints)
    if (
        instance.violation(vertex) > feasible_tol
        or multipliers is None
        or abs(_duality_gap(instance, vertex, *multipliers)) > optimal_tol
    ):
        raise RuntimeError(
            "the LP solver reported an optimum that fails the feasibility or duality-gap check; "
            "the instance may be badly scaled"
        )
    rows, lower, upper = _face(instance, *multipliers)
    normals = np.concatenate([instance.A[rows], np.eye(n)[lower | upper]])
    if not min_norm or np.linalg.matrix_rank(normals) == n:
        return vertex  # the optimal face is this one point
    face = [*constraints, instance.c @ x <= optimum + 1e-9 * (1 + abs(optimum))]
    if rows.any():
        face.append(instance.A[rows] @ x == instance.A[rows] @ vertex)
    for held in (lower, upper):
        if held.any():
            face.append(x[np.flatnonzero(held)] == vertex[held])
    try:
        cp.Problem(cp.Minimize(cp.sum_squares(x)), face).solve(solver=QP_SOLVER)
    except cp.error.SolverError:
        return vertex
    if x.value is None:
        return vertex
    point = np.asarray(x.value, dtype=float)
    if (
        instance.violation(point) <= feasible_tol
        and instance.c @ point <= optimum + optimal_tol
        and np.linalg.norm(point) < np.linalg.norm(vertex)
    ):
        return point
    return vertex


def random_instance(rng: np.random.Generator, m: int = 10, n: int = 50, nnz: int = 100):
    """One LP from the paper's distribution (Chen et al. 2023, used by Liu et al. 2025).

    ``nnz`` entries of A at random positions, N(0, 1); c ~ 0.01·U(−1, 1); b ~ U(−1, 1); bounds
    two N(0, 10²) draws sorted so l ≤ u; each row an equality with probability 0.3.
    """
    A = np.zeros(m * n)
    A[rng.choice(m * n, size=nnz, replace=False)] = rng.normal(size=nnz)
    c = 0.01 * rng.uniform(-1, 1, size=n)
    b = rng.uniform(-1, 1, size=m)
    bounds = np.sort(rng.normal(0, 10, size=(n, 2)), axis=1)
    eq = rng.random(m) < 0.3
    return LPInstance(A.reshape(m, n), b, c, eq, bounds[:, 0], bounds[:, 1])


def generate(num: int, seed: int, m: int = 10, n: int = 50, nnz: int = 100) -> dict:
    """``num`` solved instances, stacked: arrays A (num, m, n), b, c, is_equality, l, u, x.

    Infeasible draws are dropped; ``attempts`` says how many were drawn in all. Cached on disk,
    keyed by the arguments and the code of this module (and of those it imports).
    """
    check_positive_integers(num=num, m=m, n=n, nnz=nnz)
    if nnz > m * n:
        raise ValueError(f"nnz = {nnz} nonzeros do not fit in an {m} × {n} matrix")
    key = {"num": num, "seed": seed, "m": m, "n": n, "nnz": nnz, "solver": LP_SOLVER}
    key["code"] = code_hash(sys.modules[__name__])
    return cached_arrays("lp-data", key, lambda: _generate(num, seed, m, n, nnz))


def _generate(num: int, seed: int, m: int, n: int, nnz: int) -> dict:
    rng = np.random.default_rng(seed)
    kept, attempts = [], 0
    while len(kept) < num:
        instance = random_instance(rng, m, n, nnz)
        attempts += 1
        x = solve(instance)
        if x is not None:
            kept.append((instance, x))
    arrays = {k: np.stack([getattr(inst, k) for inst, _ in kept]) for k in INSTANCE_FIELDS}
    arrays["x"] = np.stack([x for _, x in kept])
    arrays["attempts"] = np.array(attempts)
    return arrays


def instances(arrays: dict) -> list[LPInstance]:
    """The instances of a data set from :func:`generate`, one LPInstance each."""
    return [LPInstance(*(arrays[k][i] for k in INSTANCE_FIELDS)) for i in range(len(arrays["b"]))]


def relative_error(prediction, target) -> np.ndarray:
    """The paper's error ``‖ŷ − y*‖ / (‖y*‖ + 1)``, one value per instance."""
    prediction, target = np.asarray(prediction, float), np.asarray(target, float)
    if prediction.shape != target.shape:
        raise ValueError(f"shapes differ: prediction {prediction.shape}, target {target.shape}")
    diff = np.linalg.norm(prediction - target, axis=-1)
    return diff / (np.linalg.norm(target, axis=-1) + 1)
