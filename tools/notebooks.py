"""Keep the book's notebooks in order: Colab bootstrap cells, ``.ipynb`` twins, student copies.

The chapters are MyST Markdown notebooks under ``book/`` (a ``.md`` file with a jupytext header).
Each one has an output-free ``.ipynb`` twin beside it, so that the Colab launch button opens a
notebook. The first code cell of every chapter is the *bootstrap cell*: on Colab it installs
``implicit_edu`` from the repository named in ``_config.yml`` (``repository.url`` and
``repository.branch``, the one source of truth); it is tagged ``remove-cell`` so the HTML book
does not show it. Setting ``IMPLICIT_EDU_INSTALL_SOURCE`` in the kernel's environment (a local
path or any pip requirement) makes the cell install that instead; ``tests/test_colab.py`` uses it
to run a twin as Colab would, from this checkout and offline.

Command line (run from anywhere; ``--root`` defaults to the repository that holds this file)::

    python tools/notebooks.py sync            # write the bootstrap cells and the .ipynb twins
    python tools/notebooks.py check           # report problems; exit status 1 if there are any
    python tools/notebooks.py student OUTDIR  # student copies (.ipynb) without the solutions

Student copies keep every chapter as it is, except for the exercises and their solutions:

* ``exercise-start`` / ``exercise-end`` fences become a bold "Exercise" line;
* inside ``solution-start`` ... ``solution-end`` only the code cells are kept (the prose and the
  fences are dropped), and in every code cell each region from ``# BEGIN SOLUTION`` to
  ``# END SOLUTION`` becomes ``...  # YOUR CODE HERE`` at the same indentation (or, for a
  top-level region that assigns names, ``name = ...  # YOUR CODE HERE`` for each name), so the
  ``check.…`` calls after it still grade the student's answer.

A chapter may ask Colab for a GPU by putting ``accelerator: GPU`` in its front matter (any
front-matter key other than ``jupytext`` is copied into the twin's notebook metadata).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = "book"
CONFIG_FILE = "_config.yml"

BOOTSTRAP_MARKER = "# Colab set-up, written by tools/notebooks.py from _config.yml"
BOOTSTRAP_PREFIX = "# Colab set-up"  # how sync recognises a bootstrap cell to replace
BOOTSTRAP_TAG = "remove-cell"
SOLUTION_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*BEGIN SOLUTION\b.*$")
SOLUTION_END = re.compile(r"^[ \t]*#+[ \t]*END SOLUTION\b.*$")
YOUR_CODE_HERE = "...  # YOUR CODE HERE"

# An opening fence: ``` or ~~~ (code/directive) or ::: (colon fence), optionally {directive}.
_OPEN_FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*(?:\{(?P<name>[^}\s]+)\})?[ \t]*(?P<arg>.*?)[ \t]*$"
)
_DEFAULT_COLAB_METADATA = {"provenance": [], "toc_visible": True}
# The setting that replaces the repository as the bootstrap cell's pip install source (a local
# checkout, a wheel, any pip requirement); tests/test_colab.py points it at this checkout.
INSTALL_SOURCE_VARIABLE = "IMPLICIT_EDU_INSTALL_SOURCE"
_BOOTSTRAP_TEMPLATE = """
{marker}: installs implicit_edu on Colab.
import importlib.util
import os
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("implicit_edu") is None:
    _source = "implicit-edu @ git+{url}@{branch}"
    _source = os.environ.get("{variable}") or _source  # e.g. a local checkout
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", _source], check=True)
    importlib.invalidate_caches()
"""


class NotebookError(ValueError):
    """A chapter that the tools cannot process (unbalanced fences or solution markers)."""


# ---------------------------------------------------------------------------------------------
# Configuration and discovery


def read_config(root: Path = ROOT) -> dict:
    """The parsed ``_config.yml`` of the book at ``root``."""
    with open(Path(root) / CONFIG_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def repository(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` of the repository, from ``_config.yml`` (``repository.url``/``branch``)."""
    repo = read_config(root).get("repository") or {}
    url = str(repo.get("url") or "").strip().rstrip("/")
    if not url:
        raise NotebookError(f"{CONFIG_FILE} has no repository.url")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url, str(repo.get("branch") or "main").strip()


