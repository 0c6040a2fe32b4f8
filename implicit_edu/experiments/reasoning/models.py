"""Looped models and their explicit baselines (chapter "Looped models and reasoning").

Every looped model here has the same three parts as Huginn (Geiping et al., 2025) and the
deep-thinking networks (Schwarzschild et al., 2021; Bansal et al., 2022):

    e = P(x),    s_0 = start(x),    s_t = R(s_{t−1}, e)  (t = 1, …, r),    ŷ_r = C(s_r),    (1)

an input map P, a *core* R that sees the input again at every iteration ("recall", Huginn's
adapter on [s, e]), and an output map C. The core is a module of its own, ``core``, so that
``model(x, r)`` is visibly r applications of it; the r-step map x ↦ ŷ_r is the t-step map of the
implicit model whose fixed point is s* = R(s*, e).

* :class:`RecurrentConvNet`: the DT-net-recall-1D of Bansal et al. for prefix sums. P is a
  3-wide convolution (1 → w channels) with ReLU and s_0 = P(x); R is a 3-wide convolution of the
  concatenation [s, x] (w + 1 → w channels), ReLU, and two residual blocks (two 3-wide
  convolutions each); C is three 3-wide convolutions (w → w → w/2 → 2) that give each bit's logits.
  Every convolution has kernel 3, so one iteration widens the receptive field by 5 positions on
  each side: strings longer than the training strings need more iterations.
* :class:`FeedForwardConvNet`: the same architecture without weight tying: ``depth`` different
  cores, one after the other. With as many parameters as the looped net it must be narrower
  (:func:`matched_width`).
* :class:`LoopedTransformer`: a small transformer in Huginn's shape for the variable-chain task of
  :func:`implicit_edu.experiments.reasoning.data.chain_data`. Each statement ``v = w`` is one
  position (the embeddings of v and w concatenated, then a linear map; no positional embedding: the
  statements are a set). P is the embedding and a prelude of transformer blocks; s_0 is Gaussian
  noise of standard deviation ``init_std`` (Huginn's random start); R is the adapter
  Linear([s, e]) followed by core blocks and a LayerNorm; C is a coda of blocks, a LayerNorm and a
  linear map to the ten digits.
* :class:`ExplicitTransformer`: the same model unrolled ``depth`` times with different weights in
  every core, and (:func:`matched_transformer_width`) the width that gives it the parameter count
  of the looped one.

**One hop per iteration.** Two choices make the loop necessary. (i) The prelude and the coda are
*local*: their attention lets each statement see only itself, so they transform every statement on
its own and all exchange between statements happens in the core. (ii) In the core, queries and keys
are computed from the embedded input e and only the values from the state (*input-driven
attention*): the attention pattern is the same at every iteration, fixed by the statements
(statement ``v = w`` can learn to look at the statement that defines w), and what flows along it
is the state. One iteration can then move a resolved value one hop along a chain and no further,
so a chain of h hops needs at least h iterations, and a chain longer than any seen in training
needs more iterations than any used in training. With ``local_ends=False`` and
``input_attention=False`` the blocks are ordinary self-attention blocks, which can learn shortcuts
such as pointer doubling: in our prototypes, with attention in the prelude a first prototype
solved 24-hop chains in 8 iterations.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from implicit_edu.core.parameters import parameter_count
from implicit_edu.core.solvers import iterate

__all__ = [
    "ResidualBlock1D",
    "RecallCore",
    "RecurrentConvNet",
    "FeedForwardConvNet",
    "matched_width",
    "Block",
    "TransformerCore",
    "LoopedTransformer",
    "ExplicitTransformer",
    "matched_transformer_width",
]


def _conv(channels_in: int, channels_out: int) -> nn.Conv1d:
    return nn.Conv1d(channels_in, channels_out, kernel_size=3, padding=1, bias=False)


def _check_iterations(r: int) -> None:
    if not (isinstance(r, int) and r >= 0):
        raise ValueError(f"the number of iterations must be an integer ≥ 0, got {r!r}")


# ------------------------------------------------------------------------ convolutional nets


class ResidualBlock1D(nn.Module):
    """relu(z + conv(relu(conv(z)))): the basic residual block of the deep-thinking nets."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1, self.conv2 = _conv(width, width), _conv(width, width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.relu(z + self.conv2(F.relu(self.conv1(z))))


