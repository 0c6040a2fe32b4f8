"""Shared fixtures: the repository root, and the book built once per test session.

``built_book`` builds the whole book in the ``smoke`` profile (every chapter executed) into a
temporary directory with ``tools/build_book.py . -W -n --keep-going`` (``jupyter-book build`` with
two chapters executed side by side, as ``make book`` runs it) and fails when the build fails
or its log has a WARNING or ERROR line. Set ``IMPLICIT_EDU_BUILT_BOOK`` to the ``html`` folder of an
earlier build to test that one instead (handy while working on the HTML tests).

Every test session, and the book that ``built_book`` builds, uses a fresh, empty cache folder
(``IMPLICIT_EDU_CACHE``, :mod:`implicit_edu.runtime.cache`): the tests train what they test and
are never served models from an earlier session. Set ``IMPLICIT_EDU_TEST_CACHE=keep`` (any
non-empty value) to keep the cache of the environment instead: faster on a second local run,
since entries are keyed on the code that made them, but the training code then goes untested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # on sys.path: pyproject.toml's pytest `pythonpath`

# the build's own limit, below the book tests' timeout (2400 s), so that its message comes first
BUILD_TIMEOUT_S = int(os.environ.get("IMPLICIT_EDU_BUILD_TIMEOUT", "1800"))
_PROBLEM_LINE = re.compile(r"\b(WARNING|ERROR)\b")
# Log lines with WARNING that are not about the book: ipykernel >= 7 warns on every kernel start
# that the (local, loopback) kernel connection is not encrypted.
_BENIGN_LINES = (
    re.compile(r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption"),
)


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


def book_build_command() -> list[str]:
    """How ``make book`` builds: ``tools/build_book.py`` with two reading processes."""
    return [sys.executable, str(ROOT / "tools" / "build_book.py"), "--jobs", "2"]


def _tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(autouse=True, scope="session")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory):
    """``IMPLICIT_EDU_CACHE`` set to a new empty folder for the whole session (its value is
    yielded), unless ``IMPLICIT_EDU_TEST_CACHE`` is set (then the environment's is left alone)."""
    if os.environ.get("IMPLICIT_EDU_TEST_CACHE", "").strip():
        yield os.environ.get("IMPLICIT_EDU_CACHE")
        return
    folder = str(tmp_path_factory.mktemp("cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMPLICIT_EDU_CACHE", folder)
        yield folder


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory, fresh_cache) -> Path:
    """The ``html`` folder of the book, built once per session in the ``smoke`` profile (with the
    session's cache folder, :func:`fresh_cache`)."""
    prebuilt = os.environ.get("IMPLICIT_EDU_BUILT_BOOK")
    if prebuilt:
        html = Path(prebuilt)
        if not (html / "index.html").exists():
            pytest.fail(f"IMPLICIT_EDU_BUILT_BOOK={prebuilt} is not a built book's html folder")
        return html

    output = tmp_path_factory.mktemp("book")
    env = dict(os.environ, IMPLICIT_EDU_PROFILE="smoke")
    if fresh_cache is not None:  # the chapters train what the tests then check
        env["IMPLICIT_EDU_CACHE"] = fresh_cache
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [
        *book_build_command(),
        str(ROOT),
        "--path-output",
        str(output),
        "-W",
        "-n",
        "--keep-going",
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        log = error.stdout if isinstance(error.stdout, str) else (error.stdout or b"").decode()
        pytest.fail(f"the book build took longer than {BUILD_TIMEOUT_S} s:\n{_tail(log)}")
    log = result.stdout
    (output / "build.log").write_text(log, encoding="utf-8")
    elapsed = time.monotonic() - started
    problems = [
        line
        for line in log.splitlines()
        if _PROBLEM_LINE.search(line) and not any(b.search(line) for b in _BENIGN_LINES)
    ]
    if result.returncode != 0 or problems:
        listed = "\n".join(problems[:40])
        pytest.fail(
            f"`{' '.join(command)}` exited with {result.returncode} after {elapsed:.0f} s; "
            f"{len(problems)} WARNING/ERROR line(s):\n{listed}\n\n"
            f"last lines of the log ({output / 'build.log'}):\n{_tail(log)}",
            pytrace=False,
        )
    html = output / "_build" / "html"
    if not (html / "index.html").exists():
        pytest.fail(f"the build succeeded but wrote no {html / 'index.html'}:\n{_tail(log)}")
    return html


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny tensor operations run fastest on one thread; timings stay stable on 2 shared cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
