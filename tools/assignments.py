"""Every chapter's exercises as an otter-grader assignment: ``make assignments``.

The chapters stay the one source. For each chapter with exercises this script writes an *otter
master notebook* generated from the chapter's MyST text, then runs ``otter assign`` on it, which
lays out ``_build/assignments/<stem>/``::

    student/<stem>.ipynb        the notebook students open (Colab install cell, no solutions)
    autograder/<stem>.ipynb     the reference solutions
    autograder/<stem>-autograder_<time>.zip   what ``otter run -a`` and Gradescope grade with

How a chapter becomes a master (otter's notebook format, version 1):

* an ``ASSIGNMENT CONFIG`` raw cell first (exception-based tests, no otter cells in the student
  notebook, requirements for Gradescope that install ``implicit_edu`` from the repository);
* every gated exercise (``exercise-start`` ... ``solution-end``) becomes one question named after
  its label, worth ``POINTS_PER_EXERCISE`` points: the exercise's text is the prompt; the
  solution's prose and code cells form otter's solution block. In the code, each
  ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region is removed from the student copy exactly as
  ``make student`` does it: a top-level region that assigns names leaves ``name = ...`` behind
  (an otter *prompt* block), any other region leaves ``...`` at its indentation. The check calls
  after the region stay, so a student runs the book's check and reads its hint;
* each question has two tests. The public one runs the chapter's ``check.…`` calls on the
  student's names. The hidden one runs the same calls with the check module freshly reloaded
  from ``implicit_edu``, so that nothing a notebook does to ``check`` changes the grade;
* chapters whose exercises need trained models (``SMOKE_CHAPTERS``) run in the ``smoke``
  profile: a cell after the install cell selects it, and a note says so.

Usage: ``python tools/assignments.py [--out DIR] [--masters-only] [STEM ...]``.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import notebooks  # noqa: E402
from tools.notebooks import (  # noqa: E402
    SOLUTION_BEGIN,
    YOUR_CODE_HERE,
    NotebookError,
)

ROOT = notebooks.ROOT
DEFAULT_OUT = "_build/assignments"
POINTS_PER_EXERCISE = 2  # one for the public test, one for the hidden test

#: Chapters whose exercises use trained models: as assignments they run in the ``smoke`` profile,
#: so that a student notebook runs top to bottom in minutes on a CPU.
SMOKE_CHAPTERS = frozenset(
    {"regularity", "deblurring", "navier-stokes", "linear-programs", "looped-models"}
)

_PROFILE_NOTE = (
    "*As an assignment, this chapter runs in the `smoke` profile (the next cell selects it): its "
    "models are trained for seconds, so the numbers differ from the book's, but every exercise "
    "and its check are the same.*"
)
_PROFILE_CELL = (
    "import os\n\n"
    'os.environ.setdefault("IMPLICIT_EDU_PROFILE", "smoke")  # the assignment runs in minutes'
)

_PUBLIC_TEST = '''\
def test_book_check(env):
    """The chapter's own check on the student's answer."""
    exec({calls!r}, dict(env))
'''
_HIDDEN_TEST = '''\
# HIDDEN
def test_fresh_check(env):
    """The same check, from a fresh copy of {module}."""
    import importlib

    fresh = importlib.reload(importlib.import_module({module!r}))
    exec({calls!r}, {{**env, "check": fresh}})
'''


# ---------------------------------------------------------------------------------------------
# From a chapter's code to otter's


def check_calls(code: str) -> list[str]:
    """Source of every top-level statement of ``code`` that calls ``check.<something>``."""
    tree = ast.parse(code)
    calls = []
    for statement in tree.body:
        uses_check = any(
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "check"
            for node in ast.walk(statement)
        )
        if uses_check and not isinstance(statement, ast.Import | ast.ImportFrom):
            calls.append(ast.get_source_segment(code, statement))
    return calls


def otter_solution_code(code: str) -> str:
    """``code`` with each solution region in the form ``otter assign`` strips (module docstring)."""
    return notebooks.rewrite_solution_regions(code, _otter_region)


def _otter_region(region: list[str], indent: str) -> list[str]:
    names = notebooks.assigned_names(region, indent)
    if names:  # the student keeps `name = ...` so that the check finds the name
        prompt = ['""" # BEGIN PROMPT', *(f"{name} = {YOUR_CODE_HERE}" for name in names)]
        return [
            *prompt,
            '""" # END PROMPT',
            "# BEGIN SOLUTION NO PROMPT",
            *region,
            "# END SOLUTION",
        ]
    return [f"{indent}# BEGIN SOLUTION", *region, f"{indent}# END SOLUTION"]


