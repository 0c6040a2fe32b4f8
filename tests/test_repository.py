"""Fast checks of the repository's consistency (no book build): dependencies, notebooks, table of
contents, citations, the README's commands, and the student copies of the chapters."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tools import notebooks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = notebooks.chapters(ROOT)
CHAPTER_IDS = [p.relative_to(ROOT).as_posix() for p in CHAPTERS]

# The book's tool chain: what turns the chapters into pages with `-W` (so that any release of it can
# break the build) and executes them. constraints/book.txt must pin every one of them.
BOOK_TOOL_CHAIN = (
    "jupyter-book",
    "sphinx",
    "docutils",
    "myst-parser",
    "myst-nb",
    "sphinx-book-theme",
    "pydata-sphinx-theme",
    "sphinx-proof",
    "sphinx-exercise",
    "sphinx-togglebutton",
    "sphinxcontrib-bibtex",
    "sphinx-mathjax-offline",
    "sphinx-design",
    "sphinx-external-toc",
    "sphinx-thebe",
    "sphinx-copybutton",
    "sphinx-jupyterbook-latex",
    "sphinx-multitoc-numbering",
    "jupyter-cache",
    "nbclient",
    "ipykernel",
    "jupytext",
    "nbformat",
)
CONSTRAINTS = ROOT / "constraints" / "book.txt"
# what environment.yml takes from conda: everything else is pip's, from pyproject.toml
CONDA_PACKAGES = {"python", "pip", "pytorch"}
# The pins are compiled for this platform and Python (the Makefile's `constraints` target).
PINNED_FOR = sys.platform == "linux" and sys.version_info[:2] == (3, 11)


# ---------------------------------------------------------------------------------------------
# dependencies: pyproject.toml has the ranges, constraints/book.txt the pins, environment.yml
# installs the project


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_requirements() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    requirements = {}
    for line in [*project["dependencies"], *extras.get("book", []), *extras.get("dev", [])]:
        requirement = Requirement(line)
        requirements[_normalise(requirement.name)] = requirement.specifier
    return requirements


def _pins() -> dict[str, str]:
    """Name and version of every pin in constraints/book.txt; fails on a line that is no pin."""
    pins: dict[str, str] = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==" and not requirement.marker, (
            f"constraints/book.txt:{number}: {line!r} is not a plain pin (name==version)"
        )
        name = _normalise(requirement.name)
        assert name not in pins, f"constraints/book.txt:{number}: {name} is pinned twice"
        pins[name] = specifiers[0].version
    return pins


def _requirement_closure(requirements: list[Requirement], stop: set[str]) -> set[str]:
    """The installed distributions that ``requirements`` need, transitively, with the markers
    evaluated here; ``stop`` names distributions whose own requirements are not followed."""
    needed: set[str] = set()
    expanded: set[tuple[str, str]] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = _normalise(requirement.name)
        if name in stop:
            continue
        needed.add(name)
        for extra in {"", *requirement.extras}:
            if (name, extra) in expanded:
                continue
            expanded.add((name, extra))
            try:
                lines = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                continue
            for line in lines:
                dependency = Requirement(line)
                if dependency.marker is None or dependency.marker.evaluate({"extra": extra}):
                    todo.append(dependency)
    return needed


def test_constraints_pin_the_book_tool_chain_within_the_pyproject_ranges():
    assert "make constraints" in CONSTRAINTS.read_text(encoding="utf-8"), (
        "constraints/book.txt should say how it is regenerated"
    )
    pins = _pins()
    assert sorted(set(BOOK_TOOL_CHAIN) - set(pins)) == [], (
        "packages of the book's tool chain that constraints/book.txt does not pin"
    )
    # torch stays unpinned: its build depends on the machine (constraints/overrides.txt)
    assert "torch" not in pins
    requirements = _pyproject_requirements()
    assert sorted(set(requirements) - set(pins) - {"torch"}) == [], (
        "requirements of pyproject.toml (core, book, dev) without a pin: run `make constraints`"
    )
    outside = {
        name: (pins[name], str(specifier))
        for name, specifier in requirements.items()
        if name in pins and not specifier.contains(pins[name], prereleases=True)
    }
    assert outside == {}, "pins outside pyproject.toml's ranges: run `make constraints`"


def test_constraints_pin_everything_the_tools_need():
    """Every distribution that the installed core, book and dev requirements need, transitively
    (torch's own requirements aside), has a pin: constraints/book.txt is complete."""
    if not PINNED_FOR:
        pytest.skip("constraints/book.txt is compiled for Linux and Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    lines = [*project["dependencies"], *extras.get("book", []), *extras.get("dev", [])]
    needed = _requirement_closure([Requirement(line) for line in lines], stop={"torch"})
    assert sorted(needed - set(_pins())) == [], (
        "needed by the tool chain but not pinned in constraints/book.txt: run `make constraints`"
    )


def test_the_installed_tool_chain_is_the_pinned_one():
    pins = _pins()
    installed = {}
    for name in BOOK_TOOL_CHAIN:
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed[name] = None
    differ = {
        name: (version, pins.get(name))
        for name, version in installed.items()
        if version != pins.get(name)
    }
    assert differ == {}, (
        "(installed, pinned) versions of the book's tool chain differ: `make setup` installs the "
        "pins (rm .venv/.installed to rerun it), `make constraints` moves them"
    )


def test_make_setup_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^CONSTRAINTS := constraints/book\.txt$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\):.*\$\(CONSTRAINTS\)", makefile, re.M), (
        "setup should rerun when the pins change"
    )
    installs = [
        line.strip()
        for line in makefile.splitlines()
        if "pip install" in line and ("-e " in line or "torch==" in line)
    ]
    assert installs, "the Makefile installs neither torch nor the project"
    assert [line for line in installs if "-c $(CONSTRAINTS)" not in line] == [], (
        "pip installs in the Makefile without the constraints"
    )


