"""Small helpers for running a chapter inside Jupyter Book, plain Jupyter or Colab."""

from __future__ import annotations

import sys
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


def html_table(header: list[str], rows: list[tuple]) -> Any:
    """A table for a cell's output: an HTML table renders on the web page and in Jupyter alike."""
    from IPython.display import HTML

    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return HTML(f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