class RecallCore(nn.Module):
    """The core R(s, x) of (1): conv([s, x]) → ReLU → ``blocks`` residual blocks."""

    def __init__(self, width: int, blocks: int = 2):
        super().__init__()
        self.recall = _conv(width + 1, width)
        self.blocks = nn.Sequential(*(ResidualBlock1D(width) for _ in range(blocks)))

    def forward(self, state: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
        """One iteration: ``state`` (B, w, L), ``signal`` the input bits as (B, 1, L)."""
        return self.blocks(F.relu(self.recall(torch.cat([state, signal], dim=1))))


class _ConvNet(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        if width < 2:
            raise ValueError(f"width must be ≥ 2, got {width}")
        self.width = width
        self.projection = nn.Sequential(_conv(1, width), nn.ReLU())
        half = max(width // 2, 1)
        self.head = nn.Sequential(
            _conv(width, width), nn.ReLU(), _conv(width, half), nn.ReLU(), _conv(half, 2)
        )

    def signal(self, x: torch.Tensor) -> torch.Tensor:
        """Integer bits (B, L) as the float signal (B, 1, L) that P and every core read."""
        if x.dim() != 2:
            raise ValueError(f"bits must have shape (batch, length), got {tuple(x.shape)}")
        weight = self.projection[0].weight
        return x.to(device=weight.device, dtype=weight.dtype).unsqueeze(1)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """s_0 = P(x): shape (B, w, L)."""
        return self.projection(self.signal(x))

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        """The logits of every bit, shape (B, 2, L), from a state (B, w, L)."""
        return self.head(state)


class RecurrentConvNet(_ConvNet):
    """DT-net-recall-1D: P, the weight-tied core ``core`` iterated r times, C (see (1))."""

    def __init__(self, width: int = 64, blocks: int = 2):
        super().__init__(width)
        self.core = RecallCore(width, blocks)

    def states(self, x: torch.Tensor, r: int, state: torch.Tensor | None = None):
        """[s_1, …, s_r] from s_0 = P(x) (or from ``state``, to continue an iteration)."""
        _check_iterations(r)
        signal = self.signal(x)
        state = self.projection(signal) if state is None else state
        return iterate(lambda s: self.core(s, signal), state, r)[1:]

    def iterates(self, x: torch.Tensor, r: int) -> list[torch.Tensor]:
        """The logits ŷ_1, …, ŷ_r after each iteration, each of shape (B, 2, L)."""
        return [self.readout(s) for s in self.states(x, r)]

    def forward(self, x: torch.Tensor, r: int, state: torch.Tensor | None = None) -> torch.Tensor:
        """ŷ_r = C(R^r(s_0)): the logits (B, 2, L) after r iterations."""
        _check_iterations(r)
        signal = self.signal(x)
        state = self.projection(signal) if state is None else state
        for _ in range(r):
            state = self.core(state, signal)
        return self.readout(state)

    def run(self, x: torch.Tensor, r: int, state: torch.Tensor | None = None):
        """``(logits, s_r)`` after r iterations from ``state`` (default s_0): progressive loss."""
        _check_iterations(r)
        signal = self.signal(x)
        state = self.projection(signal) if state is None else state
        for _ in range(r):
            state = self.core(state, signal)
        return self.readout(state), state


class FeedForwardConvNet(_ConvNet):
    """The same network without weight tying: ``depth`` different cores applied once each."""

    def __init__(self, width: int = 16, depth: int = 20, blocks: int = 2):
        super().__init__(width)
        if depth < 1:
            raise ValueError(f"depth must be ≥ 1, got {depth}")
        self.depth = depth
        self.cores = nn.ModuleList(RecallCore(width, blocks) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        signal = self.signal(x)
        state = self.projection(signal)
        for core in self.cores:
            state = core(state, signal)
        return self.readout(state)


def matched_width(target: int, depth: int, blocks: int = 2, max_width: int = 512) -> int:
    """The width whose :class:`FeedForwardConvNet` of this depth has the parameter count closest
    to ``target``.

    The count is w (projection) + depth · (3w(w+1) + 6 blocks · w²) (cores) + 3w² + 3w·⌊w/2⌋ +
    6⌊w/2⌋ (head): about 15 · depth · w² for two residual blocks, so the width falls like
    1/√depth.
    """

    def count(w: int) -> int:
        half = max(w // 2, 1)
        core = 3 * (w + 1) * w + blocks * 2 * 3 * w * w
        return 3 * w + depth * core + 3 * w * w + 3 * w * half + 3 * half * 2

    return min(range(2, max_width + 1), key=lambda w: (abs(count(w) - target), w))


# ------------------------------------------------------------------------------ transformers


class Block(nn.Module):
    """A pre-norm transformer block without positions or mask (bidirectional attention).

    ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``, Attn(h) = W_o softmax(q kᵀ / √d_head) v per head.
    With a ``context`` (the cores' input-driven attention), queries and keys come from
    ``LN'(context)`` and only the values from ``LN(x)``. A ``local`` block lets every position
    attend to itself only (Attn(h) = W_o v): it transforms each statement on its own.
    """

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: int = 4,
        context: bool = False,
        local: bool = False,
    ):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of the {heads} heads")
        self.heads, self.local = heads, local
        self.norm1 = nn.LayerNorm(width)
        self.context_norm = nn.LayerNorm(width) if context and not local else None
        self.qk = None if local else nn.Linear(width, 2 * width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width)
        )

    def attend(self, h: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The attention output (before W_o), shape of h."""
        if self.qk is None:
            return self.v(h)
        if self.context_norm is not None:
            if context is None:
                raise ValueError("this block attends by its context: pass context=e")
            source = self.context_norm(context)
        else:
            source = h
        batch, length, width = h.shape
        q, k = self.qk(source).chunk(2, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, length, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(self.v(h))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        return (weights @ v).transpose(1, 2).reshape(batch, length, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.out(self.attend(self.norm1(x), context))
        return x + self.mlp(self.norm2(x))


class TransformerCore(nn.Module):
    """The core R(s, e) of (1) in Huginn's shape: LN(blocks(Linear([s, e])))."""

    def __init__(self, width: int, heads: int, blocks: int = 1, input_attention: bool = True):
        super().__init__()
        self.adapter = nn.Linear(2 * width, width)
        self.blocks = nn.ModuleList(
            Block(width, heads, context=input_attention) for _ in range(blocks)
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, state: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        u = self.adapter(torch.cat([state, e], dim=-1))
        for block in self.blocks:
            u = block(u, e)
        return self.norm(u)


class _TransformerParts(nn.Module):
    """Embedding, prelude, random start and coda, shared by the looped and explicit models."""

    def __init__(
        self,
        vocab: int,
        width: int,
        heads: int,
        prelude: int,
        coda: int,
        init_std: float,
        local_ends: bool,
    ):
        super().__init__()
        self.width, self.init_std = width, init_std
        self.embedding = nn.Embedding(vocab, width)
        self.merge = nn.Linear(2 * width, width)
        self.prelude = nn.ModuleList(Block(width, heads, local=local_ends) for _ in range(prelude))
        self.coda = nn.ModuleList(Block(width, heads, local=local_ends) for _ in range(coda))
        self.coda_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 10)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """e = P(x): statements (B, n, 2) of token ids [left, right] → (B, n, d)."""
        if tokens.dim() != 3 or tokens.shape[-1] != 2:
            raise ValueError(f"tokens must have shape (batch, statements, 2), got {tokens.shape}")
        pieces = self.embedding(tokens)  # (B, n, 2, d)
        e = self.merge(pieces.flatten(2))
        for block in self.prelude:
            e = block(e)
        return e

    def initial_state(self, e: torch.Tensor, generator: torch.Generator | None = None):
        """s_0 ~ N(0, init_std²), shaped like e (Huginn's random start).

        With a ``generator`` (on the CPU) the start is reproducible.
        """
        noise = torch.randn(e.shape, generator=generator, dtype=e.dtype)
        return self.init_std * noise.to(e.device)

    def readout(self, state: torch.Tensor) -> torch.Tensor:
        """The ten digit logits of every statement, (B, n, 10), from a state (B, n, d)."""
        x = state
        for block in self.coda:
            x = block(x)
        return self.head(self.coda_norm(x))


class LoopedTransformer(_TransformerParts):
    """Huginn's shape: prelude → r × core (adapter on [s, e], core blocks, LN) → coda."""

    def __init__(
        self,
        vocab: int,
        width: int = 64,
        heads: int = 4,
        prelude: int = 1,
        core_blocks: int = 1,
        coda: int = 1,
        init_std: float = 0.5,
        input_attention: bool = True,
        local_ends: bool = True,
    ):
        super().__init__(vocab, width, heads, prelude, coda, init_std, local_ends)
        self.core = TransformerCore(width, heads, core_blocks, input_attention)

    def states(
        self,
        tokens: torch.Tensor,
        r: int,
        state: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """[s_1, …, s_r] from the random start (or from ``state``)."""
        _check_iterations(r)
        e = self.embed(tokens)
        state = self.initial_state(e, generator) if state is None else state
        return iterate(lambda s: self.core(s, e), state, r)[1:]

    def forward(
        self,
        tokens: torch.Tensor,
        r: int,
        state: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        grad_steps: int | None = None,
    ) -> torch.Tensor:
        """ŷ_r = C(R^r(s_0, e)): the digit logits (B, n, 10) after r iterations.

        ``grad_steps`` = k runs the first r − k iterations without gradients (Huginn's truncated
        backpropagation); the values are the same.
        """
        _check_iterations(r)
        e = self.embed(tokens)
        state = self.initial_state(e, generator) if state is None else state
        free = 0 if grad_steps is None else max(r - grad_steps, 0)
        with torch.no_grad():
            for _ in range(free):
                state = self.core(state, e)
        for _ in range(r - free):
            state = self.core(state, e)
        return self.readout(state)


class ExplicitTransformer(_TransformerParts):
    """The looped transformer unrolled ``depth`` times with different weights in every core."""

    def __init__(
        self,
        vocab: int,
        width: int = 36,
        heads: int = 4,
        depth: int = 8,
        prelude: int = 1,
        core_blocks: int = 1,
        coda: int = 1,
        init_std: float = 0.5,
        input_attention: bool = True,
        local_ends: bool = True,
    ):
        super().__init__(vocab, width, heads, prelude, coda, init_std, local_ends)
        self.depth = depth
        self.cores = nn.ModuleList(
            TransformerCore(width, heads, core_blocks, input_attention) for _ in range(depth)
        )

    def forward(self, tokens: torch.Tensor, generator: torch.Generator | None = None):
        e = self.embed(tokens)
        state = self.initial_state(e, generator)
        for core in self.cores:
            state = core(state, e)
        return self.readout(state)


def matched_transformer_width(target: int, heads: int, **kwargs) -> int:
    """The width (a multiple of ``heads``) whose :class:`ExplicitTransformer` with ``kwargs`` has
    the parameter count closest to ``target``; every width is tried by building the model on the
    meta device (no memory is allocated)."""

    def count(width: int) -> int:
        with torch.device("meta"):
            return parameter_count(ExplicitTransformer(width=width, heads=heads, **kwargs))

    best, width = (math.inf, heads), heads
    while True:  # the count grows with the width: stop at the first one above the target
        n = count(width)
        best = min(best, (abs(n - target), width))
        if n > target:
            return best[1]
        width += heads
