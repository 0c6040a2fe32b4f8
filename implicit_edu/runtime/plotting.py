"""The book's plotting house style: one look for every figure.

Call :func:`use_house_style` once at the top of a chapter (``implicit_edu`` does not change
Matplotlib's global state on import). Colours come from ``COLORS``, so that the same idea has
the same colour everywhere: the target in black, explicit models in orange, implicit ones in blue.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

COLORS = {
    "target": "#222222",
    "explicit": "#d95f02",
    "implicit": "#1b6ca8",
    "naive": "#7570b3",
    "accent": "#1b9e77",
    "muted": "#999999",
}

#: A sequence for families of curves (several t, several methods, ...).
CYCLE = ["#1b6ca8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666"]

HOUSE_STYLE = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": mpl.cycler(color=CYCLE),
}


def use_house_style() -> None:
    """Apply the house style to Matplotlib (idempotent)."""
    mpl.rcParams.update(HOUSE_STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float = 3.4):
    """A figure with ``nrows × ncols`` axes in the house style; returns ``(fig, axes)``."""
    use_house_style()
    width = width or (4.6 * ncols if ncols > 1 else 6.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), layout="constrained")
    return fig, axes
