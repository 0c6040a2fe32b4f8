"""Small helpers for running a chapter inside Jupyter Book, plain Jupyter or Colab."""

from __future__ import annotations

import sys
from typing import Any


def in_colab() -> bool:
    """True when the code runs on Google Colab."""
    return "google.colab" in sys.modules


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for ``{glue:text}`` roles in the chapter's prose.

    Numbers in the book's text are always glued from code, never typed. Outside a Jupyter Book
    build (for example on Colab, where ``myst_nb`` is not installed) the value is printed instead,
    so the reader still sees it.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # pragma: no cover - depends on the environment
        print(f"{name} = {value}")
        return value
    myst_glue(name, value, display=display)
    return value
