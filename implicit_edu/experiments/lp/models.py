"""Graph networks on the bipartite graph of an LP: the explicit GNN and the implicit one.

The graph of an LP (Chen et al., ICLR 2023): one node per constraint with features (b_i, ∘_i)
(∘_i = 1 for "=", 0 for "≤"), one node per variable with features (c_j, l_j, u_j), and an edge
with weight A_ij wherever A_ij ≠ 0. Every LP here is m × n, so a batch of B graphs is stored
densely: A as (B, m, n), a zero entry meaning "no edge". A half-convolution updates the nodes
on one side from the other side,

    h_i ← update([own(h_i), Σ_j A_ij message(h_j)]),

with small MLPs ``message``, ``update`` and a linear ``own``, shared by all nodes: the networks are
equivariant under permutations of the variables and of the constraints.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.core.solvers import iterate
from implicit_edu.experiments.lp.data import INSTANCE_FIELDS


class LPGraph(NamedTuple):
    """B LP graphs: edges A (B, m, n), constraint features (B, m, 2), variables (B, n, 3)."""

    A: torch.Tensor
    constraints: torch.Tensor
    variables: torch.Tensor


def graph_batch(arrays: dict, dtype=torch.float32, device=None) -> LPGraph:
    """The graphs of stacked instances (arrays A, b, c, is_equality, l, u as from ``generate``).

    Raw (unscaled) features; the models scale them with the statistics they were given.
    """
    missing = [k for k in INSTANCE_FIELDS if k not in arrays]
    if missing:
        raise KeyError(f"the LP arrays lack {missing}; pass the dict returned by generate()")

    def t(*columns):
        return torch.as_tensor(np.stack(columns, axis=-1), dtype=dtype, device=device)

    A = torch.as_tensor(np.asarray(arrays["A"]), dtype=dtype, device=device)
    return LPGraph(
        A,
        t(arrays["b"], np.asarray(arrays["is_equality"], dtype=float)),
        t(arrays["c"], arrays["l"], arrays["u"]),
    )


def feature_scales(arrays: dict) -> dict[str, float]:
    """Standard deviations of b, c, l, u and of the solutions x (the scales)."""
    return {k: float(np.std(arrays[k])) or 1.0 for k in ("b", "c", "l", "u", "x")}


def mlp(*sizes: int) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


class HalfConvolution(nn.Module):
    """One side of the bipartite graph updated from the other: 6d² + 5d parameters."""

    def __init__(self, d: int):
        super().__init__()
        self.message = mlp(d, d, d)
        self.own = nn.Linear(d, d)
        self.update = mlp(2 * d, d, d)

    def forward(self, target: torch.Tensor, source: torch.Tensor, edges: torch.Tensor):
        """``edges`` (B, targets, sources) holds A_ij (or its transpose for c → v)."""
        aggregate = edges @ self.message(source)
        return self.update(torch.cat([self.own(target), aggregate], dim=-1))


class _Base(nn.Module):
    def __init__(self, d: int, scales: dict[str, float] | None):
        super().__init__()
        check_positive_integers(d=d)  # the embedding size
        self.d = d
        self.embed_constraints = mlp(2, d, d)
        self.embed_variables = mlp(3, d, d)
        self.convolutions = nn.ModuleList(HalfConvolution(d) for _ in range(4))
        scales = scales or {k: 1.0 for k in ("b", "c", "l", "u", "x")}
        self.register_buffer("input_scale", torch.tensor([scales[k] for k in "bclu"]))
        self.register_buffer("target_scale", torch.tensor(float(scales["x"])))

    def embed(self, graph: LPGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Static embeddings of the scaled constraint and variable features."""
        s = self.input_scale.to(graph.variables.dtype)
        cons = torch.cat([graph.constraints[..., :1] / s[0], graph.constraints[..., 1:]], dim=-1)
        return self.embed_constraints(cons), self.embed_variables(graph.variables / s[1:])

    def convolve(self, h_c, h_v, A):
        """The four half-convolutions v → c, c → v, v → c, c → v."""
        At = A.transpose(1, 2)
        h_c = self.convolutions[0](h_c, h_v, A)
        h_v = self.convolutions[1](h_v, h_c, At)
        h_c = self.convolutions[2](h_c, h_v, A)
        return self.convolutions[3](h_v, h_c, At)

    def predict(self, graph: LPGraph, iterations: int | None = None) -> torch.Tensor:
        """The predicted solutions in the LP's own units, shape (B, n)."""
        return self(graph, iterations) * self.target_scale


class ExplicitGNN(_Base):
    """Embeddings, four half-convolutions, a per-variable MLP read-out: 28d² + 32d + 1 weights."""

    def __init__(self, d: int, scales: dict[str, float] | None = None):
        super().__init__(d, scales)
        self.readout = mlp(d, d, d, 1)

    def forward(self, graph: LPGraph, iterations: int | None = None) -> torch.Tensor:
        """Normalised prediction (B, n); ``iterations`` is ignored (one pass)."""
        h_c, h_v = self.embed(graph)
        return self.readout(self.convolve(h_c, h_v, graph.A)).squeeze(-1)


class ImplicitGNN(_Base):
    """y_{k+1} = G(y_k, x): the four half-convolutions applied to [embedding, y_k], then linear.

    Each variable node carries one scalar y_j, fed into its embedding as ``e_j + y_j w`` (w ∈ R^d
    learned); the last half-convolution's variable states are mapped linearly to the new y. The
    prediction is the read-out MLP of [e_j, y_j] after K iterations from y_0 = 0.
    """

    def __init__(self, d: int, scales: dict[str, float] | None = None, iterations: int = 8):
        super().__init__(d, scales)
        self.lift = nn.Linear(1, d, bias=False)
        self.to_state = nn.Linear(d, 1)
        self.readout = mlp(d + 1, d, d, 1)
        self.iterations = iterations

    def step(self, y: torch.Tensor, e_c: torch.Tensor, e_v: torch.Tensor, A: torch.Tensor):
        """One application of the operator G(y, x) (x enters through the embeddings and A)."""
        h_v = e_v + self.lift(y.unsqueeze(-1))
        return self.to_state(self.convolve(e_c, h_v, A)).squeeze(-1)

    def read(self, y: torch.Tensor, e_v: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.cat([e_v, y.unsqueeze(-1)], dim=-1)).squeeze(-1)

    def forward(self, graph: LPGraph, iterations: int | None = None) -> torch.Tensor:
        """Normalised prediction (B, n) after ``iterations`` steps (default: self.iterations)."""
        steps = self.iterations if iterations is None else iterations  # 0 is a valid count
        return self.trajectory(graph, steps)[-1]

    def trajectory(self, graph: LPGraph, iterations: int) -> list[torch.Tensor]:
        """Normalised predictions after 0, 1, …, ``iterations`` steps from y_0 = 0."""
        if not (isinstance(iterations, int) and iterations >= 0):
            raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
        e_c, e_v = self.embed(graph)
        y0 = torch.zeros(e_v.shape[:-1], dtype=e_v.dtype, device=e_v.device)
        states = iterate(lambda y: self.step(y, e_c, e_v, graph.A), y0, iterations)
        return [self.read(y, e_v) for y in states]


def build(kind: str, d: int, scales: dict[str, float] | None = None) -> _Base:
    """``build("explicit" | "implicit", d, scales)``."""
    if kind == "explicit":
        return ExplicitGNN(d, scales)
    if kind == "implicit":
        return ImplicitGNN(d, scales)
    raise ValueError(f"unknown model kind {kind!r}; use 'explicit' or 'implicit'")