def bootstrap_cell_source(url: str, branch: str) -> str:
    """The text of the Colab bootstrap cell for the repository ``url`` at ``branch``.

    On Colab (and only there) it pip-installs ``implicit_edu`` from the repository, unless it is
    already importable; everywhere else it does nothing. When the environment variable
    ``IMPLICIT_EDU_INSTALL_SOURCE`` is set (to a local checkout, a wheel or any pip requirement),
    the cell installs that instead of the repository.
    """
    url = url.strip().rstrip("/")
    return _BOOTSTRAP_TEMPLATE.format(
        marker=BOOTSTRAP_MARKER, url=url, branch=branch, variable=INSTALL_SOURCE_VARIABLE
    ).strip()


def front_matter(text: str) -> dict | None:
    """The YAML front matter of a Markdown text, or ``None`` when it has none."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[1:index]))
            except yaml.YAMLError:
                return None
            return data if isinstance(data, dict) else None
    return None


def is_chapter(md_path: Path) -> bool:
    """True for an executable chapter: a ``.md`` whose front matter has a ``jupytext`` header."""
    meta = front_matter(Path(md_path).read_text(encoding="utf-8"))
    return bool(meta) and isinstance(meta.get("jupytext"), dict)


def _book_files(root: Path, pattern: str) -> list[Path]:
    book = Path(root) / BOOK_DIR
    skip = {".ipynb_checkpoints", "_build", "__pycache__"}
    return sorted(
        p for p in book.rglob(pattern) if not skip.intersection(p.relative_to(book).parts)
    )


def chapters(root: Path = ROOT) -> list[Path]:
    """The executable chapters (Markdown notebooks with a jupytext header) under ``book/``."""
    return [p for p in _book_files(root, "*.md") if is_chapter(p)]


def twin_path(md_path: Path) -> Path:
    """The ``.ipynb`` twin of a chapter: same folder, same stem."""
    return Path(md_path).with_suffix(".ipynb")


def _toc_entries(entry: object) -> list[str]:
    files = []
    if isinstance(entry, dict):
        files += [str(entry[key]) for key in ("root", "file") if key in entry]
        for key in ("parts", "chapters", "sections"):
            files += _toc_entries(entry.get(key) or [])
    elif isinstance(entry, list):
        for child in entry:
            files += _toc_entries(child)
    return files


def toc_entries(root: Path = ROOT) -> list[str]:
    """The documents that ``_toc.yml`` lists, in order, as written there (usually no suffix)."""
    with open(Path(root) / "_toc.yml", encoding="utf-8") as handle:
        return _toc_entries(yaml.safe_load(handle))


def toc_source(entry: str, root: Path = ROOT) -> Path | None:
    """The source file of a ``_toc.yml`` entry (``.md``, ``.ipynb`` or ``.rst``), if it exists."""
    root = Path(root)
    candidates = [root / entry] if Path(entry).suffix in (".md", ".ipynb", ".rst") else []
    candidates += [root / f"{entry}{suffix}" for suffix in (".md", ".ipynb", ".rst")]
    return next((p for p in candidates if p.is_file()), None)


# ---------------------------------------------------------------------------------------------
# Fenced blocks in MyST Markdown


def _opening(line: str) -> re.Match | None:
    return _OPEN_FENCE.match(line)


def _closes(line: str, fence: str) -> bool:
    """True when ``line`` closes a block opened with ``fence`` (same character, no shorter)."""
    stripped = line.strip()
    return (
        len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
        and not line.startswith((" " * 4, "\t"))
    )


def _block_end(lines: list[str], start: int, fence: str, literal: bool = False) -> int:
    """Index of the line that closes the block opened at ``lines[start]``.

    Inside a directive, nested directives with another fence are skipped; a ``literal`` block (a
    plain code block) ends at the first closing fence.
    """
    depth_fences = [fence]
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if _closes(line, depth_fences[-1]):
            depth_fences.pop()
            if not depth_fences:
                return index
            continue
        match = _opening(line)
        # A nested directive with a longer or different fence opens a block of its own.
        if match and match["name"] and not literal and not line.startswith(" "):
            inner = match["fence"]
            if inner[0] != depth_fences[-1][0] or len(inner) < len(depth_fences[-1]):
                depth_fences.append(inner)
    raise NotebookError(f"the block opened on line {start + 1} ({lines[start]!r}) is never closed")


def _body_start(lines: list[str], start: int) -> int:
    """Index of the first body line of the directive opened at ``lines[start]`` (after options)."""
    index = start + 1
    if index < len(lines) and lines[index].strip() == "---":
        for end in range(index + 1, len(lines)):
            if lines[end].strip() == "---":
                return end + 1
        raise NotebookError(f"the option block of line {start + 1} is never closed")
    while index < len(lines) and re.match(r"^:[\w-]+:", lines[index]):
        index += 1
    return index


def _directive_options(lines: list[str]) -> dict:
    """Options (``:key: value`` lines or a ``---`` YAML block) of a directive's option lines."""
    if lines and lines[0].strip() == "---":
        data = yaml.safe_load("\n".join(lines[1:-1])) or {}
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    options = {}
    for line in lines:
        match = re.match(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$", line)
        if match:
            options[match["key"]] = match["value"].strip()
    return options


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after the front matter (0 when there is none)."""
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() == "---":
                return index + 1
    return 0


def _code_cells(lines: list[str]) -> Iterable[tuple[int, int, str]]:
    """``(start, end, fence)`` of each top-level ``{code-cell}`` block, in order."""
    index = _front_matter_end(lines)
    while index < len(lines):
        match = _opening(lines[index])
        if not match or lines[index].startswith(" "):
            index += 1
            continue
        end = _block_end(lines, index, match["fence"], literal=match["name"] is None)
        if match["name"] == "code-cell":
            yield index, end, match["fence"]
        index = end + 1  # other blocks (directives, literal code) are skipped whole


# ---------------------------------------------------------------------------------------------
# sync


def _is_bootstrap(source: str) -> bool:
    return source.lstrip().startswith(BOOTSTRAP_PREFIX)


def _bootstrap_block(source: str, language: str, fence: str = "```") -> list[str]:
    return [f"{fence}{{code-cell}} {language}".rstrip(), f":tags: [{BOOTSTRAP_TAG}]", ""] + [
        *source.splitlines(),
        fence,
    ]


def _cell_body(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[_body_start(lines, start) : end])


def with_bootstrap(text: str, source: str) -> str:
    """The chapter ``text`` with ``source`` as its first code cell (replaced or inserted).

    A cell counts as a bootstrap cell when its code starts with ``# Colab set-up``; other
    bootstrap cells than the first code cell are removed.
    """
    lines = text.splitlines()
    cells = list(_code_cells(lines))
    if not cells:
        raise NotebookError("the chapter has no code cell to put the bootstrap cell before")
    boot = [c for c in cells if _is_bootstrap(_cell_body(lines, c[0], c[1]))]
    first_is_boot = bool(boot) and boot[0] == cells[0]
    for start, end, _ in reversed(boot[1:] if first_is_boot else boot):
        # a misplaced bootstrap cell goes, with the blank line after it
        stop = end + 2 if end + 1 < len(lines) and not lines[end + 1].strip() else end + 1
        lines = lines[:start] + lines[stop:]
    start, end, fence = next(iter(_code_cells(lines)))
    language = (_opening(lines[start])["arg"] or "ipython3").strip()
    block = _bootstrap_block(source, language, fence)
    if first_is_boot:
        lines = lines[:start] + block + lines[end + 1 :]
    else:
        lines = lines[:start] + block + [""] + lines[start:]
    return "\n".join(lines) + "\n"


def _cell_id(cell_type: str, source: str, seen: dict[str, int]) -> str:
    digest = hashlib.sha1(f"{cell_type}\0{source}".encode()).hexdigest()[:8]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def clean_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An output-free copy of ``nb`` with Colab-friendly metadata and content-derived cell ids."""
    nb = copy.deepcopy(nb)
    metadata = {k: v for k, v in nb.metadata.items() if k != "jupytext"}
    colab = dict(_DEFAULT_COLAB_METADATA)
    colab.update(metadata.get("colab") or {})
    metadata["colab"] = colab
    metadata.setdefault(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
    )
    metadata.setdefault("language_info", {"name": "python"})
    nb.metadata = nbformat.from_dict(metadata)
    nb.nbformat, nb.nbformat_minor = 4, 5
    seen: dict[str, int] = {}
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not cell.source.strip():
            continue
        cell["id"] = _cell_id(cell.cell_type, cell.source, seen)
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    nb.cells = cells
    return nb


def notebook_bytes(nb: nbformat.NotebookNode) -> str:
    """The ``.ipynb`` text written for ``nb`` (stable: sorted keys, one-space indent)."""
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4) + "\n"


