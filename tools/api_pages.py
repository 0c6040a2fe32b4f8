"""Write the API reference pages of the book (``book/api/<layer>.md``) from the package's tree,
and link each chapter's code to them.

One page per layer of ``implicit_edu`` (see the package docstring); each page documents every
module of its layer with autodoc (``.. automodule::``), so a new module appears in the reference
as soon as this runs. Each chapter gets a margin note after its set-up cell, "The package on this
page", that links every module of ``implicit_edu`` its code imports to its entry in the reference.
The pages and the notes are committed; ``tests/test_reference_pages.py`` fails when they differ
from what this script writes.

    python tools/api_pages.py          # write the pages and the chapters' notes
    python tools/api_pages.py --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "implicit_edu"
PAGES = ROOT / "book" / "api"

#: Each layer's page: its title and the sentence under it (the order is the package's, bottom up).
LAYERS = {
    "core": (
        "The core",
        "What an implicit model is: the fixed-point solvers, the `DEQ` layer and its gradients, "
        "operator families that stay contractions, and parameter counting.",
    ),
    "analysis": (
        "Analysis",
        "What can be proved and measured about an implicit model: the theorems of Part II, "
        "Lipschitz estimates and the trace $L_t$, certified bounds.",
    ),
    "runtime": (
        "The book's runtime",
        "What running a chapter needs: scale profiles, notebook helpers, the figures' style, the "
        "paper's numbers, the case-study cache, worker processes and paired statistics.",
    ),
    "experiments": (
        "Experiments",
        "The chapters' experiments: the 1/x operator, the solver benchmark, memory, regularity, "
        "the first trained model, and the four case studies of Part IV.",
    ),
    "exercises": (
        "Exercise checks",
        "The automatic checks behind the exercises, one module per chapter (for instructors: "
        "{doc}`../instructors`).",
    ),
}


def modules(folder: Path) -> list[tuple[str, bool]]:
    """``(dotted name, is_package)`` of the package at ``folder`` and everything below it."""
    name = ".".join(folder.relative_to(ROOT).parts)
    found = [(name, True)]
    for path in sorted(folder.iterdir()):
        if path.is_dir() and (path / "__init__.py").exists():
            found += modules(path)
        elif path.suffix == ".py" and path.name != "__init__.py":
            if path.name.startswith("_") and path.name != "_common.py":
                continue
            found.append((f"{name}.{path.stem}", False))
    return found


def page(layer: str) -> str:
    """The text of the layer's page. A package shows its docstring, a module all its members (so
    a name that a package re-exports is documented once, where it is defined)."""
    title, sentence = LAYERS[layer]
    lines = [
        f"(api-{layer})=",
        f"# {title}: `implicit_edu.{layer}`",
        "",
        sentence,
        "",
        "```{eval-rst}",
    ]
    for name, is_package in modules(PACKAGE / layer):
        lines.append(f".. automodule:: {name}")
        if not is_package:
            lines.append("   :members:")
        lines.append("")
    lines[-1] = "```"
    return "\n".join(lines) + "\n"


#: Where the names that ``implicit_edu`` exports at the top level are defined.
TOP_LEVEL = {
    "DEQ": "implicit_edu.core.deq",
    "DEQConvergenceWarning": "implicit_edu.core.deq",
    "TanhOperator": "implicit_edu.core.deq",
    "FixedPointResult": "implicit_edu.core.solvers",
    "fixed_point": "implicit_edu.core.solvers",
    "iterate": "implicit_edu.core.solvers",
    "PROFILES": "implicit_edu.runtime.profiles",
    "current_profile": "implicit_edu.runtime.profiles",
    "get_device": "implicit_edu.runtime.profiles",
    "pick": "implicit_edu.runtime.profiles",
    "seed_everything": "implicit_edu.runtime.profiles",
}
MARGIN_TITLE = "The package on this page"
_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", re.S | re.M)
_MARGIN = re.compile(rf"\n```{{margin}} {MARGIN_TITLE}\n.*?\n```\n", re.S)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def chapter_modules(text: str) -> list[str]:
    """The modules of ``implicit_edu`` that a chapter's code cells import, sorted."""
    found = set()
    for cell in _CELL.findall(text):
        code = "\n".join(line for line in cell.splitlines() if not line.startswith((":", "%", "!")))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("implicit_edu"):
                for alias in node.names:
                    if node.module == "implicit_edu":
                        found.add(TOP_LEVEL.get(alias.name, f"implicit_edu.{alias.name}"))
                    elif _is_module(f"{node.module}.{alias.name}"):
                        found.add(f"{node.module}.{alias.name}")
                    else:
                        found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("implicit_edu.")}
    return sorted(found)


def with_margin(text: str) -> str:
    """The chapter with its margin note after the set-up cell (the first code cell that imports
    ``implicit_edu``), replacing an older note."""
    text = _MARGIN.sub("", text)
    modules = chapter_modules(text)
    if not modules:
        return text
    links = ",\n".join(f"{{py:mod}}`{name}`" for name in modules)
    reference = "(the {ref}`API reference <api-reference>`)"
    note = f"\n```{{margin}} {MARGIN_TITLE}\n{links}\n{reference}\n```\n"
    for match in _CELL.finditer(text):
        if "from implicit_edu" in match.group(1) or "import implicit_edu" in match.group(1):
            end = match.end() + 1
            return text[:end] + note + text[end:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date pages")
    args = parser.parse_args(argv)
    stale = []
    for layer in LAYERS:
        path = PAGES / f"{layer}.md"
        text = page(layer)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for chapter in sorted((ROOT / "book").glob("part*/*.md")):
        text = chapter.read_text(encoding="utf-8")
        updated = with_margin(text)
        if updated != text:
            stale.append(chapter.relative_to(ROOT).as_posix())
            if not args.check:
                chapter.write_text(updated, encoding="utf-8")
    verb = "out of date (run `python tools/api_pages.py`)" if args.check else "written"
    for name in stale:
        print(f"{name}: {verb}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
