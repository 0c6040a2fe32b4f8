"""Measuring Lipschitz constants: Part II, chapter "Expressive power grows with test-time compute".

A map ``f`` is L-Lipschitz if ``‖f(x₁) − f(x₂)‖ ≤ L ‖x₁ − x₂‖``. Three estimators:

* :func:`empirical_lipschitz`, the paper's estimator: perturb each input along given unit
  directions ``d`` by ``ε`` and keep the largest ratio ``‖f(x + ε d) − f(x)‖ / ε``;
* :func:`lipschitz_trace`, the same ratio for the t-step maps ``y_t(·)`` of an implicit operator,
  ``y_t = G(y_{t−1}, x)``, for t = 1, …, steps: the curve ``L_t`` that grows with test-time compute;
* :func:`spectral_norm`, the local constant ``‖J_f(x)‖₂`` (largest singular value of the Jacobian)
  by power iteration on ``JᵀJ``.

The ratios are lower bounds of the Lipschitz constant: they only see the directions (and the
points) they are given. Inputs are batched: ``x`` has shape ``(B, d)``, ``(B, …)``, or ``(B,)`` for
B scalar inputs; every map is assumed to act sample by sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Map = Callable[[torch.Tensor], torch.Tensor]
Operator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _flat(t: torch.Tensor) -> torch.Tensor:
    """A batch ``(B, …)`` or ``(B,)`` as ``(B, m)``: one row per sample."""
    return t.reshape(t.shape[0], -1)


def _unit_directions(directions: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Check the directions against ``x`` and scale each one to unit norm."""
    directions = torch.as_tensor(directions).to(dtype=x.dtype, device=x.device)
    if x.dim() == 0:
        raise ValueError("x must be batched: shape (B, ...) or (B,) for B scalar inputs")
    if directions.dim() == 0 or directions.shape[1:] != x.shape[1:]:
        expected = "(K" + "".join(f", {size}" for size in x.shape[1:]) + ")"
        raise ValueError(
            f"directions must have shape {expected} (K directions shaped like one sample of x, "
            f"x has shape {tuple(x.shape)}), got {tuple(directions.shape)}"
        )
    if directions.shape[0] == 0:
        raise ValueError("directions is empty: give at least one perturbation direction")
    norms = torch.linalg.vector_norm(_flat(directions), dim=1)
    if bool((norms == 0).any()):
        raise ValueError("a direction is zero: every perturbation direction needs a nonzero norm")
    return directions / norms.reshape(-1, *[1] * (directions.dim() - 1))


def _check_eps(eps: float) -> None:
    if not 0 < float(eps) < float("inf"):
        raise ValueError(f"the perturbation size eps must be a finite number > 0, got {eps}")


def _perturbed_batch(x: torch.Tensor, units: torch.Tensor, eps: float) -> torch.Tensor:
    """``[x; x + ε d₁; …; x + ε d_K]`` stacked on the batch dimension: shape ``((K+1)B, …)``."""
    shifted = x[None] + eps * units[:, None]  # (K, B, …)
    return torch.cat([x, shifted.reshape(-1, *x.shape[1:])])


def _max_ratio(outputs: torch.Tensor, batch: int, eps: float) -> torch.Tensor:
    """Per sample ``max_k ‖f(x + ε d_k) − f(x)‖ / ε``, from f on :func:`_perturbed_batch`."""
    outputs = outputs.reshape(-1, batch, outputs[0].numel())
    base, shifted = outputs[0], outputs[1:]  # (B, m), (K, B, m)
    return (torch.linalg.vector_norm(shifted - base, dim=2) / eps).amax(dim=0)


def empirical_lipschitz(
    f: Map, x: torch.Tensor, directions: torch.Tensor, eps: float
) -> torch.Tensor:
    """The paper's estimator ``L(x) = max_k ‖f(x + ε d_k) − f(x)‖ / ‖ε d_k‖``, one value per sample.

    Args:
        f: a map acting sample by sample on batches.
        x: inputs, shape ``(B, …)``; ``(B,)`` for B scalar inputs.
        directions: K perturbation directions, shape ``(K, *x.shape[1:])`` (``(K,)`` for scalar
            inputs). Each is scaled to unit norm, so ``‖ε d_k‖ = ε``.
        eps: the perturbation size ``ε > 0``.

    Returns:
        Shape ``(B,)``: for each sample the largest ratio over the K directions. f is evaluated
        once, on the batch ``[x; x + ε d₁; …; x + ε d_K]``.
    """
    _check_eps(eps)
    units = _unit_directions(directions, x)
    with torch.no_grad():
        return _max_ratio(f(_perturbed_batch(x, units, eps)), x.shape[0], eps)