def fold_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Collapse the source of every code cell inside a solution, as the web pages fold them.

    ``metadata.jupyter.source_hidden`` is the notebook format's own flag for a collapsed input;
    Jupyter and Colab show such a cell folded, one click away.
    """
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            start = cell.source.rfind("{solution-start}")
            end = cell.source.rfind("{solution-end}")
            if start >= 0 or end >= 0:
                inside = start > end
        elif cell.cell_type == "code" and inside:
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    return nb


def twin_notebook(md_path: Path) -> nbformat.NotebookNode:
    """The notebook that ``sync`` writes as the twin of the chapter ``md_path``: outputs cleared,
    solution cells folded."""
    return fold_solutions(clean_notebook(jupytext.read(md_path, fmt="md:myst")))


def _write_if_changed(path: Path, text: str) -> bool:
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def sync(root: Path = ROOT) -> list[Path]:
    """Write every chapter's bootstrap cell and its ``.ipynb`` twin; return the files changed."""
    source = bootstrap_cell_source(*repository(root))
    changed = []
    for md in chapters(root):
        text = md.read_text(encoding="utf-8")
        if _write_if_changed(md, with_bootstrap(text, source)):
            changed.append(md)
        twin = twin_path(md)
        if _write_if_changed(twin, notebook_bytes(twin_notebook(md))):
            changed.append(twin)
    return changed


