"""Small helpers for running a chapter inside Jupyter Book, plain Jupyter or Colab."""

from __future__ import annotations

import os
import re
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


#: Set (to "1") by the book's Sphinx extension ``_ext/myst_tables.py`` in the build process, whose
#: kernels inherit it: captioned tables are then written as MyST ``{table}`` directives.
MYST_TABLES_VARIABLE = "IMPLICIT_EDU_MYST_TABLES"
_NAME = re.compile(r"tab-[a-z0-9]+(-[a-z0-9]+)*")


def captioned_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str,
    name: str | None = None,
    align: Sequence[str | None] | None = None,
) -> Any:
    """A table with a caption, for a cell's output: what every table of the book is (issue 15).

    ``header``, ``rows`` and ``align`` are those of :func:`markdown_table`; ``caption`` is one or
    more sentences of Markdown (math and code allowed). In the book build the output is a MyST
    ``{table}`` directive, so the page numbers the table ("Table 4.2") and prose can refer to it
    with ``{numref}`` and its ``name`` (``tab-...``, unique in the book). In plain Jupyter or Colab,
    which do not know the directive, it is the caption in bold above the pipe table. Returns an
    ``IPython.display.Markdown`` object: make it the cell's last expression or ``display`` it.
    """
    from IPython.display import Markdown

    if not (isinstance(caption, str) and caption.strip()):
        raise ValueError("a table needs a caption: one sentence or more saying what it shows")
    if "\n\n" in caption.strip():
        raise ValueError("the caption must be one paragraph (no blank line)")
    if name is not None and not _NAME.fullmatch(name):
        raise ValueError(
            f"table name {name!r} must look like 'tab-what-it-shows' (lowercase, digits, hyphens)"
        )
    body = markdown_table(header, rows, align=align)
    if os.environ.get(MYST_TABLES_VARIABLE) != "1":
        return Markdown(f"**{caption.strip()}**\n\n{body}")
    options = f":name: {name}\n" if name else ""
    # a colon fence: a backtick fence's first line may not hold the code spans of a caption
    return Markdown(f":::{{table}} {caption.strip()}\n{options}\n{body}\n:::")
