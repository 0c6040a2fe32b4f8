"""Fast checks of the repository's consistency (no book build): dependencies, notebooks, table of
contents, citations, the README's commands, and the student copies of the chapters."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from tools import notebooks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = notebooks.chapters(ROOT)
CHAPTER_IDS = [p.relative_to(ROOT).as_posix() for p in CHAPTERS]

# conda names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
IGNORED_CONDA = {"python", "pip"}


# ---------------------------------------------------------------------------------------------
# dependencies: pyproject.toml and environment.yml agree


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


def _conda_requirement(line: str) -> tuple[str, SpecifierSet]:
    """Name and specifier of a conda (``numpy>=1.24``, ``numpy 1.24.*``) or pip requirement."""
    try:
        requirement = Requirement(line)
        return _normalise(requirement.name), requirement.specifier
    except InvalidRequirement:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", line)
        assert match, f"environment.yml: cannot read the requirement {line!r}"
        spec = match[2].replace(" ", "")
        if spec and spec[0].isdigit():
            spec = "==" + spec
        return _normalise(match[1]), SpecifierSet(spec)


def _environment_requirements() -> dict[str, SpecifierSet]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    lines: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            lines += [str(line) for line in entry.get("pip", [])]
        else:
            lines.append(str(entry))
    requirements = {}
    for line in lines:
        if line.strip().startswith("-e") or line.strip() in (".", "-e ."):
            continue
        name, specifier = _conda_requirement(line)
        name = CONDA_TO_PYPI.get(name, name)
        if name not in IGNORED_CONDA:
            requirements[name] = specifier
    return requirements


def test_environment_yml_has_the_pyproject_dependencies():
    pyproject = _pyproject_requirements()
    environment = _environment_requirements()
    assert sorted(set(pyproject) - set(environment)) == [], (
        "in pyproject.toml (core, book, dev) but not in environment.yml"
    )
    assert sorted(set(environment) - set(pyproject)) == [], (
        "in environment.yml but not in pyproject.toml (core, book, dev)"
    )
    disagree = {
        name: (str(pyproject[name]), str(environment[name]))
        for name in pyproject
        if str(pyproject[name]) and str(environment[name]) and pyproject[name] != environment[name]
    }
    assert disagree == {}, "version ranges differ (pyproject.toml, environment.yml)"


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