# ---------------------------------------------------------------------------------------------
# The master notebook


def _raw(text: str) -> list[str]:
    return ["```{raw-cell}", text.rstrip("\n"), "```", ""]


def _code(text: str) -> list[str]:
    return ["```{code-cell} ipython3", text.rstrip("\n"), "```", ""]


def _config(stem: str) -> str:
    config = {
        "name": stem,
        "requirements": "requirements.txt",
        "init_cell": False,
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": False,  # tests/test_assignments.py grades the solutions with `otter run`
        "tests": {"ok_format": False, "files": False},
        "generate": True,
    }
    return "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)


def check_module(text: str) -> str:
    """The ``implicit_edu.exercises`` module a chapter imports as ``check``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("from implicit_edu.exercises import") and " as check" in stripped:
            name = stripped.split(" import ", 1)[1].split(" as ")[0].strip()
            return f"implicit_edu.exercises.{name}"
    raise NotebookError("the chapter never imports its checks as `check`")


def master_text(text: str, stem: str) -> str:
    """The MyST text of the otter master notebook of a chapter (see the module docstring)."""
    lines = text.splitlines()
    body_start = notebooks._front_matter_end(lines)
    out = lines[:body_start] + [""] + _raw(_config(stem))
    module = check_module(text) if "exercise-start" in text else ""
    state = "text"  # text | exercise | solution
    calls: list[str] = []
    bootstrap_done = stem not in SMOKE_CHAPTERS
    index = body_start
    while index < len(lines):
        line = lines[index]
        match = notebooks._opening(line) if not line.startswith(" ") else None
        if not match:
            out.append(line)
            index += 1
            continue
        name, fence = match["name"], match["fence"]
        end = notebooks._block_end(lines, index, fence, literal=name is None)
        body = notebooks._body_start(lines, index) if name else index + 1
        block = lines[index : end + 1]
        if name == "code-cell":
            code = "\n".join(lines[body:end])
            has_solution = any(SOLUTION_BEGIN.match(c) for c in code.split("\n"))
            if has_solution and state != "solution":
                raise NotebookError(f"line {index + 1}: a solution region outside a solution")
            if state == "solution":
                calls += check_calls(code)
                block = lines[index:body] + otter_solution_code(code).split("\n") + [lines[end]]
            out += block
            if not bootstrap_done and notebooks._is_bootstrap(code):
                out += ["", _PROFILE_NOTE, ""] + _code(_PROFILE_CELL)
                bootstrap_done = True
        elif name == "exercise-start":
            if state != "text":
                raise NotebookError(f"line {index + 1}: exercise-start inside an exercise")
            options = notebooks._directive_options(lines[index + 1 : body])
            label = options.get("label")
            if not label:
                raise NotebookError(f"line {index + 1}: an exercise without a :label:")
            question = {"name": label, "points": POINTS_PER_EXERCISE, "check_cell": False}
            out += _raw("# BEGIN QUESTION\n" + yaml.safe_dump(question, sort_keys=False))
            out += [notebooks._exercise_heading(match["arg"], options), ""]
            state = "exercise"
        elif name == "exercise-end":
            state = "awaiting solution"
        elif name == "solution-start":
            if state != "awaiting solution":
                raise NotebookError(f"line {index + 1}: a solution without its exercise")
            out += [""] + _raw("# BEGIN SOLUTION")
            state, calls = "solution", []
        elif name == "solution-end":
            if state != "solution":
                raise NotebookError(f"line {index + 1}: solution-end without solution-start")
            if not calls:
                raise NotebookError(f"line {index + 1}: a solution that calls no check")
            source = "\n".join(calls)
            out += [""] + _raw("# END SOLUTION") + _raw("# BEGIN TESTS")
            out += _code(_PUBLIC_TEST.format(calls=source))
            out += _code(_HIDDEN_TEST.format(calls=source, module=module))
            out += _raw("# END TESTS") + _raw("# END QUESTION")
            state = "text"
        elif name == "exercise":
            raise NotebookError(f"line {index + 1}: an ungated exercise cannot be graded")
        else:
            out += block
        index = end + 1
    if state != "text":
        raise NotebookError("the last exercise has no solution-end")
    return "\n".join(out) + "\n"


def master_notebook(md_path: Path) -> nbformat.NotebookNode:
    """The otter master notebook of the chapter ``md_path``."""
    text = Path(md_path).read_text(encoding="utf-8")
    nb = jupytext.reads(master_text(text, Path(md_path).stem), fmt="md:myst")
    return notebooks.clean_notebook(nb)


def exercise_chapters(root: Path = ROOT) -> list[Path]:
    """The chapters that have gated exercises, in the order of the book."""
    return [md for md in notebooks.chapters(root) if "exercise-start" in md.read_text("utf-8")]


# ---------------------------------------------------------------------------------------------
# otter assign


def requirements(root: Path = ROOT) -> str:
    """What Gradescope's image installs: the package, from the repository of ``_config.yml``."""
    url, branch = notebooks.repository(root)
    return f"implicit-edu @ git+{url}@{branch}\n"


