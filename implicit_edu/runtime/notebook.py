"""Small helpers for running a chapter inside Jupyter Book, plain Jupyter or Colab."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any


def in_colab() -> bool:
    """True when the code runs on Google Colab."""
    return "google.colab" in sys.modules


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: ``progress`` if given, else only where someone watches.

    By default bars are drawn on Colab and in a terminal, not in a book build (where they would
    only add noise to the executed page).
    """
    if progress is not None:
        return progress
    return in_colab() or sys.stderr.isatty()


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for ``{glue:text}`` roles in the chapter's prose.

    Numbers in the book's text are always glued from code, never typed. NumPy and torch scalars
    are stored as Python numbers (``{glue:text}`x:.2f``` formats only those: NumPy 2 writes
    ``np.float64(0.5)`` as the text form of its scalars). Outside a Jupyter Book build (for
    example on Colab, where ``myst_nb`` is not installed) the value is printed instead, so the
    reader still sees it.
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a NumPy or torch scalar → a Python number
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # pragma: no cover - depends on the environment
        print(f"{name} = {value}")
        return value
    myst_glue(name, value, display=display)
    return value


_ALIGN = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}


def markdown_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    align: Sequence[str | None] | None = None,
) -> str:
    """A Markdown (pipe) table: ``| a | b |`` lines, a separator line, one line per row.

    Cells are written with ``str``: format numbers before passing them. ``align`` gives each
    column ``"left"``, ``"right"``, ``"center"`` or ``None`` (the default for every column:
    ``---``, left in most renderers). Show it in a notebook with
    ``IPython.display.Markdown(markdown_table(...))``.
    """
    header = [str(h) for h in header]
    if not header:
        raise ValueError("a table needs at least one column")
    if align is None:
        align = [None] * len(header)
    align = list(align)
    if len(align) != len(header):
        raise ValueError(f"align has {len(align)} entries for {len(header)} columns")
    unknown = [a for a in align if a not in _ALIGN]
    if unknown:
        raise ValueError(f"unknown alignment {unknown[0]!r}; use 'left', 'right', 'center' or None")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(_ALIGN[a] for a in align) + "|"]
    for i, row in enumerate(rows):
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row {i} has {len(cells)} cells for {len(header)} columns")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def html_table(header: list[str], rows: list[tuple]) -> Any:
    """A table for a cell's output: an HTML table renders on the web page and in Jupyter alike."""
    from IPython.display import HTML

    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return HTML(f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
