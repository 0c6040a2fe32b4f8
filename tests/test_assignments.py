"""tools/assignments.py: the chapters' exercises as otter-grader assignments.

The fast tests build every chapter's otter master notebook and check its questions, tests and
solution blocks. The slow ones run ``otter assign`` on two small chapters, grade the reference
solutions and an untouched student notebook with ``otter run`` (no Docker), and read the student
notebook for leftover solutions. The slowest executes every chapter's student copy (``smoke``
profile, after the book build so that the trained models come from its cache) and requires every
check to fail with its own hint: a student who has written nothing yet must read what to do, not a
``NameError``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbclient
import nbformat
import pytest

from tools import assignments, cell_slice, notebooks

GRADED_CHAPTERS = ("implicit-models", "lipschitz-and-contractions")


def _cells(nb, kind):
    return [cell.source for cell in nb.cells if cell.cell_type == kind]


@pytest.mark.parametrize("md", assignments.exercise_chapters(), ids=lambda md: md.stem)
def test_every_exercise_is_one_question_with_a_public_and_a_hidden_test(md):
    text = md.read_text(encoding="utf-8")
    labels = re.findall(r"```\{exercise-start\}[^\n]*\n:label: (\S+)", text)
    assert labels, f"{md.stem} has exercises but no labels were found"
    nb = assignments.master_notebook(md)
    raw = _cells(nb, "raw")
    assert raw[0].startswith("# ASSIGNMENT CONFIG")
    questions = [cell for cell in raw if cell.startswith("# BEGIN QUESTION")]
    assert [re.search(r"name: (\S+)", q)[1] for q in questions] == labels
    code = _cells(nb, "code")
    public = [c for c in code if c.startswith("def test_book_check(env):")]
    hidden = [c for c in code if c.startswith("# HIDDEN\ndef test_fresh_check(env):")]
    assert len(public) == len(hidden) == len(labels)
    for test in public + hidden:
        assert "check.check_" in test, test
    module = assignments.check_module(text)
    assert all(repr(module) in test for test in hidden)
    # every solution region is stripped by otter's own markers, nowhere else
    for cell in code:
        for line in cell.splitlines():
            if "BEGIN SOLUTION" in line:
                assert line.strip() in ("# BEGIN SOLUTION", "# BEGIN SOLUTION NO PROMPT"), line


def test_smoke_chapters_select_the_smoke_profile_right_after_the_install_cell():
    md = next(m for m in assignments.exercise_chapters() if m.stem == "deblurring")
    code = _cells(assignments.master_notebook(md), "code")
    assert notebooks.BOOTSTRAP_MARKER in code[0]
    assert 'os.environ.setdefault("IMPLICIT_EDU_PROFILE", "smoke")' in code[1]
    small = next(m for m in assignments.exercise_chapters() if m.stem == "one-over-x")
    assert not any(
        "IMPLICIT_EDU_PROFILE" in c for c in _cells(assignments.master_notebook(small), "code")
    )


def test_a_top_level_answer_keeps_its_names_for_the_student():
    code = "# BEGIN SOLUTION\nrate = 0.5\nsteps = 10\n# END SOLUTION\ncheck.check_rate(rate, steps)"
    otter = assignments.otter_solution_code(code)
    assert otter.splitlines()[:4] == [
        '""" # BEGIN PROMPT',
        "rate = ...  # YOUR CODE HERE",
        "steps = ...  # YOUR CODE HERE",
        '""" # END PROMPT',
    ]
    assert "# BEGIN SOLUTION NO PROMPT" in otter and otter.endswith("check.check_rate(rate, steps)")


def test_a_function_body_becomes_an_ellipsis_at_its_indentation():
    code = (
        "def f(x):\n    ## BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n\ncheck.check_f(f)"
    )
    otter = assignments.otter_solution_code(code)
    assert otter.splitlines()[1:4] == [
        "    # BEGIN SOLUTION",
        "    return 2 * x",
        "    # END SOLUTION",
    ]


def test_check_calls_are_the_top_level_statements_that_use_check():
    code = "x = 1\ncheck.check_a(x)\nfor k in (1, 2):\n    check.check_b(k)\nprint(x)"
    assert assignments.check_calls(code) == [
        "check.check_a(x)",
        "for k in (1, 2):\n    check.check_b(k)",
    ]


