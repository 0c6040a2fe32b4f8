"""Checks for the exercises of the chapter "Fixed-point solvers" (Part III)."""

from __future__ import annotations

import math

import torch

from implicit_edu.exercises._common import (
    WrongAnswer,
    as_tensor,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)

F64 = torch.float64


# --- the rate of Picard iteration on an affine map -------------------------------------------


def _rate_matrices() -> list[torch.Tensor]:
    """Test matrices: symmetric, non-normal, a scaled rotation and a random one."""
    gen = torch.Generator().manual_seed(11)
    a = torch.randn(5, 5, dtype=F64, generator=gen)
    symmetric = 0.7 * (a + a.T) / torch.linalg.eigvalsh(a + a.T).abs().max()
    non_normal = torch.tensor([[0.5, 4.0], [0.0, 0.3]], dtype=F64)
    angle = 0.9
    rotation = 0.8 * torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=F64
    )
    b = torch.randn(6, 6, dtype=F64, generator=gen)
    random = 0.9 * b / torch.linalg.eigvals(b).abs().max()
    return [symmetric, non_normal, rotation, random]


def picard_rate(A: torch.Tensor) -> float:
    """The reference: ``lim_k ‖y_k − y*‖^{1/k}`` for ``y ↦ A y + b``, the spectral radius of A."""
    return float(torch.linalg.eigvals(A).abs().max())


def check_picard_rate(rate) -> bool:
    """Exercise: the asymptotic linear rate of Picard iteration on ``y ↦ A y + b``."""
    rate = require_callable(rate, "picard_rate(A)")
    for A in _rate_matrices():
        got = require_number(rate(A.clone()), "picard_rate(A)")
        want = picard_rate(A)
        norm = float(torch.linalg.matrix_norm(A, ord=2))
        real_parts = float(torch.linalg.eigvals(A).real.abs().max())
        check_value(
            got,
            want,
            rtol=1e-6,
            known_wrong=[
                (
                    None if math.isclose(want, norm, rel_tol=1e-6) else norm,
                    f"picard_rate gave ‖A‖₂ = {got:.4f}, but for this matrix the Picard errors "
                    "shrink asymptotically by less per step: the norm is only a bound on the "
                    "rate. Which quantity does ‖A^k‖^{1/k} tend to?",
                ),
                (
                    None if math.isclose(want, real_parts, rel_tol=1e-6) else real_parts,
                    "picard_rate used the real parts of the eigenvalues: a complex eigenvalue "
                    "λ shrinks the error by |λ| per step, real part and imaginary part together.",
                ),
            ],
            otherwise=f"picard_rate(A) = {got:.6g} is not right for A = {A.tolist()}: the error "
            "after k steps is A^k e_0; how fast does ‖A^k‖ decay?",
        )
    return correct("the Picard rate of an affine map")


# --- iterations from the a-posteriori bound --------------------------------------------------


def iterations_needed(L: float, first_residual: float, eps: float) -> int:
    """The reference: the least k >= 0 with ``L^k ‖g(y_0) − y_0‖ / (1 − L) <= eps``.

    By the a-posteriori bound ``‖y_k − y*‖ <= ‖g(y_k) − y_k‖ / (1 − L)`` and the contraction of
    the residuals ``‖g(y_k) − y_k‖ <= L^k ‖g(y_0) − y_0‖``, Picard's y_k is then eps-accurate.
    """
    bound = first_residual / (1.0 - L)
    if bound <= eps:
        return 0
    return math.ceil(math.log(eps / bound) / math.log(L))


def km_rotation_factor(alpha: float, theta: float) -> float:
    """The reference: ``|1 − α + α e^{iθ}| = √(1 − 2α(1 − α)(1 − cos θ))``.

    The Krasnoselskii–Mann map of the rotation by ``θ`` about ``c`` is
    ``y ↦ c + ((1 − α) I + α R_θ)(y − c)``; in the plane ``R_θ`` acts as multiplication by
    ``e^{iθ}``, so every step multiplies the distance to ``c`` by this modulus.
    """
    return math.sqrt(max(0.0, 1 - 2 * alpha * (1 - alpha) * (1 - math.cos(theta))))