# ---------------------------------------------------------------------------------------------
# check


def _cells_signature(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", [])))
        for c in nb.cells
        if c.cell_type == "code" or c.source.strip()
    ]


def check_chapter(md: Path, root: Path = ROOT, source: str | None = None) -> list[str]:
    """The problems of one chapter (its bootstrap cell, its twin, its student copy)."""
    root = Path(root)
    rel = md.relative_to(root).as_posix()
    source = source if source is not None else bootstrap_cell_source(*repository(root))
    problems = []
    try:
        nb = jupytext.read(md, fmt="md:myst")
    except Exception as error:  # noqa: BLE001 - report whatever jupytext says
        return [f"{rel}: jupytext cannot read it: {error}"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or not _is_bootstrap(code[0].source):
        problems.append(f"{rel}: the first code cell is not the bootstrap cell (run `sync`)")
    elif code[0].source.strip() != source.strip():
        problems.append(f"{rel}: the bootstrap cell differs from _config.yml's (run `sync`)")
    elif BOOTSTRAP_TAG not in code[0].metadata.get("tags", []):
        problems.append(f"{rel}: the bootstrap cell is not tagged {BOOTSTRAP_TAG} (run `sync`)")

    twin = twin_path(md)
    trel = twin.relative_to(root).as_posix()
    if not twin.exists():
        problems.append(f"{rel}: no .ipynb twin {trel} (run `sync`)")
    else:
        try:
            ipynb = nbformat.read(twin, as_version=4)
        except Exception as error:  # noqa: BLE001
            problems.append(f"{trel}: not a readable notebook: {error}")
        else:
            if any(c.get("outputs") for c in ipynb.cells if c.cell_type == "code"):
                problems.append(f"{trel}: has outputs (run `sync`)")
            if any(c.get("execution_count") is not None for c in ipynb.cells):
                problems.append(f"{trel}: has execution counts (run `sync`)")
            if "kernelspec" not in ipynb.metadata:
                problems.append(f"{trel}: has no kernelspec (run `sync`)")
            if _cells_signature(ipynb) != _cells_signature(nb):
                problems.append(f"{trel}: out of sync with {rel} (run `sync`)")
    try:
        student_notebook(md)
    except NotebookError as error:
        problems.append(f"{rel}: no student copy can be made: {error}")
    return problems


def check_all(root: Path = ROOT) -> list[str]:
    """Every problem of the book's notebooks, as readable strings (empty when all is well)."""
    root = Path(root)
    try:
        source = bootstrap_cell_source(*repository(root))
    except (OSError, NotebookError) as error:
        return [f"{CONFIG_FILE}: {error}"]
    problems = []
    mds = chapters(root)
    for md in mds:
        problems += check_chapter(md, root, source)
    sources = {twin_path(md) for md in mds}
    for ipynb in _book_files(root, "*.ipynb"):
        if ipynb not in sources:
            problems.append(f"{ipynb.relative_to(root).as_posix()}: no chapter .md beside it")
    return problems


# ---------------------------------------------------------------------------------------------
# student copies


def strip_solution_code(source: str) -> str:
    """``source`` with each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region replaced."""
    return rewrite_solution_regions(source, _placeholders)


def rewrite_solution_regions(source: str, rewrite) -> str:
    """``source`` with each solution region, markers included, replaced by
    ``rewrite(region_lines, indent)`` (the lines between the markers and the indentation of
    ``# BEGIN SOLUTION``); unbalanced or nested markers raise :class:`NotebookError`."""
    out: list[str] = []
    lines = source.split("\n")
    index = 0
    while index < len(lines):
        begin = SOLUTION_BEGIN.match(lines[index])
        if SOLUTION_END.match(lines[index]):
            raise NotebookError(f"'# END SOLUTION' without '# BEGIN SOLUTION': {lines[index]!r}")
        if not begin:
            out.append(lines[index])
            index += 1
            continue
        for end in range(index + 1, len(lines)):
            if SOLUTION_BEGIN.match(lines[end]):
                raise NotebookError("'# BEGIN SOLUTION' inside another solution region")
            if SOLUTION_END.match(lines[end]):
                break
        else:
            raise NotebookError(f"'# BEGIN SOLUTION' without '# END SOLUTION': {lines[index]!r}")
        out.extend(rewrite(lines[index + 1 : end], begin["indent"]))
        index = end + 1
    return "\n".join(out)


TOP_LEVEL_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=(?!=)")


def _placeholders(region: list[str], indent: str) -> list[str]:
    """What a solution region becomes in the student copy.

    A region at the top level of a cell that assigns names (``eta_max = 2.0``) becomes one
    ``name = ...  # YOUR CODE HERE`` line per assigned name, so the check after it still finds the
    name (and tells the student to replace the ``...``). Any other region, such as a function body,
    becomes a single ``...  # YOUR CODE HERE`` line at the region's indentation.
    """
    names = assigned_names(region, indent)
    if names:
        return [f"{name} = {YOUR_CODE_HERE}" for name in names]
    return [f"{indent}{YOUR_CODE_HERE}"]


def assigned_names(region: list[str], indent: str) -> list[str]:
    """The names a top-level solution region assigns (none for an indented region), in order."""
    names: list[str] = []
    if not indent:
        for line in region:
            match = TOP_LEVEL_ASSIGNMENT.match(line)
            if match and match["name"] not in names:
                names.append(match["name"])
    return names


def _exercise_heading(arg: str, options: dict) -> str:
    label = options.get("label", "")
    heading = f"Exercise ({label})" if label else "Exercise"
    if arg:
        heading += f": {arg}"
    return f"**{heading}**"


def student_text(text: str) -> str:
    """The MyST Markdown text of the student copy of a chapter (see the module docstring)."""
    lines = text.splitlines()
    start_body = _front_matter_end(lines)
    out = lines[:start_body]
    in_solution = False
    exercises: list[str] = []  # fences of non-gated {exercise} blocks
    index = start_body
    while index < len(lines):
        line = lines[index]
        match = _opening(line) if not line.startswith(" ") else None
        if exercises and _closes(line, exercises[-1]):
            exercises.pop()
            index += 1
            continue
        if not match:
            if not in_solution:
                out.append(line)
            index += 1
            continue
        name, fence = match["name"], match["fence"]
        end = _block_end(lines, index, fence, literal=name is None)
        body = _body_start(lines, index) if name else index + 1
        if name == "code-cell":
            code = strip_solution_code("\n".join(lines[body:end]))
            out += lines[index:body] + (code.split("\n") if body < end else []) + [lines[end]]
        elif name == "solution-start":
            if in_solution:
                raise NotebookError(f"line {index + 1}: solution-start inside a solution")
            in_solution = True
        elif name == "solution-end":
            if not in_solution:
                raise NotebookError(f"line {index + 1}: solution-end without solution-start")
            in_solution = False
        elif name in ("exercise-start", "exercise"):
            if in_solution:
                raise NotebookError(f"line {index + 1}: an exercise inside a solution")
            options = _directive_options(lines[index + 1 : body])
            out += [_exercise_heading(match["arg"], options), ""]
            if name == "exercise":  # non-gated: keep its body, drop its closing fence
                exercises.append(fence)
                index = body
                continue
        elif name == "exercise-end":
            pass
        elif name == "solution" or in_solution:
            pass  # a non-gated solution, or a block inside a solution: dropped whole
        else:
            out += lines[index : end + 1]
        index = end + 1
    if in_solution:
        raise NotebookError("solution-start without solution-end")
    if exercises:
        raise NotebookError("an {exercise} block is never closed")
    return "\n".join(out) + "\n"


def student_notebook(md_path: Path) -> nbformat.NotebookNode:
    """The student copy of the chapter ``md_path``: no solutions, no outputs, checks kept."""
    text = Path(md_path).read_text(encoding="utf-8")
    return clean_notebook(jupytext.reads(student_text(text), fmt="md:myst"))


def student(root: Path = ROOT, outdir: Path | str = "_build/student") -> list[Path]:
    """Write the student copy of every chapter into ``outdir`` (mirroring ``book/``)."""
    root = Path(root)
    outdir = Path(outdir)
    written = []
    for md in chapters(root):
        target = outdir / md.relative_to(root / BOOK_DIR).with_suffix(".ipynb")
        _write_if_changed(target, notebook_bytes(student_notebook(md)))
        written.append(target)
    return written


# ---------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="write the bootstrap cells and the .ipynb twins")
    commands.add_parser("check", help="report notebook problems; exit status 1 if any")
    student_parser = commands.add_parser("student", help="write student copies into OUTDIR")
    student_parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.command == "sync":
            changed = sync(root)
            for path in changed:
                print(f"wrote {path.relative_to(root)}")
            print(f"sync: {len(chapters(root))} chapters, {len(changed)} files written")
        elif args.command == "check":
            problems = check_all(root)
            for problem in problems:
                print(problem)
            if problems:
                print(f"check: {len(problems)} problem(s); `tools/notebooks.py sync` fixes most")
                return 1
            print(f"check: {len(chapters(root))} chapters, all notebooks in order")
        else:
            written = student(root, args.outdir)
            print(f"student: {len(written)} notebooks written to {args.outdir}")
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