def otter_command() -> list[str]:
    beside = Path(sys.executable).parent / "otter"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("otter")
    if not found:
        raise SystemExit(
            "otter-grader is not installed: run `make setup` (or pip install 'otter-grader>=7,<8')"
        )
    return [found]


def assign(md_path: Path, out: Path, root: Path = ROOT, masters_only: bool = False) -> Path:
    """Write the master of one chapter and (unless ``masters_only``) run ``otter assign``."""
    stem = Path(md_path).stem
    out = Path(out).resolve()  # otter assign runs in the master's folder
    master_dir = out / "masters" / stem
    master_dir.mkdir(parents=True, exist_ok=True)
    master = master_dir / f"{stem}.ipynb"
    master.write_text(notebooks.notebook_bytes(master_notebook(md_path)), encoding="utf-8")
    (master_dir / "requirements.txt").write_text(requirements(root), encoding="utf-8")
    if masters_only:
        return master
    target = out / stem
    if target.exists():
        shutil.rmtree(target)
    result = subprocess.run(
        [*otter_command(), "assign", "-v", str(master), str(target)],
        cwd=master_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"otter assign failed for {stem}:\n{result.stdout}\n{result.stderr}")
    return target


def autograder_zip(assignment: Path) -> Path:
    """The autograder zip that ``otter assign`` wrote for an assignment folder."""
    zips = sorted((Path(assignment) / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise FileNotFoundError(f"expected one autograder zip in {assignment}, found {zips}")
    return zips[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stems", nargs="*", help="chapters by file stem (default: all)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    parser.add_argument("--masters-only", action="store_true", help="skip `otter assign`")
    args = parser.parse_args(argv)
    available = {md.stem: md for md in exercise_chapters()}
    unknown = [stem for stem in args.stems if stem not in available]
    if unknown:
        parser.error(f"no chapter with exercises named {unknown}; choose from {sorted(available)}")
    for stem in args.stems or list(available):
        written = assign(available[stem], Path(args.out), masters_only=args.masters_only)
        print(f"{stem}: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