def check_km_rotation(km_factor, best_alpha) -> bool:
    """Exercise: the per-step factor of KM on a rotation, and the averaging that minimises it."""
    km_factor = require_callable(km_factor, "km_factor(alpha, theta)")
    best_alpha = require_callable(best_alpha, "best_alpha(theta)")
    cases = [(0.5, math.pi / 2), (0.2, math.pi / 2), (0.7, math.pi / 3), (0.5, math.pi), (1.0, 1.0)]
    for alpha, theta in cases:
        what = f"km_factor({alpha}, {theta:.4g})"
        got = require_number(km_factor(alpha, theta), what)
        check_value(
            got,
            km_rotation_factor(alpha, theta),
            atol=1e-12,
            prefix=what,
            known_wrong={
                abs(1 - alpha + alpha * math.cos(theta)): " is the modulus of the real part only: "
                "the rotation's eigenvalues are e^{±iθ}, so take |1 − α + α e^{iθ}| of the "
                "complex number."
            },
            otherwise=f" = {got:.6g} is not right: one step maps y − c to ((1 − α) I + α R_θ)"
            "(y − c); find the factor by which it scales every distance (α = 1, Picard, must "
            "give 1: a rotation keeps distances).",
        )
    for theta in (math.pi / 2, 2.0, 0.3):
        got = require_number(best_alpha(theta), f"best_alpha({theta:.4g})")
        if got >= 1 or got <= 0:
            raise WrongAnswer(
                f"best_alpha({theta:.4g}) = {got:.6g}: α = 1 is Picard, which never converges on "
                "a rotation, and α = 0 does not move; the best α lies strictly between."
            )
        check_value(
            got,
            0.5,
            atol=1e-6,
            otherwise=f"best_alpha({theta:.4g}) = {got:.6g} does not minimise the factor: write "
            "its square as 1 − 2α(1 − α)(1 − cos θ) and minimise over α.",
        )
    return correct("Krasnoselskii–Mann on a rotation")


# --- the Anderson weights --------------------------------------------------------------------


def anderson_weights(F: torch.Tensor, lam: float) -> torch.Tensor:
    """The reference: α minimising ``‖Fᵀα‖² + lam·s‖α‖²`` subject to ``Σα = 1``.

    ``F`` has the residuals f_i as rows, shape (m, n); ``s = mean_i ‖f_i‖²``. With
    ``A = F Fᵀ + lam·s I`` the minimiser is ``A⁻¹1 / (1ᵀA⁻¹1)``.
    """
    F = torch.as_tensor(F, dtype=F64)
    gram = F @ F.T
    scale = gram.diagonal().mean()
    z = torch.linalg.solve(
        gram + lam * scale * torch.eye(len(F), dtype=F64), torch.ones(len(F), dtype=F64)
    )
    return z / z.sum()


def check_anderson_weights(weights) -> bool:
    """Exercise: ``anderson_weights(F, lam)`` with the regularisation scaled to the residuals."""
    weights = require_callable(weights, "anderson_weights(F, lam)")
    gen = torch.Generator().manual_seed(5)
    F = torch.randn(4, 10, dtype=F64, generator=gen)
    for scale, lam in [(1.0, 0.0), (1.0, 1e-2), (1.0, 1.0), (1e-4, 1e-2)]:
        Fs = scale * F
        got = as_tensor(weights(Fs.clone(), lam), f"anderson_weights(F, lam={lam})").flatten()
        want = anderson_weights(Fs, lam)
        if got.shape != want.shape:
            raise WrongAnswer(
                "anderson_weights should return one weight per residual: shape "
                f"{tuple(want.shape)}, "
                f"got {tuple(got.shape)}."
            )
        if abs(float(got.sum()) - 1.0) > 1e-6:
            raise WrongAnswer(
                f"the weights sum to {float(got.sum()):.4g}, not 1: the constraint Σ α_i = 1 is "
                "what makes Σ α_i g(y_i) an estimate of the fixed point (a least-squares fit "
                "without it would just return α = 0)."
            )
        unscaled = None
        if lam > 0:
            unscaled = torch.linalg.solve(
                Fs @ Fs.T + lam * torch.eye(4, dtype=F64), torch.ones(4, dtype=F64)
            )
            unscaled = unscaled / unscaled.sum()
        check_close(
            got,
            want,
            what=f"anderson_weights(F, lam={lam}) for residuals of size {scale:g}",
            known_wrong=[
                (
                    unscaled,
                    f"with residuals of size {scale:g} your regularisation is not scaled: use "
                    "lam · mean_i ‖f_i‖² so that the weights do not change when the problem is "
                    "rescaled.",
                )
            ],
        )
    return correct("the Anderson weights")


