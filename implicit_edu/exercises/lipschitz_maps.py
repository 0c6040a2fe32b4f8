"""Checks for the exercises of Part II, chapter "Lipschitz maps, contractions and fixed points"."""

from __future__ import annotations

import math

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    as_tensor,
    check_value,
    correct,
    require_callable,
    require_number,
)


def _spectral(A: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(A, ord=2))


def _composition_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs ``(A1, A2)``: random rectangular ones and one where ``A2 A1 = 0``."""
    g = torch.Generator().manual_seed(11)
    cases = []
    for d, m, n in [(3, 4, 2), (5, 5, 5), (2, 6, 3)]:
        A1 = torch.randn(m, d, generator=g, dtype=torch.float64)
        A2 = torch.randn(n, m, generator=g, dtype=torch.float64)
        cases.append((A1, A2))
    # range of A1 = span(e1) lies in the null space of A2: the composition is constant
    A1 = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    A2 = torch.tensor([[0.0, 3.0], [0.0, -1.0]], dtype=torch.float64)
    cases.append((A1, A2))
    return cases


def check_composition_constant(lip_composition) -> bool:
    """Exercise: the Lipschitz constant of ``x ↦ A2 (A1 x + c1) + c2`` is ``‖A2 A1‖₂``."""
    lip_composition = require_callable(lip_composition, "lip_composition(A1, A2)")
    for A1, A2 in _composition_cases():
        got = require_number(lip_composition(A1.clone(), A2.clone()), "lip_composition(A1, A2)")
        shapes = f"A1 of shape {tuple(A1.shape)}, A2 of shape {tuple(A2.shape)}"
        check_value(
            got,
            _spectral(A2 @ A1),
            rtol=1e-6,
            atol=1e-9,
            known_wrong={
                _spectral(A2) * _spectral(A1): f"lip_composition returned ‖A2‖₂·‖A1‖₂ = "
                f"{got:.6g} for {shapes}: that is the bound of the composition lemma, not the "
                "exact constant. The composition is itself an affine map: which matrix "
                "multiplies x?",
                float(torch.linalg.matrix_norm(A2 @ A1)): "lip_composition returned the "
                f"Frobenius norm of A2 A1 ({got:.6g}) for {shapes}: it bounds the constant but "
                "is not it; use the largest singular value (ord=2).",
            },
            otherwise=f"lip_composition(A1, A2) = {got:.6g} for {shapes} is not right: the "
            "constant of an affine map x ↦ A x + c is the spectral norm of A (mind the order "
            "of the factors: g ∘ f applies A1 first).",
        )
    return correct("the Lipschitz constant of a composition")


def iterations_needed(mu: float, delta: float, tol: float) -> int:
    """The least k ≥ 0 with ``μ^k δ / (1 − μ) ≤ tol``: Banach's a-priori bound reaches ``tol``."""
    if delta / (1 - mu) <= tol:
        return 0
    return math.ceil(math.log(tol * (1 - mu) / delta) / math.log(mu))


def _a_priori(mu: float, delta: float, k: float) -> float:
    return mu**k * delta / (1 - mu)


def check_iterations_needed(answer) -> bool:
    """Exercise: ``iterations_needed(mu, delta, tol)``, the least k of the a-priori bound."""
    answer = require_callable(answer, "iterations_needed(mu, delta, tol)")
    cases = [(0.9, 2.0, 1e-8), (0.5, 1.0, 1e-6), (0.99, 0.3, 1e-4), (0.7, 5.0, 1e-10)]
    cases += [(0.5, 1e-3, 1.0)]  # already within tolerance at the start: k = 0
    for mu, delta, tol in cases:
        call = f"iterations_needed({mu}, {delta}, {tol})"
        k = require_number(answer(mu, delta, tol), call)
        if k != int(k):
            raise WrongAnswer(f"{call} = {k}: the number of iterations must be a whole number.")
        k = int(k)
        want = iterations_needed(mu, delta, tol)
        no_factor = max(0, math.ceil(math.log(tol / delta) / math.log(mu)))
        bound = _a_priori(mu, delta, k)
        check_value(
            k,
            want,
            rtol=0,
            prefix=f"{call} = {k} ",
            known_wrong=[
                (
                    no_factor if no_factor < want else None,
                    "forgets the factor 1/(1 − μ) of the a-priori bound μ^k ‖y_1 − y_0‖ / (1 − μ): "
                    "with it, more steps are needed.",
                )
            ],
            otherwise=(
                f"is too small: after {k} steps the a-priori bound is still {bound:.3g} > tol "
                "(round up, not down)."
                if bound > tol
                else f"is not the least k: already after {k - 1} steps the bound is "
                f"{_a_priori(mu, delta, k - 1):.3g} ≤ tol."
            ),
        )
    return correct("the iterations guaranteed by the a-priori bound")


