"""The empirical Lipschitz constants L_t of a trained GNN, for the paper's five perturbation modes.

For each instance x and mode (the nonzeros of A, or b, c, l, u), a Gaussian direction δ of norm
``eps`` (1e-4 in the paper) is drawn on that part of the input only; the ratio
‖ŷ_t(x + δ) − ŷ_t(x)‖ / ‖δ‖ is taken for the model's prediction after t iterations, and
‖y*(x + δ) − y*(x)‖ / ‖δ‖ for the true solution map (the perturbed LP re-solved). L_t is the mean
ratio over the instances. The models are evaluated in float64 so that a perturbation of 1e-4
is far above rounding.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from implicit_edu.experiments.lp.data import instances, solve
from implicit_edu.experiments.lp.models import graph_batch
from implicit_edu.runtime.profiles import get_device

MODES = ("A", "b", "c", "l", "u")


def perturb(arrays: dict, mode: str, eps: float, rng: np.random.Generator) -> dict:
    """A copy of the stacked instances with a Gaussian perturbation of norm ``eps`` on ``mode``."""
    if mode not in MODES:
        raise ValueError(f"unknown perturbation mode {mode!r}; use one of {MODES}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    out = {k: np.array(v, copy=True) for k, v in arrays.items()}
    values = out[mode]
    direction = rng.normal(size=values.shape)
    if mode == "A":
        direction *= values != 0  # only the nonzeros: the graph's edges stay the same
    norms = np.linalg.norm(direction.reshape(len(values), -1), axis=1)
    direction /= norms.reshape(-1, *[1] * (values.ndim - 1))
    out[mode] = values + eps * direction
    if mode in ("l", "u"):  # keep l ≤ u (a perturbation of 1e-4 almost never crosses)
        out["l"] = np.minimum(out["l"], out["u"])
    return out


def _ratios(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1) / eps


@torch.no_grad()
def model_ratios(model, base: dict, shifted: dict, eps: float, steps: int) -> np.ndarray:
    """Ratios per t = 0..steps−1 (rows) and instance (columns); one row for an explicit model."""
    model = copy.deepcopy(model).double()
    device = get_device()
    g0 = graph_batch(base, dtype=torch.float64, device=device)
    g1 = graph_batch(shifted, dtype=torch.float64, device=device)
    if hasattr(model, "trajectory"):
        y0, y1 = model.trajectory(g0, steps - 1), model.trajectory(g1, steps - 1)
    else:
        y0, y1 = [model(g0)], [model(g1)]
    scale = float(model.target_scale)
    return np.stack([_ratios(scale * a.cpu().numpy(), scale * b.cpu().numpy(), eps)
                     for a, b in zip(y0, y1, strict=True)])  # fmt: skip


def perturbation_sets(arrays: dict, eps: float, seed: int = 0) -> dict:
    """For each mode: the perturbed instances that stay feasible, with re-solved labels.

    Returns ``{mode: (base, shifted, true_ratios)}`` with ``base`` / ``shifted`` stacked arrays
    of the kept instances and the true solution map's ratios.
    """
    rng = np.random.default_rng(seed)
    result = {}
    for mode in MODES:
        shifted = perturb(arrays, mode, eps, rng)
        labels = [solve(inst) for inst in instances(shifted)]
        keep = np.array([x is not None for x in labels])
        shifted["x"] = np.stack([x if x is not None else np.zeros(arrays["x"].shape[1])
                                 for x in labels])  # fmt: skip
        base = {k: v[keep] for k, v in arrays.items()}
        moved = {k: v[keep] for k, v in shifted.items()}
        result[mode] = (base, moved, _ratios(moved["x"], base["x"], eps))
    return result


def lipschitz_curves(models: list, sets: dict, eps: float, steps: int) -> dict:
    """``{mode: L}`` with L (steps,) the mean ratio over instances, averaged over the models."""
    curves = {}
    for mode, (base, shifted, _) in sets.items():
        per_model = [model_ratios(m, base, shifted, eps, steps).mean(axis=1) for m in models]
        curves[mode] = np.mean(per_model, axis=0)
    return curves


def state_jacobian_norms(model, arrays: dict, steps: int, power_iterations: int = 30) -> np.ndarray:
    """``‖∂G/∂y(y_k, ξ)‖₂`` of a trained implicit GNN along its own iterates, k = 0..steps−1.

    Is the trained operator a contraction where it is used? The spectral norm of the Jacobian in
    the state (power iteration, :func:`implicit_edu.analysis.lipschitz.spectral_norm`) is the local
    contraction factor at ``y_k``; a value ≥ 1 at some iterate means the operator is not a
    contraction there, so Banach's theorem and Part II's theorems do not apply as stated.
    Returns an array of shape ``(steps, instances)``; evaluated in float64.
    """
    from implicit_edu.analysis.lipschitz import spectral_norm

    if not hasattr(model, "step"):
        raise TypeError("state_jacobian_norms needs an implicit GNN (a model with .step)")
    model = copy.deepcopy(model).double()
    graph = graph_batch(arrays, dtype=torch.float64, device=get_device())
    with torch.no_grad():
        e_c, e_v = model.embed(graph)
    y = torch.zeros(e_v.shape[:-1], dtype=torch.float64, device=e_v.device)
    norms = []
    for _ in range(steps):

        def operator(state):
            return model.step(state, e_c, e_v, graph.A)

        norms.append(spectral_norm(operator, y, iters=power_iterations).cpu().numpy())
        with torch.no_grad():
            y = operator(y)
    return np.stack(norms)