def test_environment_yml_installs_the_project_with_the_constraints():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda, pip = [], []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip += [" ".join(str(line).split()) for line in entry.get("pip", [])]
        else:
            conda.append(str(entry).replace(" ", ""))
    names = {re.match(r"[A-Za-z0-9_.\-]+", spec)[0] for spec in conda}
    assert names == CONDA_PACKAGES, (
        "environment.yml takes only python, pip and pytorch from conda; pip installs the project, "
        "whose pyproject.toml lists the dependencies"
    )
    pytorch = next(spec for spec in conda if spec.startswith("pytorch"))
    assert SpecifierSet(pytorch.removeprefix("pytorch")) == _pyproject_requirements()["torch"], (
        "environment.yml's pytorch range differs from pyproject.toml's torch range"
    )
    assert "python=3.11" in conda, "the pins are for Python 3.11"
    assert sorted(pip) == ["-c constraints/book.txt", "-e .[book,dev]"], (
        "environment.yml should pip-install the project with the book and dev extras, pinned by "
        "constraints/book.txt, and nothing else"
    )


def test_local_sphinx_extensions_name_the_versions_they_were_written_for():
    """Each module of _ext works around something in particular releases; its docstring names
    them (name==version). When `make constraints` moves one, this fails as a reminder to check
    whether the workaround is still needed."""
    pins = _pins()
    for path in sorted((ROOT / "_ext").glob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        named = dict(re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+[\w])", docstring))
        assert named, f"_ext/{path.name}: its docstring names no version (name==version)"
        moved = {
            name: (version, pins.get(_normalise(name)))
            for name, version in named.items()
            if pins.get(_normalise(name)) != version
        }
        assert moved == {}, (
            f"_ext/{path.name} was written for other versions than the pinned ones "
            "(named, pinned): check whether it is still needed, then update its docstring"
        )


# ---------------------------------------------------------------------------------------------
# notebooks: twins, bootstrap cells


def test_there_are_chapters():
    assert CHAPTERS, "no executable chapter (a .md with a jupytext header) under book/"


def test_every_chapter_has_its_twin():
    missing = [
        p.relative_to(ROOT).as_posix() for p in CHAPTERS if not notebooks.twin_path(p).exists()
    ]
    assert missing == [], "chapters without an .ipynb twin: run `python tools/notebooks.py sync`"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_every_code_cell_of_a_chapter_is_valid_python(md: Path):
    """A syntax error found here costs a second; found by the `cpu` build, it costs half an hour."""
    import ast

    import jupytext

    errors = []
    for index, cell in enumerate(jupytext.read(md, fmt="md:myst").cells):
        if cell.cell_type != "code":
            continue
        # IPython magics and shell escapes are not Python
        source = "\n".join(
            "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        try:
            ast.parse(source)
        except SyntaxError as error:
            errors.append(f"code cell {index}, line {error.lineno}: {error.msg}")
    assert errors == [], f"{md.name}: " + "; ".join(errors)


def test_notebooks_check_finds_no_problem():
    problems = notebooks.check_all(ROOT)
    assert problems == [], "\n".join(["`python tools/notebooks.py check` reports:", *problems])


def test_bootstrap_cell_uses_the_repository_url_of_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"].rstrip("/")
    branch = config["repository"].get("branch", "main")
    source = notebooks.bootstrap_cell_source(url, branch)
    assert f"git+{url}@{branch}" in source
    compile(source, "<bootstrap>", "exec")
    for md in CHAPTERS:
        nb = notebooks.twin_notebook(md)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source == source, f"{md.relative_to(ROOT)}: bootstrap cell is not current"
        assert "remove-cell" in first.metadata.get("tags", [])


# ---------------------------------------------------------------------------------------------
# table of contents


def test_toc_lists_only_existing_files():
    missing = [
        entry for entry in notebooks.toc_entries(ROOT) if notebooks.toc_source(entry, ROOT) is None
    ]
    assert missing == [], "_toc.yml lists files that do not exist"


def test_every_book_page_is_in_the_toc():
    listed = {notebooks.toc_source(entry, ROOT) for entry in notebooks.toc_entries(ROOT)}
    pages = [
        p
        for p in (ROOT / "book").rglob("*.md")
        if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
    ]
    unlisted = sorted(p.relative_to(ROOT).as_posix() for p in pages if p not in listed)
    assert unlisted == [], "pages under book/ missing from _toc.yml"


# ---------------------------------------------------------------------------------------------
# citations

CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
BIB_ENTRY = re.compile(r"@(?P<type>\w+)\s*[{(]\s*(?P<key>[^,\s]+)\s*,")


def cited_keys(text: str) -> set[str]:
    """Keys of every ``{cite}``/``{cite:p}``/``{cite:t}``... role in ``text``."""
    keys = set()
    for match in CITE_ROLE.finditer(text):
        for key in match[1].split(","):
            key = re.sub(r"\{[^}]*\}", "", key).strip()  # {pre}key{post} in bibtex >= 2.6
            if key:
                keys.add(key)
    return keys


def test_cite_role_parsing():
    text = "a {cite:p}`one, two` b {cite:t}`three` c {cite}`{see}four{p. 2}` {cite:ps}`five`"
    assert cited_keys(text) == {"one", "two", "three", "four", "five"}


def test_every_citation_is_in_references_bib():
    bib = ROOT / "references.bib"
    assert bib.exists(), "references.bib is missing"
    known = {
        m["key"]
        for m in BIB_ENTRY.finditer(bib.read_text(encoding="utf-8"))
        if m["type"].lower() not in ("comment", "string", "preamble")
    }
    unknown = {}
    for md in sorted((ROOT / "book").rglob("*.md")):
        missing = sorted(cited_keys(md.read_text(encoding="utf-8")) - known)
        if missing:
            unknown[md.relative_to(ROOT).as_posix()] = missing
    assert unknown == {}, "cited keys that references.bib does not define"


# ---------------------------------------------------------------------------------------------
# README: two commands, and CI runs the second

FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


def readme_commands(text: str) -> list[str]:
    """The shell commands in the code blocks of the README's first section.

    The first section is the text before the second ``## `` heading. Comments, blank lines and
    prompts (``$ ``) are ignored; lines ending with a backslash continue the command.
    """
    headings = [m.start() for m in re.finditer(r"^## ", text, re.M)]
    section = text[: headings[1]] if len(headings) > 1 else text
    commands: list[str] = []
    for block in FENCED.finditer(section):
        pending = ""
        for line in block[2].splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if not pending and (not line or line.startswith("#")):
                continue
            pending += line
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            commands.append(" ".join(shlex.split(pending, comments=True)))
            pending = ""
        if pending.strip():
            commands.append(pending.strip())
    return commands


def test_readme_commands_parsing():
    text = (
        "# Title\n\nIntro\n\n## Quick start\n\n```bash\n# build\n$ make book\n```\n\n"
        "Then\n\n```\nmake \\\n  test\n```\n\n## More\n\n```bash\nmake other\n```\n"
    )
    assert readme_commands(text) == ["make book", "make test"]


def test_readme_has_two_commands_and_ci_runs_the_second():
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing"
    commands = readme_commands(readme.read_text(encoding="utf-8"))
    assert len(commands) == 2, f"the README's first section should hold two commands: {commands}"
    ci = ROOT / ".ci" / "run"
    assert ci.exists(), ".ci/run is missing"
    ci_lines = [
        " ".join(shlex.split(line, comments=True))
        for line in ci.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[1] in ci_lines, (
        f".ci/run does not run the README's test command {commands[1]!r}"
    )


# ---------------------------------------------------------------------------------------------
# student copies of the real chapters


def _solution_lines(text: str) -> list[str]:
    """Non-blank lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in ``text``."""
    lines, inside = [], False
    for line in text.splitlines():
        if notebooks.SOLUTION_BEGIN.match(line):
            inside = True
        elif notebooks.SOLUTION_END.match(line):
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _outside_solutions(text: str) -> str:
    kept, inside = [], False
    for line in text.splitlines():
        if notebooks.SOLUTION_BEGIN.match(line):
            inside = True
        elif notebooks.SOLUTION_END.match(line):
            inside = False
        elif not inside:
            kept.append(line.strip())
    return "\n".join(kept)


def _student_code(nb: nbformat.NotebookNode) -> list[str]:
    return [
        line.strip() for c in nb.cells if c.cell_type == "code" for line in c.source.split("\n")
    ]


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_student_copy_of_chapter(md: Path):
    text = md.read_text(encoding="utf-8")
    nb = notebooks.student_notebook(md)
    nbformat.validate(nb)
    everything = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in everything and "END SOLUTION" not in everything
    assert "{solution-start}" not in everything and "{exercise-start}" not in everything
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    code = _student_code(nb)
    outside = _outside_solutions(text)
    leaked = [line for line in _solution_lines(text) if line in code and line not in outside]
    assert leaked == [], "solution lines left in the student copy"
    regions = len(re.findall(r"^[ \t]*#+[ \t]*BEGIN SOLUTION", text, re.M))
    placeholders = sum(line.endswith(notebooks.YOUR_CODE_HERE) for line in code)
    assert placeholders >= regions > 0 or placeholders == regions == 0
    checks = re.findall(r"^\s*(check\.\w+\(.*)$", text, re.M)
    missing = [call for call in checks if call.strip() not in code]
    assert missing == [], "check calls missing from the student copy"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_solution_regions_never_hide_the_definition_a_check_needs(md: Path):
    """A top-level solution region must not contain a ``def`` or ``class``: the student copy
    replaces the region by ``...``, so the check after it would fail with a NameError instead of
    its own hint. The function is defined outside the markers, its body inside them."""
    hidden = []
    inside = False
    for line in md.read_text(encoding="utf-8").splitlines():
        begin = notebooks.SOLUTION_BEGIN.match(line)
        if begin:
            inside = begin["indent"] == ""
        elif notebooks.SOLUTION_END.match(line):
            inside = False
        elif inside and re.match(r"(async\s+)?(def|class)\s", line):
            hidden.append(line)
    assert hidden == [], f"definitions inside a top-level solution region: {hidden}"


def test_student_cli_writes_every_chapter(tmp_path: Path):
    assert notebooks.main(["--root", str(ROOT), "student", str(tmp_path)]) == 0
    for md in CHAPTERS:
        target = tmp_path / md.relative_to(ROOT / "book").with_suffix(".ipynb")
        assert target.exists()
        nbformat.validate(nbformat.read(target, as_version=4))


# ---------------------------------------------------------------------------------------------
# the tools themselves, on a synthetic chapter (independent of the real chapters)

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

SYNTHETIC = (
    HEADER
    + """
# A synthetic chapter

Some prose with math $x^2$.

```{code-cell} ipython3
import math
```

::::{prf:theorem} Kept
:label: thm-kept
A theorem that stays.
::::

```{exercise-start} Halve it
:label: ex-halve
```
Write `halve(x)`.
```{code-cell} ipython3
print("exercise cell stays")
```
```{exercise-end}
```

```{solution-start} ex-halve
:class: dropdown
```
The solution prose that must go.
```{code-cell} ipython3
def halve(x):
    if x:
        # BEGIN SOLUTION
        secret_answer = x / 2
        return secret_answer
        # END SOLUTION
    return 0


check.halve(halve)
```
More solution prose to drop.

```{math}
\\text{solution math}
```
```{code-cell} ipython3
# BEGIN SOLUTION
hidden_value = 42
# END SOLUTION
check.value(hidden_value)
```
```{solution-end}
```

```{exercise}
:label: ex-plain
A non-gated exercise.
```

```{solution} ex-plain
:class: dropdown
Its non-gated solution, dropped.
```

## After the exercises

Closing prose.
"""
)


def _make_repo(tmp_path: Path, url: str = "https://github.com/org/repo") -> Path:
    (tmp_path / "_config.yml").write_text(
        f"title: t\nrepository:\n  url: {url}\n  branch: main\n", encoding="utf-8"
    )
    (tmp_path / "book" / "part").mkdir(parents=True)
    (tmp_path / "book" / "part" / "chapter.md").write_text(SYNTHETIC, encoding="utf-8")
    (tmp_path / "book" / "preface.md").write_text("# Preface\n\nNo notebook.\n", encoding="utf-8")
    return tmp_path


def test_student_transformation_on_a_synthetic_chapter(tmp_path: Path):
    repo = _make_repo(tmp_path)
    md = repo / "book" / "part" / "chapter.md"
    nb = notebooks.student_notebook(md)
    nbformat.validate(nb)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c.source for c in nb.cells if c.cell_type == "code"]

    for gone in ("solution prose", "solution math", "non-gated solution", "secret_answer"):
        assert gone not in markdown + "\n".join(code), gone
    for gone in ("{solution", "{exercise", ":label: ex-", ":class:", "hidden_value = 42"):
        assert gone not in markdown + "\n".join(code), gone
    for kept in (
        "# A synthetic chapter",
        "{prf:theorem} Kept",
        "Closing prose",
        "Write `halve(x)`",
    ):
        assert kept in markdown, kept
    assert "**Exercise (ex-halve): Halve it**" in markdown
    assert "**Exercise (ex-plain)**" in markdown and "A non-gated exercise." in markdown
    assert code[0] == "import math"
    assert code[1] == 'print("exercise cell stays")'
    assert code[2].split("\n") == [
        "def halve(x):",
        "    if x:",
        "        ...  # YOUR CODE HERE",
        "    return 0",
        "",
        "",
        "check.halve(halve)",
    ]
    # A top-level region that assigns a name keeps the name, so the check still finds it.
    assert code[3] == "hidden_value = ...  # YOUR CODE HERE\ncheck.value(hidden_value)"
    assert len(code) == 4
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if "outputs" in c)


@pytest.mark.parametrize(
    "broken",
    [
        "```{code-cell} ipython3\n# BEGIN SOLUTION\nx = 1\n```\n",  # no END
        "```{code-cell} ipython3\nx = 1\n# END SOLUTION\n```\n",  # no BEGIN
        "```{solution-start} ex\n```\ntext\n",  # no solution-end
        "```{solution-end}\n```\n",  # no solution-start
    ],
)
def test_student_transformation_rejects_broken_markup(broken: str):
    with pytest.raises(notebooks.NotebookError):
        notebooks.student_text(HEADER + "\n" + broken)


def test_sync_and_check_on_a_synthetic_repository(tmp_path: Path):
    repo = _make_repo(tmp_path)
    md = repo / "book" / "part" / "chapter.md"
    twin = notebooks.twin_path(md)
    assert notebooks.chapters(repo) == [md]  # the preface has no jupytext header
    problems = notebooks.check_all(repo)
    assert any("bootstrap" in p for p in problems) and any("no .ipynb twin" in p for p in problems)

    changed = notebooks.sync(repo)
    assert set(changed) == {md, twin}
    assert notebooks.check_all(repo) == []
    md_text, twin_text = md.read_text(encoding="utf-8"), twin.read_text(encoding="utf-8")
    assert notebooks.sync(repo) == []  # idempotent ...
    assert md.read_text(encoding="utf-8") == md_text  # ... and byte-stable
    assert twin.read_text(encoding="utf-8") == twin_text

    nb = nbformat.read(twin, as_version=4)
    nbformat.validate(nb)
    source = notebooks.bootstrap_cell_source("https://github.com/org/repo", "main")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == source and code[0].metadata["tags"] == ["remove-cell"]
    assert code[1].source == "import math"  # inserted before the first code cell ...
    assert nb.cells[0].source.startswith("# A synthetic chapter")  # ... after the title
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["colab"]["provenance"] == []
    assert "jupytext" not in nb.metadata
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert len({c.id for c in nb.cells}) == len(nb.cells)

    # A twin with outputs, or out of sync with its source, is reported.
    code[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    code[1].execution_count = 3
    nbformat.write(nb, twin)
    problems = notebooks.check_all(repo)
    assert any("has outputs" in p for p in problems)
    assert any("execution counts" in p for p in problems)
    md.write_text(md_text.replace("Closing prose.", "Edited prose."), encoding="utf-8")
    assert any("out of sync" in p for p in notebooks.check_all(repo))
    assert notebooks.main(["--root", str(repo), "check"]) == 1
    assert notebooks.main(["--root", str(repo), "sync"]) == 0
    assert notebooks.main(["--root", str(repo), "check"]) == 0

    # A new repository URL replaces the bootstrap cell (and check notices before sync).
    (repo / "_config.yml").write_text(
        "repository:\n  url: https://github.com/other/place\n  branch: dev\n", encoding="utf-8"
    )
    assert any("bootstrap cell differs" in p for p in notebooks.check_all(repo))
    notebooks.sync(repo)
    assert notebooks.check_all(repo) == []
    text = md.read_text(encoding="utf-8")
    assert text.count("# Colab set-up") == 1
    assert "git+https://github.com/other/place@dev" in text

    # A stray twin without its chapter is reported.
    (repo / "book" / "stray.ipynb").write_text(twin_text, encoding="utf-8")
    assert any("stray.ipynb: no chapter" in p for p in notebooks.check_all(repo))
