"""Counting a model's parameters, the size every comparison in the book is matched on."""

from __future__ import annotations

from torch import nn

__all__ = ["parameter_count"]


def parameter_count(model: nn.Module) -> int:
    """The number of trainable tensor entries of ``model``.

    Shared tensors count once (``model.parameters()`` yields each once); buffers, such as stored
    data scales, do not count. A complex weight stored as a real tensor with a trailing axis of
    2 (the Fourier layers of the Navier–Stokes chapter) counts as two real numbers.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