def check_local_constants(lip_inverse, lip_sqrt) -> bool:
    """Exercise: Lipschitz constants on ``[a, ∞)``: ``1/a²`` for ``1/x``, ``1/(2√a)`` for ``√x``."""
    lip_inverse = require_callable(lip_inverse, "lip_inverse(a)")
    lip_sqrt = require_callable(lip_sqrt, "lip_sqrt(a)")
    for a in (0.01, 0.25, 1.0, 3.0):
        got = require_number(lip_inverse(a), f"lip_inverse({a})")
        check_value(
            got,
            1 / a**2,
            prefix=f"lip_inverse({a}) = {got} is ",
            known_wrong={
                -1 / a**2: "negative: a Lipschitz constant is ≥ 0, the supremum of |f'|, not of "
                "f'.",
                1 / a: "not right. Your answer matches 1/a, the constant of log x; the slope of "
                "1/x is −1/x².",
            },
            otherwise="not right. Where on [a, ∞) is |(1/x)'| largest?",
        )
        got = require_number(lip_sqrt(a), f"lip_sqrt({a})")
        check_value(
            got,
            1 / (2 * math.sqrt(a)),
            prefix=f"lip_sqrt({a}) = {got} is ",
            known_wrong={1 / math.sqrt(a): "twice too large: the derivative of √x is 1/(2√x)."},
            otherwise="not right: the constant on [a, ∞) is the largest |(√x)'| there.",
        )
    return correct("the local Lipschitz constants of 1/x and √x")


WEIGHTED_NORM_MATRIX = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=torch.float64)


def check_weighted_norm(weights) -> bool:
    """Exercise: positive weights w with ``‖diag(w) A diag(w)⁻¹‖₂ < 1``.

    Here ``A = [[½, 1], [0, ½]]``: ``‖A‖₂ > 1``, but any ``w₂/w₁ > 4/3`` gives a contraction.
    """
    if weights is None or weights is ...:
        raise WrongAnswer("weights: replace the `...` with your answer.")
    w = as_tensor(weights, "weights").reshape(-1)
    if w.numel() != 2:
        raise WrongAnswer(f"weights: expected two weights (w1, w2), got {w.numel()} numbers.")
    if not bool(torch.isfinite(w).all()) or not bool((w > 0).all()):
        raise WrongAnswer(
            f"weights: both weights must be positive and finite, got {w.tolist()}: otherwise "
            "‖diag(w) y‖ is not a norm."
        )
    A = WEIGHTED_NORM_MATRIX
    factor = _spectral(torch.diag(w) @ A @ torch.diag(1 / w))
    if factor >= 1:
        equal = bool(torch.isclose(w[0], w[1]))
        hint = (
            " Equal weights give back the Euclidean norm, in which ‖A‖₂ > 1."
            if equal
            else " The weighted matrix has the entry w1/w2 in its corner: make it small."
        )
        raise WrongAnswer(
            f"with weights {w.tolist()} the contraction factor ‖diag(w) A diag(w)⁻¹‖₂ is "
            f"{factor:.4f} ≥ 1: T is not a contraction in this norm.{hint}"
        )
    # the definition itself, on random pairs: ‖T y − T z‖_w ≤ factor ‖y − z‖_w
    g = torch.Generator().manual_seed(5)
    y, z = torch.randn(200, 2, generator=g, dtype=torch.float64), torch.randn(200, 2, generator=g)
    z = z.to(torch.float64)
    lhs = ((y - z) @ A.T * w).norm(dim=1)
    rhs = ((y - z) * w).norm(dim=1)
    if not bool((lhs <= factor * rhs * (1 + 1e-12)).all()):
        raise WrongAnswer("wrong answer")
    return correct(f"a weighted norm in which T contracts (factor {factor:.3f})")