def picard_until_certified(g, y0: torch.Tensor, L: float, eps: float):
    """Picard iteration stopped at the first y_k that prop-solvers-a-posteriori (part 1) certifies:
    ‖g(y_k) − y_k‖ / (1 − L) ≤ eps. Returns (y_k, k)."""
    y, k = y0, 0
    while float(torch.linalg.vector_norm(g(y) - y)) > eps * (1 - L):
        y, k = g(y), k + 1
    return y, k


def _certified_cases():
    """Affine L-contractions y ↦ A y + c whose A has a few slow directions and many fast ones."""
    g = torch.Generator().manual_seed(11)
    cases = []
    for L, n in ((0.9, 12), (0.6, 8), (0.97, 20)):
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
        eigenvalues = torch.rand(n, generator=g, dtype=torch.float64) * 0.3 * L
        eigenvalues[0] = L  # one slow direction: the Lipschitz constant is exactly L
        A = Q @ torch.diag(eigenvalues) @ Q.T
        c = torch.randn(n, generator=g, dtype=torch.float64)
        cases.append((L, A, c))
    return cases


def check_certified_stop(picard_until) -> bool:
    """Exercise: ``picard_until(g, y0, L, eps)`` stops at the first iterate that part 1 of
    prop-solvers-a-posteriori certifies to be within eps of the fixed point; returns (y_k, k)."""
    picard_until = require_callable(picard_until, "picard_until_certified(g, y0, L, eps)")
    for L, A, c in _certified_cases():

        def g(y, A=A, c=c):
            return A @ y + c

        y0 = torch.zeros_like(c)
        for eps in (1e-3, 1e-8):
            call = f"picard_until_certified(g, y0, L={L}, eps={eps:g})"
            answer = picard_until(g, y0.clone(), L, eps)
            if not (isinstance(answer, tuple | list) and len(answer) == 2):
                raise WrongAnswer(f"{call} should return the pair (y_k, k), got {answer!r}.")
            y, k = answer
            k = require_number(k, f"the k of {call}")
            want_y, want_k = picard_until_certified(g, y0, L, eps)
            first_residual = float(torch.linalg.vector_norm(g(y0) - y0))
            a_priori = iterations_needed(L, first_residual, eps)
            _, plain_k = picard_until_certified(g, y0, 0.0, eps)  # stops at ‖f‖ ≤ eps
            off_by_one = (
                "off by one: k counts the applications of g that produced y_k (y_0 has k = 0)."
            )
            check_value(
                k,
                want_k,
                rtol=0,
                prefix=f"{call} stopped at k = {k:g}, which is not right: ",
                known_wrong=[
                    (
                        plain_k,
                        "‖g(y_k) − y_k‖ ≤ eps is not enough: part 1 divides the residual by 1 − L.",
                    ),
                    (
                        a_priori,
                        "that is the a-priori count of part 3, which never looks at the "
                        "iterates; stop as soon as the residual of the current iterate "
                        "certifies eps.",
                    ),
                    (want_k - 1, off_by_one),
                    (want_k + 1, off_by_one),
                ],
                otherwise="iterate y ← g(y) until ‖g(y) − y‖ / (1 − L) ≤ eps.",
            )
            check_close(y, want_y, what=f"the y_k of {call}")
    return correct("the certified stop")