def test_a_solution_region_outside_a_solution_is_refused():
    text = "# T\n\n```{code-cell} ipython3\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n```\n"
    with pytest.raises(notebooks.NotebookError, match="outside a solution"):
        assignments.master_text(text, "t")


# ---------------------------------------------------------------------------------------------
# otter assign and otter run on two small chapters


def _otter_run(zip_path: Path, notebook: Path, out: Path) -> dict:
    out.mkdir(parents=True)
    env = dict(os.environ, IMPLICIT_EDU_PROFILE="smoke")
    otter = Path(sys.executable).parent / "otter"
    result = subprocess.run(
        [str(otter), "run", "-a", str(zip_path), "-o", str(out), str(notebook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((out / "results.json").read_text())
    graded = [t for t in results["tests"] if "max_score" in t]
    return {
        "score": sum(t["score"] for t in graded),
        "max": sum(t["max_score"] for t in graded),
        "tests": results["tests"],
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    chapters = {md.stem: md for md in assignments.exercise_chapters()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        folders = dict(
            zip(
                GRADED_CHAPTERS,
                pool.map(lambda stem: assignments.assign(chapters[stem], out), GRADED_CHAPTERS),
                strict=True,
            )
        )
        runs = {}
        for stem, folder in folders.items():
            zip_path = assignments.autograder_zip(folder)
            for role, notebook in (
                ("solutions", folder / "autograder" / f"{stem}.ipynb"),
                ("student", folder / "student" / f"{stem}.ipynb"),
            ):
                runs[stem, role] = pool.submit(
                    _otter_run, zip_path, notebook, out / "runs" / stem / role
                )
        return folders, {key: future.result() for key, future in runs.items()}


@pytest.mark.parametrize("stem", GRADED_CHAPTERS)
def test_the_layout_is_otters(graded, stem):
    folders, _ = graded
    folder = folders[stem]
    assert (folder / "student" / f"{stem}.ipynb").is_file()
    assert (folder / "autograder" / f"{stem}.ipynb").is_file()
    assert assignments.autograder_zip(folder).name.startswith(f"{stem}-autograder")


@pytest.mark.parametrize("stem", GRADED_CHAPTERS)
def test_the_reference_solutions_get_full_marks(graded, stem):
    _, runs = graded
    result = runs[stem, "solutions"]
    assert result["max"] > 0 and result["score"] == result["max"], result["tests"]


@pytest.mark.parametrize("stem", GRADED_CHAPTERS)
def test_an_untouched_student_notebook_gets_less_than_half(graded, stem):
    _, runs = graded
    result = runs[stem, "student"]
    assert result["score"] < result["max"] / 2, result["tests"]
    outputs = "\n".join(t["output"] for t in result["tests"])
    assert "NameError" not in outputs, "a check failed before it could give its hint"


@pytest.mark.parametrize("stem", GRADED_CHAPTERS)
def test_the_student_notebook_holds_no_solution(graded, stem, root):
    folders, _ = graded
    student = nbformat.read(folders[stem] / "student" / f"{stem}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN PROMPT", "BEGIN QUESTION", "HIDDEN"):
        assert marker not in text
    first_code = next(cell for cell in student.cells if cell.cell_type == "code")
    assert notebooks.BOOTSTRAP_MARKER in first_code.source  # it opens in Colab
    chapter = (root / "book").rglob(f"{stem}.md")
    source = next(chapter).read_text(encoding="utf-8")
    regions = re.findall(r"# BEGIN SOLUTION\n(.*?)\n[ \t]*# END SOLUTION", source, flags=re.S)
    assert regions
    for region in regions:
        for line in region.splitlines():
            if len(line.strip()) > 12:  # skip short lines such as `return y`
                assert line.strip() not in text, (
                    f"solution line left in the student notebook: {line}"
                )


def test_the_instructors_table_lists_every_chapter_with_its_exercises_and_points(root):
    page = (root / "book" / "instructors.md").read_text(encoding="utf-8")
    rows = {
        m["doc"].split("/")[-1]: (int(m["exercises"]), int(m["points"]))
        for m in re.finditer(
            r"^\| \{doc\}`(?P<doc>[\w/-]+)` \| (?P<exercises>\d+) \| (?P<points>\d+) \|", page, re.M
        )
    }
    expected = {}
    for md in assignments.exercise_chapters():
        count = md.read_text(encoding="utf-8").count("```{exercise-start}")
        expected[md.stem] = (count, count * assignments.POINTS_PER_EXERCISE)
    assert rows == expected
    assert f"Points are {assignments.POINTS_PER_EXERCISE} per exercise" in page


@pytest.mark.parametrize("md", assignments.exercise_chapters(), ids=lambda md: md.stem)
def test_the_colab_twin_folds_exactly_the_solution_cells(md):
    twin = nbformat.read(notebooks.twin_path(md), as_version=4)
    text = md.read_text(encoding="utf-8")
    solution_code = re.findall(r"```\{solution-start\}.*?```\{solution-end\}", text, flags=re.S)
    expected = sum(block.count("```{code-cell}") for block in solution_code)
    folded = [
        cell
        for cell in twin.cells
        if cell.cell_type == "code" and cell.metadata.get("jupyter", {}).get("source_hidden")
    ]
    assert len(folded) == expected > 0
    assert all("check." in cell.source for cell in folded)


# ---------------------------------------------------------------------------------------------
# every student copy, executed with nothing filled in

#: The ceiling for running a student copy top to bottom on a CPU (book/instructors.md).
STUDENT_COPY_SECONDS = 300


def _check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "check.check_" in c.source]


def exercise_slice(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The cells of a student copy that its exercise checks need (``tools.cell_slice``)."""
    return cell_slice.backward_slice(nb, lambda source: "check.check_" in source)


def test_the_names_a_cell_reads_and_binds():
    source = (
        "import torch\n"
        "W = 2 * W\n"
        "total = sum(k * scale for k in range(n))\n"
        "def f(x, y=default):\n    z = x + y\n    return z * outer\n"
        "for i in items:\n    acc = acc + i\n"
        "try:\n    pass\nexcept ValueError as reason:\n    print(reason)\n"
        "g = lambda t: t + shift\n"
    )
    reads, binds = cell_slice.reads_and_binds(source)
    assert reads == {"W", "scale", "n", "default", "outer", "items", "acc", "shift"} | {
        "sum",
        "range",
        "ValueError",
        "print",
    }
    assert binds == {"torch", "W", "total", "f", "i", "acc", "reason", "g"}
    assert cell_slice.rebinds(source) == {"torch", "W", "total", "f", "g"}


def test_the_exercise_slice_keeps_what_the_checks_read_and_drops_the_rest():
    sources = [
        "import torch\nfrom m import check",
        "torch.set_default_dtype(torch.float64)",
        "W = torch.eye(2)\nfigure_data = 1",
        "plot(figure_data)\nunused = 3",
        "W = 2 * W",
        "x = 5",
        "for k in range(2):\n    x = k",
        "x = torch.zeros(2)",
        "answer = ...\ncheck.check_answer(answer, W, x)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    kept = [c.source for c in exercise_slice(nb).cells]
    # the figure is dropped, and so are the bindings of x before its last outright rebinding
    assert kept == [sources[i] for i in (0, 1, 2, 4, 7, 8)]


def _execute_student_copy(md: Path) -> tuple[nbformat.NotebookNode, float]:
    nb = exercise_slice(notebooks.student_notebook(md))
    started = time.monotonic()
    client = nbclient.NotebookClient(
        nb,
        timeout=STUDENT_COPY_SECONDS,
        allow_errors=True,  # every check must fail; the copy must still run to its end
        kernel_name="python3",
        resources={"metadata": {"path": str(md.parent)}},
    )
    client.execute()
    return nb, time.monotonic() - started


@pytest.fixture(scope="module")
def executed_student_copies(built_book):
    """Every chapter's student copy, sliced to what its exercises need, executed (``smoke``).

    It waits for ``built_book``, whose ``smoke`` build fills the case studies' cache, so that the
    copies load the trained models instead of training them again.
    """
    previous = os.environ.get("IMPLICIT_EDU_PROFILE")
    os.environ["IMPLICIT_EDU_PROFILE"] = "smoke"  # the kernels inherit it
    try:
        chapters = assignments.exercise_chapters()
        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(
                zip(
                    (md.stem for md in chapters),
                    pool.map(_execute_student_copy, chapters),
                    strict=True,
                )
            )
    finally:
        if previous is None:
            del os.environ["IMPLICIT_EDU_PROFILE"]
        else:
            os.environ["IMPLICIT_EDU_PROFILE"] = previous


@pytest.mark.parametrize("md", notebooks.chapters(), ids=lambda md: md.stem)
def test_every_name_a_student_copy_reads_is_bound_before(md):
    """Statically, for whole student copies: no cell can fail with a ``NameError``."""
    import builtins

    bound = set(dir(builtins)) | {"display", "get_ipython"}
    for cell in notebooks.student_notebook(md).cells:
        if cell.cell_type != "code":
            continue
        reads, binds = cell_slice.reads_and_binds(cell.source)
        missing = reads - bound
        assert not missing, (
            f"{md.stem}: {sorted(missing)} read before any cell binds them:\n{cell.source}"
        )
        bound |= binds


@pytest.mark.book
@pytest.mark.timeout(2400)  # may be the first to wait for built_book (the smoke build)
@pytest.mark.parametrize("md", assignments.exercise_chapters(), ids=lambda md: md.stem)
def test_every_check_in_a_blank_student_copy_fails_with_its_own_hint(executed_student_copies, md):
    nb, _ = executed_student_copies[md.stem]
    checks = _check_cells(nb)
    assert len(checks) == md.read_text(encoding="utf-8").count("```{exercise-start}")
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if cell in checks:
            assert errors, f"a blank answer passed its check:\n{cell.source}"
            name, hint = errors[0].ename, errors[0].evalue
            assert name == "WrongAnswer" and hint.strip(), (
                f"the check failed with {name}: {hint} instead of its hint:\n{cell.source}"
            )
        else:
            assert not errors, (
                f"a cell outside the exercises failed in the student copy: "
                f"{errors[0].ename}: {errors[0].evalue}\n{cell.source}"
            )


@pytest.mark.timeout(2400)  # may be the first to wait for built_book (the smoke build)
def test_every_chapter_runs_within_a_student_copys_time_in_the_smoke_build(built_book):
    """Each chapter, solutions included, fits a student copy's time in the ``smoke`` profile.

    The smoke build starts from the cache it finds (empty in CI). Student copies of the
    ``SMOKE_CHAPTERS`` run in this profile; the others in ``cpu`` (chapter times in the README).
    """
    log = built_book.parent.parent / "build.log"
    if not log.exists():
        pytest.skip("IMPLICIT_EDU_BUILT_BOOK points at a build without its log")
    times = {
        Path(m[1]).stem: float(m[2])
        for m in re.finditer(
            r"^(\S+\.md): Executed notebook in ([\d.]+) seconds", log.read_text(), re.M
        )
    }
    assert set(times) >= {md.stem for md in assignments.exercise_chapters()}
    slow = {stem: t for stem, t in times.items() if t > STUDENT_COPY_SECONDS}
    assert not slow, f"chapters slower than {STUDENT_COPY_SECONDS} s in the smoke profile: {slow}"


@pytest.mark.parametrize("stem", GRADED_CHAPTERS)
def test_otters_student_notebook_has_the_student_copys_exercise_cells(graded, stem):
    """So the execution of the ``make student`` copies above speaks for otter's notebooks too."""
    folders, _ = graded
    otter = nbformat.read(folders[stem] / "student" / f"{stem}.ipynb", as_version=4)
    md = next(m for m in assignments.exercise_chapters() if m.stem == stem)

    def normalised(nb):
        return [c.source.replace("  # YOUR CODE HERE", "").strip() for c in _check_cells(nb)]

    assert normalised(otter) == normalised(notebooks.student_notebook(md))


def test_student_copies_in_the_cpu_profile_were_measured_within_a_student_copys_time():
    """book/instructors.md promises it: the chapters whose assignments run in the ``cpu`` profile
    took less than ``STUDENT_COPY_SECONDS`` each in the measured ``cpu`` build (unlisted chapters
    are the short ones)."""
    from tools import build_book

    for md in assignments.exercise_chapters():
        if md.stem in assignments.SMOKE_CHAPTERS:
            continue
        doc = md.relative_to(assignments.ROOT).with_suffix("").as_posix()
        assert build_book.EXPECTED_SECONDS.get(doc, 0) < STUDENT_COPY_SECONDS, doc