def lipschitz_trace(
    G: Operator,
    x: torch.Tensor,
    directions: torch.Tensor,
    eps: float,
    steps: int,
    y0: torch.Tensor | None = None,
    reduce: Literal["max", "mean", "none"] = "max",
) -> list[float] | torch.Tensor:
    """``L_t`` for t = 1, …, steps: the empirical Lipschitz constant of the t-step map ``y_t(·)``.

    ``y_t(x) = G(y_{t−1}(x), x)`` from the same start ``y_0`` for every input, and ``L_t`` is the
    ratio of :func:`empirical_lipschitz` applied to ``y_t``. All trajectories, the unperturbed one
    and one per direction, run together in one batch of size ``(K + 1)·B``.

    Args:
        G: the implicit operator ``G(y, x)``, acting sample by sample.
        x: inputs, shape ``(B, …)`` or ``(B,)``.
        directions, eps: as in :func:`empirical_lipschitz`.
        steps: the number of iterations, ≥ 1.
        y0: the start state, shape ``(B, …)``. Defaults to ``zeros_like(x)``, which only fits an
            operator whose state has the shape of its input: pass ``y0`` otherwise.
        reduce: how to summarise the per-sample values at each t.

    Returns:
        ``reduce="max"``: a list of ``steps`` floats ``[L_1, …, L_steps]``, the largest ratio
        over samples and directions; ``reduce="mean"``: a list of ``steps`` floats, the mean over
        samples of each sample's largest ratio; ``reduce="none"``: a tensor of shape
        ``(steps, B)``, the largest ratio of each sample at each t.
    """
    _check_eps(eps)
    if reduce not in ("max", "mean", "none"):
        raise ValueError(f"reduce must be 'max', 'mean' or 'none', got {reduce!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer ≥ 1, got {steps!r}")
    units = _unit_directions(directions, x)
    batch, copies = x.shape[0], units.shape[0] + 1
    y0 = torch.zeros_like(x) if y0 is None else y0
    if y0.shape[0] != batch:
        raise ValueError(f"y0 must have the batch size {batch} of x, got shape {tuple(y0.shape)}")

    with torch.no_grad():
        xs = _perturbed_batch(x, units, eps)
        y = y0.repeat(copies, *[1] * (y0.dim() - 1))  # the same y_0 for every copy of x
        shape = y.shape
        try:
            y = G(y, xs)  # y_1; this first call also checks that y0 fits G
        except Exception as error:
            raise ValueError(
                f"G failed on the start state y0 of shape {tuple(y0.shape)} with x of shape "
                f"{tuple(x.shape)} ({type(error).__name__}: {error}). y0 defaults to "
                f"zeros_like(x): pass y0 when the state's shape differs from the input's"
            ) from error
        if not isinstance(y, torch.Tensor) or y.shape != shape:
            raise ValueError("G(y, x) must return a tensor of y's shape")
        per_sample = [_max_ratio(y, batch, eps)]
        for _ in range(steps - 1):  # y_2, …, y_steps
            y = G(y, xs)
            per_sample.append(_max_ratio(y, batch, eps))
    values = torch.stack(per_sample)  # (steps, B)
    if reduce == "none":
        return values
    reduced = values.amax(dim=1) if reduce == "max" else values.mean(dim=1)
    return reduced.tolist()


def spectral_norm(f: Map, x: torch.Tensor, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """``‖J_f(x)‖₂`` per sample, by power iteration on ``JᵀJ`` with Jacobian-vector products.

    ``v ← JᵀJ v / ‖JᵀJ v‖`` converges to the top right-singular vector of ``J``, and then
    ``σ_max = ‖J v‖``. The Jacobian is never formed: ``u ↦ Jᵀu`` is ``torch.func.vjp`` of f, and
    ``v ↦ J v`` is the vjp of that linear map (the "double vjp" trick: the transpose of ``Jᵀ`` is
    ``J``), which needs only backward passes. f must act sample by sample, so the Jacobian of the
    batch is block diagonal and each sample's vector is normalised on its own. The start vector is
    drawn from a generator seeded with ``seed``: results are reproducible. The estimate approaches
    ``σ_max`` from below, at the rate ``(σ₂/σ₁)^(2·iters)``.

    Returns:
        Shape ``(B,)``: the largest singular value of the Jacobian at each sample.
    """
    if not (isinstance(iters, int) and iters >= 1):
        raise ValueError(f"iters must be an integer ≥ 1, got {iters!r}")
    x = x.detach()
    output, jt = torch.func.vjp(f, x)  # jt(u) = (Jᵀu,)
    _, j = torch.func.vjp(jt, torch.zeros_like(output))  # j((v,)) = (J v,)

    def normalise(u: torch.Tensor) -> torch.Tensor:
        norms = torch.linalg.vector_norm(_flat(u), dim=1).clamp_min(torch.finfo(u.dtype).tiny)
        return u / norms.reshape(-1, *[1] * (u.dim() - 1))

    generator = torch.Generator().manual_seed(seed)
    v = normalise(torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device))
    for _ in range(iters):
        (jv,) = j((v,))
        (jtjv,) = jt(jv)
        v = normalise(jtjv)
    (jv,) = j((v,))
    return torch.linalg.vector_norm(_flat(jv), dim=1).detach()
