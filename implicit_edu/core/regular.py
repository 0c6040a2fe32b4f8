"""Operators that stay regular while they train: Part III, chapter "Keeping the operator regular".

The theory of Part II needs condition 2 of a regular operator: for each input x the map
``y ↦ g(y, x)`` is a contraction with a factor ``μ(x) < 1``. A learned operator with free weights
can lose it during training. Each operator below is *parametrised* so that the condition holds for
every value of its parameters, with a factor it can compute, ``contraction_bound(x)``:

* :class:`TanhOperator`, ``g(y, x) = tanh(W y + U x + b)`` with ``W = μ V / ‖V‖₂``:
  tanh is 1-Lipschitz, so ``y ↦ g(y, x)`` is ``‖W‖₂ = μ``-Lipschitz (spectral normalisation,
  Miyato et al. 2018). ``‖V‖₂`` is exact (``torch.linalg.matrix_norm(V, 2)``, an SVD: fine for the
  small widths of this book) or estimated by power iteration with a persistent vector; the one
  tanh operator of the book, also in the DEQ chapters and the memory experiment;
* :class:`AveragedOperator`, ``g(y, x) = (1 − ε(x)) y + ε(x) h(y, x) + p(x)``, with ``h`` an
  ``L_h``-contraction in y, a step ``ε(x) ∈ (0, 1]`` (a constant, or learned by
  :class:`AdaptiveStep`) and an optional injection ``p(x)``:
  ``μ(x) = 1 − ε(x)(1 − L_h)``. Without ``p`` its fixed point is that of ``h``: the step changes
  the speed, not the fixed point. With ``h = 0`` and ``p = ε F`` it is the operator of the
  sufficiency theorem, ``(1 − ε(x)) y + ε(x) F(x)``;
* :class:`MonotoneOperator`, the monotone operator equilibrium network of Winston & Kolter (2020):
  ``W = (1 − m) I − AᵀA + B − Bᵀ``, so that ``zᵀ(I − W)z ≥ m‖z‖²``, and the forward–backward step
  ``g(z, x) = relu((1 − α) z + α (W z + U x + b))``, a contraction for ``0 < α < 2m / ‖I − W‖₂²``
  whose unique fixed point solves ``z = relu(W z + U x + b)`` for every such α.

Each is an ``nn.Module`` called as ``g(y, x)`` with ``y`` of shape ``(B, n)`` and ``x`` of shape
``(B, d)``; each has ``initial_state(x)`` (zeros), so it plugs into
:class:`~implicit_edu.core.deq.DEQ` as
``DEQ(g)``. :class:`LipschitzMLP` is a small network with a certified Lipschitz bound, used for the
injection and the step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers, is_number
from implicit_edu.core.solvers import iterate

__all__ = [
    "AdaptiveStep",
    "AveragedOperator",
    "LipschitzMLP",
    "MonotoneOperator",
    "TanhOperator",
    "bounded_matrix",
    "spectral_norm_exact",
]

NORMALISATIONS = ("exact", "power", "once")


def _check_pair(y: torch.Tensor, x: torch.Tensor, width: int, in_features: int) -> None:
    """Clear errors for the shapes g(y, x) expects: y (B, width), x (B, in_features)."""
    if y.dim() != 2 or y.shape[1] != width:
        raise ValueError(f"y must have shape (B, {width}), got {tuple(y.shape)}")
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ValueError(f"x must have shape (B, {in_features}), got {tuple(x.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"y and x must have the same batch size, got {y.shape[0]} and {x.shape[0]}"
        )


def spectral_norm_exact(matrix: torch.Tensor) -> torch.Tensor:
    """``‖M‖₂``, the largest singular value (an SVD; differentiable, exact up to rounding)."""
    return torch.linalg.matrix_norm(matrix, ord=2)


def bounded_matrix(matrix: torch.Tensor, bound: float) -> torch.Tensor:
    """``M · min(1, bound / ‖M‖₂)``: M when ``‖M‖₂ ≤ bound``, else M rescaled to norm ``bound``.

    Unlike ``bound · M / ‖M‖₂`` it lets the norm shrink below the bound during training.
    """
    norm = spectral_norm_exact(matrix)
    return matrix * torch.clamp(bound / norm.clamp_min(torch.finfo(matrix.dtype).tiny), max=1.0)


class TanhOperator(nn.Module):
    """``g(y, x) = tanh(W y + U x + b)`` with ``‖W‖₂ ≤ μ``: the book's tanh operator.

    tanh is 1-Lipschitz, so ``‖g(y, x) − g(y', x)‖ ≤ ‖W‖₂ ‖y − y'‖``: with ``‖W‖₂ ≤ μ < 1``,
    ``y ↦ g(y, x)`` is a μ-contraction for every x (condition 2 of a regular operator). One class
    serves every chapter; ``normalisation`` says how W is kept at the bound:

    * ``"exact"`` (the default): ``W = μ V / ‖V‖₂`` with the exact norm (an SVD, fine for the book's
      small widths) in every call, so the bound holds for every value of the trained parameter V
      (spectral normalisation, Miyato et al. 2018). Chapters "Differentiating through a fixed
      point", "A first implicit model" and "Keeping the operator regular".
    * ``"power"``: ``W = μ V / σ̂`` with ``σ̂ = uᵀ V v`` from a persistent pair of vectors (u, v),
      as ``torch.nn.utils.spectral_norm`` does. σ̂ never exceeds ‖V‖₂, so ``‖W‖₂ = μ ‖V‖₂ / σ̂`` can
      be *above* μ: :meth:`contraction_bound` reports the exact ``‖W‖₂``. The vectors change only
      in :meth:`power_step` (call it once per optimiser step), never inside a call: a fixed-point
      solve needs one fixed operator.
    * ``"once"``: V is scaled to ``‖V‖₂ = μ`` at construction and then ``W = V``: a call costs two
      matrix products and a tanh, no norm, so that the memory and time of an unrolled backward
      measure the iterates themselves (chapter "Differentiating", the memory of a training step).
      Training may move ``‖W‖₂`` away from μ.

    ``mu=None`` leaves W free (``W = V``, no guarantee): the unconstrained operator of the
    regularity chapter's first experiment.

    Args:
        width: size n of the state y.
        in_features: size d of the input x.
        mu: the bound on ``‖W‖₂`` (> 0; below 1 for a contraction), or None for a free W.
        normalisation: ``"exact"``, ``"power"`` or ``"once"`` (above).
        lip_x: if given, U is kept at ``‖U‖₂ ≤ lip_x`` (:func:`bounded_matrix`).
        power_iters: power-iteration steps per :meth:`power_step` (``"power"`` only).
        generator: optional ``torch.Generator`` for a reproducible initialisation. The draws are V
            (``N(0, 1/n)`` entries), U (``N(0, 1/d)``), b (``N(0, 0.01)``) in this order, and then,
            for ``"power"`` only, the power iteration's first vector u.
    """

    def __init__(
        self,
        width: int,
        in_features: int,
        *,
        mu: float | None = 0.9,
        normalisation: str = "exact",
        lip_x: float | None = None,
        power_iters: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive_integers(width=width, in_features=in_features, power_iters=power_iters)
        if mu is not None and not (is_number(mu) and mu > 0):
            raise ValueError(f"mu must be a number > 0 (or None for a free W), got {mu!r}")
        if lip_x is not None and not (is_number(lip_x) and lip_x > 0):
            raise ValueError(f"lip_x must be a number > 0 (or None), got {lip_x!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}"
            )
        if mu is None and normalisation != "exact":
            raise ValueError(
                f"normalisation={normalisation!r} needs a bound mu: mu=None leaves W free"
            )
        self.width, self.in_features = width, in_features
        self.mu = None if mu is None else float(mu)
        self.lip_x = None if lip_x is None else float(lip_x)
        self.normalisation, self.power_iters = normalisation, power_iters
        dtype = torch.get_default_dtype()
        v = torch.randn(width, width, generator=generator, dtype=dtype) / math.sqrt(width)
        if normalisation == "once":
            v = self.mu * v / spectral_norm_exact(v)
        self.V = nn.Parameter(v)
        self.U = nn.Parameter(
            torch.randn(width, in_features, generator=generator, dtype=dtype)
            / math.sqrt(in_features)
        )
        self.b = nn.Parameter(0.1 * torch.randn(width, generator=generator, dtype=dtype))
        if normalisation == "power":
            # unit vectors u, v with u ≈ the top left, v ≈ the top right singular vector of V
            u = torch.randn(width, generator=generator, dtype=dtype)
            self.register_buffer("_u", u / u.norm())
            self.register_buffer(
                "_v", self.V.detach().T @ self._u / (self.V.detach().T @ self._u).norm()
            )
            self.power_step(steps=20)

    @torch.no_grad()
    def power_step(self, steps: int | None = None) -> float:
        """Advance the power iteration ``v ← Vᵀu/‖Vᵀu‖, u ← V v/‖V v‖``; return ``σ̂ = uᵀ V v``."""
        if self.normalisation != "power":
            raise ValueError(
                f"power_step is for normalisation='power'; this operator's is "
                f"{self.normalisation!r}, which needs no power iteration"
            )
        V = self.V.detach()
        for _ in range(self.power_iters if steps is None else steps):
            v = V.T @ self._u
            self._v.copy_(v / v.norm().clamp_min(torch.finfo(v.dtype).tiny))
            u = V @ self._v
            self._u.copy_(u / u.norm().clamp_min(torch.finfo(u.dtype).tiny))
        return float(self._u @ V @ self._v)

    @property
    def W(self) -> torch.Tensor:  # noqa: N802 (the W of the equation)
        """``μ V / ‖V‖₂`` (exact), ``μ V / σ̂`` (power), or ``V`` (once, or mu None)."""
        if self.mu is None or self.normalisation == "once":
            return self.V
        if self.normalisation == "exact":
            return self.mu * self.V / spectral_norm_exact(self.V)
        return self.mu * self.V / (self._u @ self.V @ self._v)  # differentiable in V

    @property
    def U_eff(self) -> torch.Tensor:  # noqa: N802
        """The input matrix used in g, which is U, or U kept at ``‖U‖₂ ≤ lip_x``."""
        return self.U if self.lip_x is None else bounded_matrix(self.U, self.lip_x)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``tanh(W y + U x + b)`` for y of shape (B, width) and x of shape (B, in_features)."""
        _check_pair(y, x, self.width, self.in_features)
        return torch.tanh(y @ self.W.T + x @ self.U_eff.T + self.b)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """``y₀ = 0`` of shape (B, width), with x's dtype and device."""
        return torch.zeros(x.shape[0], self.width, dtype=x.dtype, device=x.device)

    @torch.no_grad()
    def contraction_bound(self, x: torch.Tensor | None = None) -> float:
        """The certified factor ``‖W‖₂`` (exact), the same for every x. May be ≥ 1 if mu is None,
        and with ``"once"`` after training."""
        return float(spectral_norm_exact(self.W))

    @torch.no_grad()
    def x_lipschitz_bound(self) -> float:
        """``‖U‖₂``: ``‖g(y, x) − g(y, x')‖ ≤ ‖U‖₂ ‖x − x'‖`` for every y."""
        return float(spectral_norm_exact(self.U_eff))

    def output_bound(self) -> float:
        """``sup ‖g(y, x)‖ ≤ √width`` (each entry of tanh lies in (−1, 1))."""
        return math.sqrt(self.width)


class LipschitzMLP(nn.Module):
    """``x ↦ A tanh(B x + c) + d`` with ``‖A‖₂ ‖B‖₂ ≤ lip``: a ``lip``-Lipschitz network.

    tanh is 1-Lipschitz, so ``Lip ≤ ‖A‖₂ ‖B‖₂``. In every call, if the product of the free
    weights' norms exceeds ``lip``, both are multiplied by ``√(lip / (‖A‖₂ ‖B‖₂))``: the bound
    holds for every parameter value, and the network may still put most of its budget in the
    first layer (sharp features) or in the second (large amplitude). :meth:`lipschitz_bound`
    returns the product of the norms actually used, at most ``lip``. ``out_scale`` multiplies
    the initial output weights A (a small value starts the network near the constant d = 0).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 16,
        lip: float = 1.0,
        out_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive_integers(in_features=in_features, out_features=out_features, width=width)
        if not (is_number(lip) and lip > 0):
            raise ValueError(f"lip must be a number > 0, got {lip!r}")
        if not (is_number(out_scale) and out_scale > 0):
            raise ValueError(f"out_scale must be a number > 0, got {out_scale!r}")
        self.in_features, self.out_features, self.lip = in_features, out_features, float(lip)
        dtype = torch.get_default_dtype()
        self.B = nn.Parameter(
            torch.randn(width, in_features, generator=generator, dtype=dtype)
            / math.sqrt(in_features)
        )
        self.c = nn.Parameter(torch.randn(width, generator=generator, dtype=dtype))
        self.A = nn.Parameter(
            out_scale
            * torch.randn(out_features, width, generator=generator, dtype=dtype)
            / math.sqrt(width)
        )
        self.d = nn.Parameter(torch.zeros(out_features, dtype=dtype))

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights ``(A, B)`` used in the forward pass, with ``‖A‖₂ ‖B‖₂ ≤ lip``."""
        product = spectral_norm_exact(self.A) * spectral_norm_exact(self.B)
        shrink = torch.clamp(self.lip / product.clamp_min(torch.finfo(product.dtype).tiny), max=1.0)
        root = torch.sqrt(shrink)
        return self.A * root, self.B * root

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape (B, in_features) to (B, out_features)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (B, {self.in_features}), got {tuple(x.shape)}")
        A, B = self.weights()
        return torch.tanh(x @ B.T + self.c) @ A.T + self.d

    @torch.no_grad()
    def lipschitz_bound(self) -> float:
        """``‖A‖₂ ‖B‖₂ ≤ lip``, a certified Lipschitz constant of the network."""
        A, B = self.weights()
        return float(spectral_norm_exact(A) * spectral_norm_exact(B))


class AdaptiveStep(nn.Module):
    """A learned step ``ε(x) = ε_min + (ε_max − ε_min) · sigmoid(a(x))`` with ``a`` a LipschitzMLP.

    Values lie in ``(ε_min, ε_max)``; sigmoid is 1/4-Lipschitz, so
    ``Lip(ε) ≤ (ε_max − ε_min) · Lip(a) / 4`` (:meth:`lipschitz_bound`). The initial bias puts
    ``ε`` at ``init`` (default: the middle of the range) for every x.
    """

    def __init__(
        self,
        in_features: int,
        eps_max: float = 1.0,
        eps_min: float = 0.0,
        width: int = 16,
        lip: float = 4.0,
        init: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not (is_number(eps_min) and is_number(eps_max) and 0 <= eps_min < eps_max <= 1):
            raise ValueError(f"need 0 <= eps_min < eps_max <= 1, got {eps_min!r}, {eps_max!r}")
        self.eps_min, self.eps_max = float(eps_min), float(eps_max)
        self.a = LipschitzMLP(in_features, 1, width=width, lip=lip, generator=generator)
        start = (eps_min + eps_max) / 2 if init is None else init
        if not eps_min < start < eps_max:
            raise ValueError(f"init must lie in ({eps_min}, {eps_max}), got {init!r}")
        fraction = (start - eps_min) / (eps_max - eps_min)
        with torch.no_grad():
            self.a.d.fill_(math.log(fraction / (1 - fraction)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``ε(x)``, shape (B,)."""
        return self.eps_min + (self.eps_max - self.eps_min) * torch.sigmoid(self.a(x)[:, 0])

    def lipschitz_bound(self) -> float:
        """``(ε_max − ε_min) · Lip(a) / 4``."""
        return (self.eps_max - self.eps_min) * self.a.lipschitz_bound() / 4


class AveragedOperator(nn.Module):
    """``g(y, x) = (1 − ε(x)) y + ε(x) h(y, x) + p(x)``: a ``μ(x) = 1 − ε(x)(1 − L_h)``-contraction.

    Proof idea: for fixed x, ``g(y) − g(y') = (1 − ε)(y − y') + ε (h(y) − h(y'))``, so
    ``‖g(y) − g(y')‖ ≤ (1 − ε + ε L_h) ‖y − y'‖`` when ``0 < ε ≤ 1`` and h is L_h-Lipschitz in y.
    At a fixed point ``ε (y* − h(y*, x)) = p(x)``, i.e. ``y* = h(y*, x) + p(x)/ε(x)``:

    * without ``p`` the fixed points of g and h coincide, whatever ε is: a constant or learned
      step slows the iteration down but represents nothing new;
    * with ``h = 0`` it is ``(1 − ε(x)) y + p(x)``, the sufficiency construction with
      ``p = ε F``: its fixed point ``p(x)/ε(x)`` is steep where ε is small, although p and ε are
      tame (Lipschitz).

    Args:
        h: an operator ``h(y, x)`` with a method ``contraction_bound()`` (e.g.
            :class:`TanhOperator`); ``None`` for ``h = 0`` (then ``L_h = 0``).
        injection: a module ``x ↦ p(x)`` of the state's shape (e.g. :class:`LipschitzMLP`), or None.
        eps: the step, a number in (0, 1] or a module ``x ↦ ε(x)`` of shape (B,) with values in
            (0, 1] (e.g. :class:`AdaptiveStep`).
        width: size of the state; needed when h is None (else h's width).
    """

    def __init__(
        self,
        h: nn.Module | None = None,
        injection: nn.Module | None = None,
        eps: float | nn.Module = 0.5,
        width: int | None = None,
    ) -> None:
        super().__init__()
        if h is None and injection is None:
            raise ValueError("give h, an injection p, or both: with neither the fixed point is 0")
        if h is not None and not hasattr(h, "contraction_bound"):
            raise TypeError(
                f"h must have a method contraction_bound(), {type(h).__name__} has none"
            )
        if isinstance(eps, nn.Module):
            self.eps = eps
        elif is_number(eps) and 0 < eps <= 1:
            self.eps = float(eps)
        else:
            raise ValueError(f"eps must be a number in (0, 1] or a module x -> ε(x), got {eps!r}")
        self.h, self.injection = h, injection
        if width is None:
            if h is None:
                raise ValueError("width (the size of the state) is needed when h is None")
            width = h.width
        check_positive_integers(width=width)
        self.width = width
        self._cache: tuple | None = None

    @property
    def adaptive(self) -> bool:
        """True when the step depends on x."""
        return isinstance(self.eps, nn.Module)

    def step_size(self, x: torch.Tensor) -> torch.Tensor:
        """``ε(x)``, shape (B,)."""
        if self.adaptive:
            return self.eps(x)
        return torch.full((x.shape[0],), self.eps, dtype=x.dtype, device=x.device)

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ε(x)[:, None], p(x))``: the parts of g that depend on x only (p = 0 if no injection).

        A fixed-point solve calls g many times with the same x and the same weights, under
        ``torch.no_grad()``. There the coefficients are computed once and reused: the cache
        keeps copies of x and of all parameters and is used only while both are *equal* to the
        copies, so no change of x or of a weight (in place, through ``.data``, by an optimiser)
        can make it stale. With autograd on they are always recomputed, so gradients are never
        lost.
        """
        if torch.is_grad_enabled():
            return self._coefficients(x)
        params = [q.detach().reshape(-1) for q in self.parameters()]
        weights = torch.cat(params) if params else x.new_zeros(0)
        if self._cache is not None:
            x_seen, weights_seen, value = self._cache
            if (
                x_seen.shape == x.shape
                and x_seen.dtype == x.dtype
                and x_seen.device == x.device
                and weights_seen.shape == weights.shape
                and torch.equal(x_seen, x)
                and torch.equal(weights_seen, weights)
            ):
                return value
        value = self._coefficients(x)
        self._cache = (x.detach().clone(), weights.clone(), value)
        return value

    def _coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.step_size(x)[:, None]
        if self.injection is None:
            return e, torch.zeros(x.shape[0], self.width, dtype=x.dtype, device=x.device)
        return e, self.injection(x)

    def evaluate(
        self, y: torch.Tensor, x: torch.Tensor, e: torch.Tensor, p: torch.Tensor
    ) -> torch.Tensor:
        """g(y, x) from precomputed coefficients (saves recomputing them in a long iteration)."""
        out = (1 - e) * y + p
        if self.h is not None:
            out = out + e * self.h(y, x)
        return out

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(1 − ε(x)) y + ε(x) h(y, x) + p(x)`` for y of shape (B, width)."""
        if y.dim() != 2 or y.shape[1] != self.width:
            raise ValueError(f"y must have shape (B, {self.width}), got {tuple(y.shape)}")
        e, p = self.coefficients(x)
        if p.shape != y.shape:
            raise ValueError(f"the injection p(x) has shape {tuple(p.shape)}, y {tuple(y.shape)}")
        return self.evaluate(y, x, e, p)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """``y₀ = 0`` of shape (B, width)."""
        return torch.zeros(x.shape[0], self.width, dtype=x.dtype, device=x.device)

    @torch.no_grad()
    def contraction_bound(self, x: torch.Tensor | None = None) -> torch.Tensor | float:
        """``μ(x) = 1 − ε(x)(1 − L_h)``: per sample (shape (B,)) for an x; without x the sup
        over all x, ``1 − ε_min (1 − L_h)`` (1 for a learned step with ε_min = 0: then only the
        pointwise bound is certified, which is all that regularity asks)."""
        lip_h = 0.0 if self.h is None else float(self.h.contraction_bound())
        if x is not None:
            return 1 - self.step_size(x) * (1 - lip_h)
        eps_low = getattr(self.eps, "eps_min", 0.0) if self.adaptive else self.eps
        return 1 - eps_low * (1 - lip_h)

    @torch.no_grad()
    def iterates(self, x: torch.Tensor, steps: int, y0: torch.Tensor | None = None) -> torch.Tensor:
        """``y_0, …, y_steps`` of Picard iteration, stacked on dim 0 (coefficients found once)."""
        e, p = self.coefficients(x)
        y0 = self.initial_state(x) if y0 is None else y0
        return torch.stack(iterate(lambda y: self.evaluate(y, x, e, p), y0, steps))


class MonotoneOperator(nn.Module):
    """A monotone operator equilibrium network (Winston & Kolter 2020), forward–backward form.

    ``W = (1 − m) I − AᵀA + B − Bᵀ``, so ``I − W = m I + AᵀA − (B − Bᵀ)`` and
    ``zᵀ (I − W) z = m‖z‖² + ‖A z‖² ≥ m ‖z‖²`` (the skew part drops out): ``I − W`` is strongly
    monotone. The equilibrium ``z* = σ(W z* + U x + b)``, with σ = relu (the projection onto
    z ≥ 0) or the identity, is found by forward–backward splitting,

        g(z, x) = σ((1 − α) z + α (W z + U x + b)) = σ(z − α ((I − W) z − U x − b)),

    a contraction with factor ``‖I − α (I − W)‖₂ ≤ √(1 − 2 α m + α² L²)``, ``L = ‖I − W‖₂``,
    smaller than 1 iff ``0 < α < 2m / L²`` (σ is 1-Lipschitz). Every α > 0 has the same fixed
    points, those of ``z = σ(W z + U x + b)``, so the equilibrium is unique.

    Args:
        width: size of the state z; in_features: size of x.
        m: the monotonicity parameter, > 0.
        alpha: the step α; ``None`` (default) uses ``α = m / L²`` in every call, which minimises
            the bound to ``√(1 − m²/L²)`` and keeps the condition whatever the weights become. A
            fixed α may leave ``(0, 2m/L²)`` during training: check :meth:`contraction_bound`.
        activation: ``"relu"`` or ``"identity"``.
        generator: optional ``torch.Generator``.
    """

    def __init__(
        self,
        width: int,
        in_features: int,
        m: float = 0.5,
        alpha: float | None = None,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive_integers(width=width, in_features=in_features)
        if not (is_number(m) and m > 0):
            raise ValueError(f"m must be a number > 0, got {m!r}")
        if alpha is not None and not (is_number(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a number > 0 or None, got {alpha!r}")
        if activation not in ("relu", "identity"):
            raise ValueError(f"activation must be 'relu' or 'identity', got {activation!r}")
        self.width, self.in_features = width, in_features
        self.m, self.fixed_alpha, self.activation = float(m), alpha, activation
        dtype = torch.get_default_dtype()
        scale = 1 / math.sqrt(width)
        self.A = nn.Parameter(scale * torch.randn(width, width, generator=generator, dtype=dtype))
        self.B = nn.Parameter(scale * torch.randn(width, width, generator=generator, dtype=dtype))
        self.U = nn.Parameter(
            torch.randn(width, in_features, generator=generator, dtype=dtype)
            / math.sqrt(in_features)
        )
        self.b = nn.Parameter(0.1 * torch.randn(width, generator=generator, dtype=dtype))

    @property
    def W(self) -> torch.Tensor:  # noqa: N802
        """``(1 − m) I − AᵀA + B − Bᵀ``."""
        eye = torch.eye(self.width, dtype=self.A.dtype, device=self.A.device)
        return (1 - self.m) * eye - self.A.T @ self.A + self.B - self.B.T

    def _sigma(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z) if self.activation == "relu" else z

    def lipschitz_I_minus_W(self) -> float:  # noqa: N802
        """``L = ‖I − W‖₂``."""
        eye = torch.eye(self.width, dtype=self.A.dtype, device=self.A.device)
        with torch.no_grad():
            return float(spectral_norm_exact(eye - self.W))

    def alpha(self) -> float:
        """The step α: the fixed one, or ``m / L²``."""
        if self.fixed_alpha is not None:
            return float(self.fixed_alpha)
        return self.m / self.lipschitz_I_minus_W() ** 2

    def alpha_limit(self) -> float:
        """``2m / L²``: forward–backward is certified to contract for ``0 < α < 2m / L²``."""
        return 2 * self.m / self.lipschitz_I_minus_W() ** 2

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One forward–backward step ``σ((1 − α) z + α (W z + U x + b))``."""
        _check_pair(z, x, self.width, self.in_features)
        a = self.alpha()
        return self._sigma((1 - a) * z + a * (z @ self.W.T + x @ self.U.T + self.b))

    def equilibrium_residual(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``‖z − σ(W z + U x + b)‖`` per sample: zero exactly at the network's equilibrium."""
        with torch.no_grad():
            return (z - self._sigma(z @ self.W.T + x @ self.U.T + self.b)).norm(dim=1)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """``z₀ = 0`` of shape (B, width)."""
        return torch.zeros(x.shape[0], self.width, dtype=x.dtype, device=x.device)

    @torch.no_grad()
    def contraction_bound(self, x: torch.Tensor | None = None) -> float:
        """The certified factor ``‖I − α (I − W)‖₂`` (exact spectral norm; the same for all x)."""
        eye = torch.eye(self.width, dtype=self.A.dtype, device=self.A.device)
        return float(spectral_norm_exact(eye - self.alpha() * (eye - self.W)))

    def forward_backward_bound(self) -> float:
        """``√(1 − 2 α m + α² L²)``, the bound of the proof (≥ :meth:`contraction_bound`)."""
        a, L = self.alpha(), self.lipschitz_I_minus_W()
        return math.sqrt(max(0.0, 1 - 2 * a * self.m + a**2 * L**2))
